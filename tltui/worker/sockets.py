"""Where the per-user worker daemon listens: a Unix socket in a directory only its user can read.

Nothing here listens on TCP, ever. A directory or socket that is not the user's own, or that others
can reach, is refused with one line rather than used.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from tltui.core.files import UnsafePath
from tltui.core.paths import data_dir, private_data_dir

SOCKET = "worker.sock"
LOCK = "daemon.lock"
PID = "daemon.pid"
LOG = "worker.log"
MAX_ADDRESS = 107
"""The longest path an AF_UNIX address holds (108 bytes on Linux, its NUL included; 104 on macOS)."""


def socket_dir() -> Path:
    """The daemon's private directory (under the data dir, so each data dir has its own daemon)."""
    return data_dir() / "sock"


def private_dir() -> Path:
    """``socket_dir()``, created 0700 if missing; UnsafePath if it, or the data dir, is not private to
    this user."""
    private_data_dir()
    directory = socket_dir()
    try:
        directory.mkdir(mode=0o700, exist_ok=True)
    except FileExistsError:
        raise UnsafePath(f"refusing the worker directory {directory}: it is not a directory (remove it; "
                         "the worker makes a new one)") from None
    except OSError as error:
        raise UnsafePath(f"cannot make the worker directory {directory}: {error.strerror}") from None
    if not stat.S_ISDIR(directory.lstat().st_mode):
        raise UnsafePath(f"refusing the worker directory {directory}: it is a link, not a directory (remove it)")
    _check(directory, "directory", f"chmod 700 {directory}")
    return directory


@contextlib.contextmanager
def address(path: Path) -> Iterator[str]:
    """``path`` as an address to bind or connect to: itself, or where it is too long for AF_UNIX (a data dir
    of more than about 90 characters), the same file named through ``/proc/self/fd`` of its open folder,
    which the kernel follows; UnsafePath, in one line, where there is no /proc."""
    if len(os.fsencode(path)) <= MAX_ADDRESS:
        yield str(path)
        return
    if not os.path.isdir("/proc/self/fd"):
        raise UnsafePath(f"the worker's socket {path} is longer than the {MAX_ADDRESS} bytes a Unix socket's "
                         "address holds: choose a shorter $TLTUI_DATA_DIR")
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def check_socket(path: Path) -> None:
    """UnsafePath unless ``path`` is a socket owned by this user that only this user can use."""
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise UnsafePath(f"refusing {path}: it is not a socket (remove it)")
    _check(path, "socket", f"remove {path}; the worker makes a new one")


def _check(path: Path, what: str, fix: str) -> None:
    info = path.lstat()
    if info.st_uid != os.getuid():
        raise UnsafePath(f"refusing the worker {what} {path}: it belongs to uid {info.st_uid}, not you ({fix})")
    if info.st_mode & 0o077:
        raise UnsafePath(
            f"refusing the worker {what} {path}: mode {stat.S_IMODE(info.st_mode):o} lets others in ({fix})"
        )
