"""Shared fixtures: every test gets its own data dir (so its own worker daemon, stopped afterwards),
and the UI gets a scripted fake worker unless a test asks for the real one, so nothing touches the
user's files and lesson tests never load torch."""

from __future__ import annotations

import os
import shlex
import signal
import sys
from pathlib import Path

import pytest

FAKE_WORKER = [sys.executable, str(Path(__file__).parent / "fake_worker.py")]


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


@pytest.fixture(autouse=True)
def fake_worker(monkeypatch):
    """The tutor's worker is the scripted fake (tests/fake_worker.py) unless a test overrides it."""
    monkeypatch.setenv("TLTUI_WORKER_CMD", shlex.join(FAKE_WORKER))
    return FAKE_WORKER
