"""The terminal driver in a real pty: an esc comes when its escape delay ends and a quit wakes the input
thread, not after Textual's 100 ms wait. Each app here stretches that wait to a minute, so a driver that
waited for it would fail the test by a minute, not by milliseconds."""

from __future__ import annotations

import os
import sys
import time

import pytest
from textual._time import get_time
from textual._xterm_parser import XTermParser

from tltui.cli.main import ESCAPE_DELAY_MS, build_parser, run_tutor
from tltui.core.errors import BadInput
from tltui.ui import driver
from tltui.ui.driver import KeyDriver, wait_s

from terminal import Terminal

APP = """
import os
del os.pipe2  # as on macOS, which has no pipe2
from textual.app import App
from textual.widgets import Static
from tltui.ui import driver

driver.POLL_S = 60.0

class Keys(App):
    def compose(self):
        yield Static("ready", id="keys")
    def on_key(self, event):
        if event.key == "q":
            self.exit()
        self.query_one("#keys", Static).update(f"key: {event.key}")

Keys(driver_class=driver.KeyDriver).run()
"""


def keys_app() -> Terminal:
    return Terminal([sys.executable, "-c", APP], env={"ESCDELAY": "50"})


def test_a_lone_esc_comes_when_its_delay_ends_and_sequences_still_parse():
    term = keys_app()
    try:
        term.wait_for("ready")
        term.send("\x1b[B")
        term.wait_for("key: down")
        mark = len(term.raw)
        term.send("\x1b")
        term.wait_for("key: escape", timeout=20, since=mark)
        term.send("x")
        term.wait_for("key: x")
        term.send("q")
    finally:
        assert term.close(timeout=20) == 0


def test_quit_wakes_the_input_thread():
    term = keys_app()
    try:
        term.wait_for("ready")
        term.send("q")
    finally:
        assert term.close(timeout=20) == 0, "the app did not exit while its input thread waited"


def test_the_wait_ends_at_the_parsers_escape_deadline():
    parser = XTermParser()
    assert wait_s(parser, now=0.0) == driver.POLL_S
    list(parser.feed("\x1b"))
    deadline = parser._timeout_time
    assert deadline is not None
    assert abs(wait_s(parser, now=deadline - 0.03) - 0.03) < 1e-9
    assert wait_s(parser, now=deadline + 1) == 0.0
    time.sleep(max(0.0, deadline - get_time()) + 0.01)
    assert [key.key for key in parser.tick()] == ["escape"]
    assert wait_s(parser, now=deadline + 1) == driver.POLL_S


def test_the_tutor_uses_the_driver_and_a_50_ms_escape_delay_unless_told(monkeypatch):
    from tltui.ui.app import TutorApp
    from tltui.ui.lessons import load_lessons

    monkeypatch.delenv("TEXTUAL_DRIVER", raising=False)
    assert TutorApp(load_lessons()).get_driver_class() is KeyDriver
    args = build_parser().parse_args([])
    for given, kept in ((None, str(ESCAPE_DELAY_MS)), ("200", "200")):
        if given is None:
            monkeypatch.delenv("ESCDELAY", raising=False)
        else:
            monkeypatch.setenv("ESCDELAY", given)
        with pytest.raises(BadInput, match="needs a terminal"):
            run_tutor(args)  # pytest's standard input is no terminal: it stops there, after the default
        assert os.environ["ESCDELAY"] == kept
