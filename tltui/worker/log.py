"""The daemon's log: its stderr, which the bridge that started it appends to ``worker.log``."""

from __future__ import annotations

import contextlib
import sys


def log(text: str) -> None:
    """A line for the daemon's log; a log that cannot be written (a full disk) is skipped."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)
