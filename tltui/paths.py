"""Where tltui keeps its files: ``$TLTUI_DATA_DIR`` if set, else the platform's user data dir."""

from __future__ import annotations

import os
from pathlib import Path

ENV_DATA_DIR = "TLTUI_DATA_DIR"


def data_dir() -> Path:
    """The per-user data directory (not created here)."""
    override = os.environ.get(ENV_DATA_DIR)
    if override:
        return Path(override).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("tltui", appauthor=False))


def runs_dir() -> Path:
    """The run store: one directory per run."""
    return data_dir() / "runs"


def datasets_dir() -> Path:
    """Where named torchvision datasets are downloaded."""
    return data_dir() / "datasets"
