"""The daemon's socket: the lock that makes the daemon one per data dir, and listening on the socket's path,
again whenever its file goes (a temp-file cleaner may remove it)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

from tltui.core import files
from tltui.core.protocol.codec import MAX_LINE
from tltui.worker.log import log
from tltui.worker.sockets import LOCK, PID, SOCKET, address, private_dir, socket_dir

START_WAIT_S = 180.0
"""How long a daemon that finds another one starting waits for it to answer."""
REBIND_CHECK_S = 0.5
"""How often the daemon checks that its socket is still there (a temp-file cleaner may remove it)."""

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
"""What the daemon does with each connection."""


class Listener:
    """The daemon's socket; bound again, by ``bind``, when ``lost`` says its file has gone (the folder made
    again too, and the lock taken on its new file), so a live daemon is never out of reach."""

    def __init__(self, serve: Serve, lock: BinaryIO) -> None:
        self.serve, self.lock = serve, lock
        self.path = socket_dir() / SOCKET
        self.server: asyncio.AbstractServer | None = None
        self.inode = -1

    def lost(self) -> bool:
        try:
            return self.path.lstat().st_ino != self.inode
        except OSError:
            return True

    async def bind(self) -> None:
        """Listen on the socket's path (a file left there is replaced); a folder that cannot be made again
        now is logged, and tried again at the next check."""
        try:
            directory = private_dir()
            self._relock(directory)
            self.path.unlink(missing_ok=True)
            old_umask = os.umask(0o077)  # the socket is born private
            try:
                with address(self.path) as where:
                    server = await asyncio.start_unix_server(self.serve, path=where, limit=MAX_LINE + 1)
            finally:
                os.umask(old_umask)
            inode = self.path.lstat().st_ino
        except (files.UnsafePath, OSError) as error:
            log(f"cannot listen on {self.path} ({error}); trying again")
            return
        if self.server is not None:
            self.server.close()
            log(f"{self.path} had been removed: listening on it again")
        self.server, self.inode = server, inode
        with contextlib.suppress(OSError):
            files.write_atomic(directory / PID, str(os.getpid()).encode())

    def _relock(self, directory: Path) -> None:
        """Hold the lock on the lock file now in ``directory`` (a new one if the folder was made again)."""
        try:
            if os.fstat(self.lock.fileno()).st_ino == (directory / LOCK).lstat().st_ino:
                return
        except FileNotFoundError:
            pass
        lock = open(os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600), "r+b")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a daemon starting meanwhile took it: it sees this one answer, and exits
            lock.close()
            return
        self.lock.close()
        self.lock = lock

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if not self.lost():
            self.path.unlink(missing_ok=True)
        self.lock.close()


async def lock_or_wait(directory: Path, path: Path) -> BinaryIO | None:
    """The daemon lock (an open file), or None once another daemon, which holds it, answers on ``path``."""
    lock = open(os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600), "r+b")
    deadline = time.monotonic() + START_WAIT_S
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            pass
        if answers(path):
            lock.close()
            return None
        if time.monotonic() > deadline:
            raise SystemExit(f"tltui worker: another daemon holds {directory / LOCK} but has not answered "
                             f"in {START_WAIT_S:.0f} s")
        await asyncio.sleep(0.05)


def answers(path: Path) -> bool:
    """True if a daemon accepts connections on ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            with address(path) as where:
                probe.connect(where)
        except OSError:
            return False
    return True

