"""How tltui touches its files: private directories, and writes that never follow a link or leave half a file.

Every file under the data directory is written by ``write_atomic``: a new name that ``mkstemp`` makes
(``O_EXCL``: never an existing file, never a link) in the file's own directory, then ``os.replace``. The
directories themselves are checked by ``private_dir``: one that another user owns or can write is
refused, so no one else can put a link where tltui writes. Torch-free: the UI, CLI and worker use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""Errors that mean the disk (or a quota, or the file-size limit) has no room for the write."""


class UnsafePath(Exception):
    """A directory tltui cannot use safely, or at all; the message is one line with the fix."""


def private_dir(path: Path, what: str) -> Path:
    """``path``, created 0700 (its missing parents too) if it is not there; UnsafePath unless it is a
    directory this user owns and no one else can write."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.stat()
    except FileExistsError:
        raise UnsafePath(f"the {what} {path} is not a directory (a file or a broken link is in its place: "
                         "remove it)") from None
    except OSError as error:
        raise UnsafePath(f"cannot use the {what} {path}: {error.strerror} (choose another with "
                         "$TLTUI_DATA_DIR)") from None
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafePath(f"the {what} {path} is not a directory (remove it, or set $TLTUI_DATA_DIR)")
    if info.st_uid != os.getuid():
        raise UnsafePath(f"refusing the {what} {path}: it belongs to uid {info.st_uid}, not you "
                         "(set $TLTUI_DATA_DIR to a directory of your own)")
    if info.st_mode & 0o022:
        raise UnsafePath(f"refusing the {what} {path}: mode {stat.S_IMODE(info.st_mode):o} lets others write "
                         f"in it (chmod 700 {path})")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UnsafePath(f"cannot write in the {what} {path} (chmod 700 {path}, or set $TLTUI_DATA_DIR)")
    return path


def check_parents(path: Path, what: str) -> None:
    """UnsafePath if a folder above ``path`` lets another user move ``path`` away (and put their own in its
    place): one owned by a user other than this one or root, or that others can write in without the sticky
    bit. sshd's StrictModes checks the same of ``~/.ssh``."""
    me = os.getuid()
    for parent in Path(os.path.realpath(path)).parents:
        try:
            info = parent.stat()
        except OSError:
            continue
        if info.st_uid not in (0, me):
            raise UnsafePath(f"refusing the {what} {path}: the folder {parent} above it belongs to uid "
                             f"{info.st_uid}, who could move it away (set $TLTUI_DATA_DIR under a folder of your own)")
        if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
            raise UnsafePath(f"refusing the {what} {path}: others can write in the folder {parent} above it, and "
                             f"so move it away (chmod go-w {parent}, or set $TLTUI_DATA_DIR elsewhere)")


def write_atomic(path: Path, data: bytes | Callable[[BinaryIO], object]) -> None:
    """Write ``data`` (bytes, or a function that writes to the file it is given) to ``path``, 0600.

    Readers see the old file or the new one, never a mix. On failure nothing is left behind and the
    OSError names ``path`` (a library that hides the OSError behind its own exception gets it back).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw:
            file = _Watched(raw)
            try:
                # a writer (torch.save) uses write and flush alone, which _Watched has
                data(cast(BinaryIO, file)) if callable(data) else file.write(data)
                file.flush()
                os.fsync(raw.fileno())
            except Exception as error:
                if file.error is None or file.error is error:
                    raise
                raise file.error from error
        os.replace(tmp, path)
    except OSError as error:
        _unlink(tmp)
        error.filename = str(path)
        raise
    except BaseException:
        _unlink(tmp)
        raise


class _Watched:
    """A file that remembers the OSError its writes met (torch.save reports them as RuntimeError)."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self._file.write(data)
        except OSError as error:
            self.error = error
            raise

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as error:
            self.error = error
            raise


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _open_checked(path: Path, limit: int) -> tuple[int, os.stat_result]:
    """A descriptor of ``path`` opened without blocking (a FIFO or a device is refused, not waited on), and
    its stat, if it is a regular file of at most ``limit`` bytes; OSError otherwise."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_size > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def open_regular(path: Path, limit: int) -> BinaryIO:
    """``path`` opened for reading (buffered, a megabyte at a time) if it is a regular file of at most
    ``limit`` bytes; OSError otherwise. Opened without blocking, as ``read_regular``."""
    fd, info = _open_checked(path, limit)
    try:
        return os.fdopen(fd, "rb", buffering=2**20)
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int, before_read: Callable[[int], object] | None = None, tail: int = 0) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes; OSError otherwise.

    Opened without blocking, so a FIFO or a device in its place is refused rather than waited on. The
    buffer is sized by the file's size (``stat``), never by ``limit``: a 3 KB file costs 3 KB.
    ``before_read`` hears that size before any of it is read (a memory budget shared by threads). With
    ``tail``, only the file's last ``tail`` bytes are read.
    """
    fd, info = _open_checked(path, limit)
    try:
        size = info.st_size
        if 0 < tail < size:
            os.lseek(fd, size - tail, os.SEEK_SET)
            size, limit = tail, 2 * tail  # what it grows by meanwhile too
        if before_read is not None:
            before_read(size)
        return _read_sized(fd, size, limit, path)
    finally:
        os.close(fd)


def _read_sized(fd: int, size: int, limit: int, path: Path) -> bytes:
    """Up to ``size`` bytes of ``fd`` (what ``stat`` said), then what it has grown by since, up to ``limit``."""
    chunks, total = [], 0
    want = size
    while True:
        chunk = os.read(fd, want - total if total < want else min(2**20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def full_disk(error: OSError) -> str:
    """One line for an OSError from a write: the device that is full, when that is what it means."""
    where = Path(error.filename) if error.filename else None
    if error.errno in FULL and where is not None:
        if error.errno == errno.EFBIG:
            return f"cannot write {short(where)}: the file is larger than this process may write (ulimit -f)"
        return f"no space left on {mount_of(where)} (writing {short(where)}): free some space there"
    return f"cannot write {short(where) if where else 'a file'}: {error.strerror or error}"


def short(path: Path | str, keep: int = 200) -> str:
    """``path`` for a message: whole, or its start and end around an ellipsis when longer than ``keep``."""
    text = str(path)
    return text if len(text) <= keep else f"{text[:keep // 2]}...{text[-(keep // 2 - 3):]}"


def mount_of(path: Path) -> str:
    """The filesystem holding ``path``, as ``the <type> filesystem at <mount point>``."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    best, kind = "/", ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) < 3:
                continue
            point = fields[1].replace("\\040", " ")
            if (path == Path(point) or Path(point) in path.parents) and len(point) >= len(best):
                best, kind = point, fields[2]
    return f"the {kind} filesystem at {best}" if kind else f"the filesystem holding {path}"
