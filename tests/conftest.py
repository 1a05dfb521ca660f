"""Shared fixtures: every test gets its own data dir, and the UI gets a scripted fake worker unless a
test asks for the real one, so nothing touches the user's files and lesson tests never load torch."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

FAKE_WORKER = [sys.executable, str(Path(__file__).parent / "fake_worker.py")]


@pytest.fixture(autouse=True)
def data_dir(tmp_path_factory, monkeypatch):
    """A fresh TLTUI_DATA_DIR for each test."""
    path = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("TLTUI_DATA_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def fake_worker(monkeypatch):
    """The tutor's worker is the scripted fake (tests/fake_worker.py) unless a test overrides it."""
    monkeypatch.setenv("TLTUI_WORKER_CMD", shlex.join(FAKE_WORKER))
    return FAKE_WORKER
