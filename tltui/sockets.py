"""Where the per-user worker daemon listens: a Unix socket in a directory only its user can read.

Nothing here listens on TCP, ever. A directory or socket that is not the user's own, or that others
can reach, is refused with one line rather than used.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tltui.paths import data_dir

SOCKET = "worker.sock"
LOCK = "daemon.lock"
PID = "daemon.pid"
LOG = "worker.log"


class UnsafeSocket(Exception):
    """The socket or its directory has the wrong owner or permissions; the message is one line."""


def socket_dir() -> Path:
    """The daemon's private directory (under the data dir, so each data dir has its own daemon)."""
    return data_dir() / "sock"


def private_dir() -> Path:
    """``socket_dir()``, created 0700 if missing; UnsafeSocket if it is not private to this user."""
    directory = socket_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check(directory, "directory", f"chmod 700 {directory}")
    return directory


def check_socket(path: Path) -> None:
    """UnsafeSocket unless ``path`` is a socket owned by this user that only this user can use."""
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise UnsafeSocket(f"refusing {path}: it is not a socket (remove it)")
    _check(path, "socket", f"remove {path}; the worker makes a new one")


def _check(path: Path, what: str, fix: str) -> None:
    info = path.lstat()
    if info.st_uid != os.getuid():
        raise UnsafeSocket(f"refusing the worker {what} {path}: it belongs to uid {info.st_uid}, not you ({fix})")
    if info.st_mode & 0o077:
        raise UnsafeSocket(
            f"refusing the worker {what} {path}: mode {stat.S_IMODE(info.st_mode):o} lets others in ({fix})"
        )
