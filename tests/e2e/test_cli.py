"""The command line as a user types it."""

from __future__ import annotations

import os
import subprocess
import sys

from tltui import __version__
from tltui.ui.lessons import load_lessons

from terminal import Terminal

TLTUI = [sys.executable, "-m", "tltui"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*TLTUI, *args], capture_output=True, text=True, timeout=60)


def test_version_and_help():
    assert run("--version").stdout.strip() == f"tltui {__version__}"
    help_text = run("--help")
    assert help_text.returncode == 0
    assert "--lesson N|NAME" in help_text.stdout


def test_unknown_lesson_is_one_line_and_exit_2():
    result = run("--lesson", "no-such-lesson")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tltui: no lesson 'no-such-lesson'")


def test_lesson_flag_opens_that_lesson_in_a_real_terminal(data_dir):
    lessons = load_lessons()
    target = lessons[2]
    term = Terminal([*TLTUI, "--lesson", target.name], env={"TLTUI_DATA_DIR": str(data_dir)})
    try:
        term.wait_for(f"3/{len(lessons)}")
        term.send("n")
        term.wait_for(f"4/{len(lessons)}")
        term.send("q")
    finally:
        assert term.close() == 0
    assert (data_dir / "progress.json").exists()


def test_an_unhandled_exception_exits_1_with_one_line_and_the_traceback_in_a_log(data_dir):
    """A bug behind a key: the learner sees one line naming the log, not a screen of locals."""
    script = (
        "import sys\n"
        "from tltui.ui.screens.lesson import LessonScreen\n"
        "def broken(self):\n"
        "    raise RuntimeError('a bug behind n')\n"
        "LessonScreen.action_next = broken\n"
        "from tltui.cli.main import main\n"
        "sys.exit(main([]))\n"
    )
    term = Terminal([sys.executable, "-c", script], env={"TLTUI_DATA_DIR": str(data_dir)})
    try:
        term.wait_for("Why Transfer")
        term.send("n")
        term.wait_for("internal error")
    finally:
        code = term.close()
    assert code == 1
    log = data_dir / "crash.log"
    said = [line for line in term.text.splitlines() if "internal error" in line]
    assert len(said) == 1 and "RuntimeError: a bug behind n" in said[0] and str(log) in said[0]
    assert "Traceback" not in term.text and "locals" not in term.text
    logged = log.read_text()
    assert "Traceback (most recent call last)" in logged and "in broken" in logged


def test_quitting_while_a_run_trains_says_it_goes_on_and_how_to_follow_it(data_dir, fake_worker):
    env = {"TLTUI_DATA_DIR": str(data_dir), "FAKE_DELAY": "0.5"}
    term = Terminal(TLTUI, env=env)
    try:
        term.wait_for("Why Transfer")
        term.send("T")
        term.wait_for("Start (s)")
        term.send("s")
        term.wait_for("-fake")
        term.send("q")
    finally:
        code = term.close()
    assert code == 0
    said = [line for line in term.text.splitlines() if "goes on in the worker" in line]
    assert len(said) == 1 and "tltui runs follow 20261126-120000-fake" in said[0]


def test_the_focused_form_field_is_marked_without_colour(data_dir, fake_worker):
    """16 colours and NO_COLOR: the focused field still shows, by its ▶ marker."""
    for env in ({"TERM": "xterm", "COLORTERM": ""}, {"NO_COLOR": "1"}):
        term = Terminal(TLTUI, env={"TLTUI_DATA_DIR": str(data_dir), **env})
        try:
            term.wait_for("Why Transfer")
            term.send("T")
            term.wait_for("Start (s)")
            term.send("\t")
            term.wait_for("▶ model")
            term.drain(quiet=0.3)  # until the tab's painting is over: what follows is the escape's
            escaped = len(term.raw)
            term.send("\x1b")
            # the field left, its label drawn unmarked: a q before that could be read with the escape as alt+q
            term.wait_for("      model", since=escaped)
            term.send("q")
        finally:
            assert term.close() == 0


def test_tltui_worker_daemon_hands_its_process_to_the_worker_entry_point(data_dir):
    """The CLI never imports the daemon: ``tltui worker --daemon`` becomes ``python -m tltui.worker`` (the
    same process), whose own check of $TLTUI_WORKER_IDLE_S answers here; and with neither flag, one line."""
    env = {**os.environ, "TLTUI_DATA_DIR": str(data_dir), "TLTUI_WORKER_IDLE_S": "abc"}
    result = subprocess.run([*TLTUI, "worker", "--daemon"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("tltui worker: $TLTUI_WORKER_IDLE_S='abc' is not a number")
    assert result.stderr.count("\n") == 1
    neither = run("worker")
    assert neither.returncode == 2 and "use --stdio" in neither.stderr and neither.stderr.count("\n") == 1
