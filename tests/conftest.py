"""Shared fixtures: every test gets its own data dir, so nothing touches the user's files."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def data_dir(tmp_path_factory, monkeypatch):
    """A fresh TLTUI_DATA_DIR for each test."""
    path = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("TLTUI_DATA_DIR", str(path))
    return path
