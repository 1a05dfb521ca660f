"""A learner's keymap.toml gives a binding other keys: the key works, the old one no longer does, and the
help and the footer show the new one; a line tltui cannot use is told (in the tutor and by ``tltui keys``)
and changes nothing. The classes take their keys when imported, so each case runs a tutor of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = r'''
import asyncio, json
from textual.widgets._footer import FooterKey
from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons
from tltui.ui.screens.help import HelpScreen

async def main():
    app = TutorApp(load_lessons())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        seen = {"notes": [n.message for n in app._notifications]}
        await pilot.press("R")
        await pilot.pause()
        seen["after_R"] = type(app.screen).__name__
        await pilot.press("ctrl+r")
        for _ in range(200):
            if type(app.screen).__name__ == "RunsScreen":
                break
            await pilot.pause(0.05)  # a poll of the condition above (a subprocess: no conftest until)
        seen["after_ctrl_r"] = type(app.screen).__name__
        await pilot.press("L")
        for _ in range(200):
            if type(app.screen).__name__ == "LessonScreen" and app.screen.query(FooterKey):
                break
            await pilot.pause(0.05)  # a poll of the condition above (a subprocess: no conftest until)
        seen["footer"] = [key.key_display for key in app.screen.query(FooterKey)]
        await pilot.press("question_mark")
        for _ in range(200):
            if isinstance(app.screen, HelpScreen):
                break
            await pilot.pause(0.05)  # a poll of the condition above (a subprocess: no conftest until)
        seen["help"] = [row for _, rows in app.screen.sections() for row in rows]
        seen["titles"] = [title for title, _ in app.screen.sections()]
        seen["help_hint"] = str(app.screen.query_one("#help").border_subtitle)
    print(json.dumps(seen))

asyncio.run(main())
'''


def tutor(config: Path, keymap: str) -> dict:
    """What a tutor started with ``keymap`` as its keymap.toml saw (see PROBE)."""
    config.mkdir(exist_ok=True)
    (config / "keymap.toml").write_text(keymap)
    env = {**os.environ, "TLTUI_CONFIG_DIR": str(config)}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_remapped_key_works_and_the_help_and_footer_show_it(tmp_path):
    seen = tutor(tmp_path / "config", '"TutorApp.runs" = "ctrl+r"\n"TutorApp.train" = "f2"\n'
                                      '"Pager.top" = "ctrl+home,g"\n')
    assert seen["notes"] == []
    assert seen["after_R"] == "LessonScreen", "R still opened the runs screen"
    assert seen["after_ctrl_r"] == "RunsScreen"
    assert ["ctrl+r", "the runs screen: every run of the worker"] in seen["help"]
    assert not any(keys.split()[0] == "R" for keys, _ in seen["help"])
    assert "Runs screen (ctrl+r)" in seen["titles"], seen["titles"]
    assert "ctrl+home scroll" not in seen["help_hint"] and " ctrl+home G scroll" in seen["help_hint"], seen["help_hint"]
    assert "^r" in seen["footer"] and "f2" in seen["footer"] and "R" not in seen["footer"], seen["footer"]


def test_a_keymap_line_tltui_cannot_use_is_told_and_the_defaults_stay(tmp_path):
    seen = tutor(tmp_path / "config", '"TutorApp.runs" = "ctrl-r"\n"TutorApp.nope" = "x"\n"TutorApp.train" = "q"\n')
    notes = " ".join(seen["notes"])
    assert "TutorApp.runs = 'ctrl-r' is not a key list" in notes
    assert "no key is called 'TutorApp.nope'" in notes
    assert "q is TutorApp.quit's" in notes
    assert seen["after_R"] == "RunsScreen", "the default R no longer works"


def test_a_keymap_that_is_not_toml_keeps_the_defaults(tmp_path):
    seen = tutor(tmp_path / "config", "runs = [\n")
    assert len(seen["notes"]) == 1 and "not TOML" in seen["notes"][0]
    assert seen["after_R"] == "RunsScreen"


def test_tltui_keys_lists_every_id_and_tells_what_it_cannot_use(tmp_path):
    def keys(text: str | None) -> subprocess.CompletedProcess[str]:
        config = tmp_path / "config"
        config.mkdir(exist_ok=True)
        if text is not None:
            (config / "keymap.toml").write_text(text)
        return subprocess.run([sys.executable, "-m", "tltui", "keys"], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "TLTUI_CONFIG_DIR": str(config)})

    fresh = keys(None)
    assert fresh.returncode == 0 and fresh.stderr == ""
    assert "none yet" in fresh.stdout.splitlines()[0] and str(tmp_path / "config" / "keymap.toml") in fresh.stdout
    assert any(line.split()[:2] == ["TrainScreen.start", "s,ctrl+s"] for line in fresh.stdout.splitlines())
    remapped = keys('"TrainScreen.start" = "ctrl+r"\n"LessonScreen.next" = "p"\n')
    assert remapped.returncode == 1
    assert any(line.split()[:2] == ["TrainScreen.start", "ctrl+r"] for line in remapped.stdout.splitlines())
    assert remapped.stderr.splitlines() == [
        f"tltui: {tmp_path / 'config' / 'keymap.toml'}: LessonScreen.next = 'p': p is LessonScreen.prev's; "
        "its default keys stay"]
    assert "Traceback" not in remapped.stderr


def test_every_key_hint_names_a_binding():
    """A widget's border names its keys as ``{Class.id}`` (keys.hint), so a remap shows there too; a
    misspelt id would raise when the widget is drawn."""
    from tltui.ui.keys import PLACE, ids

    source = "".join(p.read_text() for p in Path(__file__).parents[2].joinpath("tltui", "ui").rglob("*.py"))
    places = set(PLACE.findall(source)) - {"Class.id"}  # (keys.py's docstrings' example)
    assert len(places) > 40, "the widgets' key hints are no longer written with keys.hint"
    assert places <= set(ids()), sorted(places - set(ids()))


def test_the_training_forms_hint_and_start_button_follow_the_keymap(tmp_path):
    """The form's last line names the Start key that works inside a field (not a letter, which the field
    would type) and the Back key, as the keymap sets them; the Start button its first key."""
    probe = ("from tltui.ui.keys import hint; from tltui.ui.widgets.run_form import HINT; "
             "print(HINT); print(hint('Start ({TrainScreen.start})'))")

    def form(keymap: str) -> list[str]:
        config = tmp_path / "config"
        config.mkdir(exist_ok=True)
        (config / "keymap.toml").write_text(keymap)
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "TLTUI_CONFIG_DIR": str(config)})
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.splitlines()

    assert form("") == ["enter: next field · ctrl+s or Start: run it · esc: to the run", "Start (s)"]
    assert form('"TrainScreen.start" = "g,f5"\n"TrainScreen.back" = "ctrl+b"\n') == [
        "enter: next field · f5 or Start: run it · ctrl+b: to the run", "Start (g)"]
    assert form('"TrainScreen.start" = "g"\n')[0] == "enter: next field · Start: run it · esc: to the run"
