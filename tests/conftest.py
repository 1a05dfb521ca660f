"""Shared fixtures: every test gets its own data dir (so its own worker daemon, stopped afterwards),
and the UI gets a scripted fake worker unless a test asks for the real one, so nothing touches the
user's files and lesson tests never load torch."""

from __future__ import annotations

import asyncio
import inspect
import os
import shlex
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import pytest
import pytest_asyncio
from textual.message import Message
from textual.notifications import Notification, Notify

from tltui.core.client import WorkerClient

os.environ["TLTUI_CONFIG_DIR"] = tempfile.mkdtemp(prefix="tltui-config-")
"""No keymap: the classes take their keys when imported, so a keymap of the user running the tests would
change what every key test sees (tests/ui/test_keymap_file.py writes its own, in a tutor of its own)."""

FAKE_WORKER = [sys.executable, str(Path(__file__).parent / "fake_worker.py")]


def drop_checkpoints(data: Path) -> None:
    """Delete the checkpoints the runs under ``data`` wrote (a ResNet-50 run's come to about 470 MB, and a
    whole suite's to gigabytes); their events, configs and the daemon's log stay for a post-mortem."""
    for path in data.glob("runs/*/*.pt*"):
        path.unlink(missing_ok=True)


def stop_daemon(data: Path) -> None:
    """Kill the worker daemon serving ``data``, if one was started."""
    try:
        pid = int((data / "sock" / "daemon.pid").read_text())
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        pass


@pytest.fixture(autouse=True)
def data_dir(tmp_path_factory, monkeypatch):
    """A fresh TLTUI_DATA_DIR for each test; its worker daemon is stopped at the end."""
    path = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("TLTUI_DATA_DIR", str(path))
    monkeypatch.setenv("TLTUI_WORKER_IDLE_S", "20")
    yield path
    stop_daemon(path)
    drop_checkpoints(path)


@pytest.fixture(autouse=True)
def hub_cache(tmp_path_factory, monkeypatch):
    """An empty Hugging Face cache of the test's own, offline: no timm weights unless a test puts them there."""
    path = tmp_path_factory.mktemp("hf")
    monkeypatch.setenv("HF_HUB_CACHE", str(path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return path


@pytest.fixture(autouse=True)
def fake_worker(monkeypatch):
    """The tutor's worker is the scripted fake (tests/fake_worker.py) unless a test overrides it."""
    monkeypatch.setenv("TLTUI_WORKER_CMD", shlex.join(FAKE_WORKER))
    return FAKE_WORKER


@pytest.fixture
def offline(monkeypatch):
    """No name resolves and no connection opens, as on a machine without internet."""

    def refuse(*args, **kwargs):
        raise socket.gaierror("no network here")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


#: Seconds between two looks at a condition: the app runs in between, undisturbed (a look with
#: ``pilot.pause`` makes every widget of the screen answer and forces a screen update: with a lesson of
#: hundreds of widgets mounting, that cost as much as the mounting itself).
POLL = 0.02


def described(condition) -> str:
    """What a condition waits for, for a timeout's message: its source line."""
    try:
        return " ".join(inspect.getsource(condition).split())
    except (OSError, TypeError):
        return repr(condition)


async def until(pilot, condition, timeout: float = 30, what: str = "") -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` seconds, naming ``what`` (or,
    without it, the condition's source). ``pilot``: the test's pilot, or the app itself."""
    deadline = time.monotonic() + timeout
    while not condition():
        if not pilot.app.is_running:
            raise AssertionError(f"the app stopped while waiting for {what or described(condition)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or described(condition)}")
        await asyncio.sleep(POLL)  # the next look at the condition


async def until_over(app, timeout: float = 10, what: str = "the app to quit") -> None:
    """Wait until ``app`` has stopped running (no pilot: its screens are gone); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while app.is_running:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(POLL)  # the next look at the app


async def lesson_mounted(pilot) -> None:
    """Wait until the open lesson has every part mounted, and the app has drawn it."""
    from tltui.ui.lesson.view import LessonView

    await until(pilot, lambda: pilot.app.screen.query(LessonView) and pilot.app.screen.view.complete, 120,
                "the lesson to mount every part")  # (a part per refresh: 30 s and more on a loaded machine)
    await pilot.pause()


async def focus_by_tab(pilot, widget_type):
    """Tab from the open lesson, once it has mounted, until its widget of ``widget_type`` (or one inside it)
    has the keys, as a learner would; that widget."""
    await lesson_mounted(pilot)
    widget = pilot.app.screen.query_one(widget_type)
    for _ in range(8):
        if widget.has_focus_within:
            return widget
        await pilot.press("tab")
    raise AssertionError(f"tab never reached {widget_type.__name__}")


async def footer_shows(pilot, widget) -> None:
    """Wait until the footer shows ``widget``'s own keys: it is built again for the focused widget after
    the refresh that follows the change of focus."""
    from textual.widgets._footer import FooterKey

    from tltui.ui.widgets.footer import KeysFooter

    own = {key for binding in widget.BINDINGS if binding.show for key in binding.key.split(",")}
    assert own, f"{type(widget).__name__} has no key for the footer"
    footer = pilot.app.screen.query_one(KeysFooter)
    await until(pilot, lambda: own & {key.key for key in footer.query(FooterKey)},
                what=f"the footer to show the keys of {type(widget).__name__}")
    await pilot.pause()


def shown_groups(board) -> dict[str, tuple[str, str]]:
    """group -> (params, holds) as the freeze ``board`` draws a timm model's rows (its header first; a group's
    modules wrapped onto indented lines)."""
    from tltui.ui.lesson.freeze_board import HOLDS_AT

    lines = str(board.query_one("#groups").render()).splitlines()
    assert lines[0].split() == ["group", "params", "holds"], lines[0]
    shown: dict[str, tuple[str, str]] = {}
    group = ""
    for line in lines[1:]:
        if line[:HOLDS_AT].strip():
            group, _state, params = line[:HOLDS_AT].strip("▶ ").split()
            shown[group] = (params, line[HOLDS_AT:])
        else:
            shown[group] = (shown[group][0], f"{shown[group][1]} {line[HOLDS_AT:]}")
    return shown


async def workers_done(pilot) -> None:
    """Let the app run until the workers it has started have ended, then until it has drawn. Like
    ``app.workers.wait_for_complete()``, except that a worker cancelled by a newer one of its group
    (a widget asked again) counts as ended rather than raising."""
    await pilot.pause()
    await asyncio.gather(*(worker.wait() for worker in pilot.app.workers), return_exceptions=True)
    await pilot.pause()


class Toasts:
    """A message hook for ``run_test(message_hook=...)`` that keeps every toast the app raises."""

    def __init__(self) -> None:
        self.shown: list[Notification] = []

    def __call__(self, message: Message) -> None:
        if isinstance(message, Notify):
            self.shown.append(message.notification)

    def said(self, text: str) -> bool:
        """Whether a toast said ``text``."""
        return any(text in notification.message for notification in self.shown)

    def errors(self) -> list[str]:
        return [n.message for n in self.shown if n.severity == "error"]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def worker(tmp_path_factory):
    """One real worker (bridge and daemon) for a whole test module, in its own data dir."""
    saved = os.environ.get("TLTUI_DATA_DIR")
    data = tmp_path_factory.mktemp("worker-data")
    os.environ["TLTUI_DATA_DIR"] = str(data)
    client = WorkerClient()
    await client.start()
    yield client
    await client.close(timeout=60)
    stop_daemon(data)
    drop_checkpoints(data)
    if saved is not None:
        os.environ["TLTUI_DATA_DIR"] = saved


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    """A real SSH server on loopback (tests/sshd.py), for ``--remote``."""
    from sshd import SSHServer

    server = SSHServer(tmp_path_factory.mktemp("sshd"))
    yield server
    server.close()


@pytest.fixture
def over_ssh(sshd, monkeypatch):
    """``--remote`` reaches the loopback server: the host to give it."""
    monkeypatch.setenv("TLTUI_SSH_COMMAND", sshd.ssh_command)
    return sshd.host
