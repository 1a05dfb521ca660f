"""Where tltui keeps its files: ``$TLTUI_DATA_DIR`` if set, else the platform's user data dir."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tltui.core.files import UnsafePath, check_parents, private_dir

ENV_DATA_DIR = "TLTUI_DATA_DIR"
ENV_CONFIG_DIR = "TLTUI_CONFIG_DIR"


def data_dir() -> Path:
    """The per-user data directory (not created here); UnsafePath for a ``$TLTUI_DATA_DIR`` of a ``~user``
    who has no home."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        try:
            return Path(override).expanduser()
        except RuntimeError:
            raise UnsafePath(f"${ENV_DATA_DIR}={override[:200]!r}: no such user's home folder") from None
    from platformdirs import user_data_dir

    return Path(user_data_dir("tltui", appauthor=False))


def config_dir() -> Path:
    """The learner's settings (the keymap): ``$TLTUI_CONFIG_DIR`` if set, else the platform's user config
    dir; read only, never created."""
    override = os.environ.get(ENV_CONFIG_DIR)
    if override:
        try:
            return Path(override).expanduser()
        except RuntimeError:  # ~user with no home: no keymap is found there
            return Path(override)
    from platformdirs import user_config_dir

    return Path(user_config_dir("tltui", appauthor=False))


def private_data_dir() -> Path:
    """``data_dir()``, created 0700 if missing; UnsafePath (one line) if another user owns it or can write in
    it, or in a folder above it (files.check_parents)."""
    path = data_dir()
    check_parents(path, "data directory")
    return private_dir(path, "data directory")


def runs_dir() -> Path:
    """The run store: one directory per run."""
    return data_dir() / "runs"


def private_runs_dir() -> Path:
    """``runs_dir()`` checked as ``private_data_dir`` checks the data dir, and readable by its owner only
    (one an older tltui made 0755 is closed to others)."""
    private_data_dir()
    path = private_dir(runs_dir(), "run store")
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o700)
    return path


def datasets_dir() -> Path:
    """Where named torchvision datasets are downloaded."""
    return data_dir() / "datasets"
