"""``tltui worker --stdio``: bridge stdin/stdout to the user's worker daemon, starting it if needed.

The daemon owns the runs, so a run outlives this bridge: the UI quitting, an SSH connection dropping,
a laptop going to sleep only end the bridge. No byte is interpreted here; the protocol is the daemon's.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

from tltui.core import files
from tltui.core.files import UnsafePath
from tltui.core.paths import private_runs_dir
from tltui.worker.sockets import LOCK, LOG, SOCKET, address, check_socket, private_dir

#: How long to wait for a daemon that is starting (it imports torch first).
START_TIMEOUT_S = 180.0


class BridgeError(Exception):
    """The daemon could not be reached or started; the message is one line."""


def connect(directory: Path) -> socket.socket:
    """A connection to the daemon in ``directory``, starting the daemon if none answers.

    A daemon started while another one starts exits 0 once the other answers (tltui/worker/daemon.py), so an
    exit 0 means: try again; any other code is the daemon's failure, told in its log's last line. While a
    daemon holds the lock (it is starting, or it binds its socket again after it was removed), none is
    started: it is waited for.
    """
    path = directory / SOCKET
    started: subprocess.Popen | None = None
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        sock = try_connect(path)
        if sock is not None:
            return sock
        if started is None:
            if not _daemon_lives(directory):
                started = _start_daemon(directory)
        elif started.poll() is not None:
            if started.returncode:
                raise BridgeError(f"the worker daemon exited (code {started.returncode}): {_log_tail(directory)}")
            started = None  # it found another daemon, which has stopped since: start one again
        if time.monotonic() > deadline:
            raise BridgeError(f"the worker daemon did not start within {START_TIMEOUT_S:.0f} s: {_log_tail(directory)}")
        time.sleep(0.1)


def try_connect(path: Path) -> socket.socket | None:
    """A connection to the daemon listening on ``path``, or None if none does (UnsafePath if ``path`` is
    not a private socket)."""
    if not os.path.lexists(path):
        return None
    check_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with address(path) as where:
            sock.connect(where)
    except (ConnectionRefusedError, FileNotFoundError):
        sock.close()
        return None
    return sock


def _daemon_lives(directory: Path) -> bool:
    """True while a daemon holds the lock in ``directory`` (only a daemon takes it)."""
    import fcntl

    try:
        fd = os.open(directory / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _start_daemon(directory: Path) -> subprocess.Popen:
    """The daemon, started with its output appended to ``worker.log``; BridgeError if that is not a file
    this user can append to (a link, a folder, a FIFO, a read-only filesystem)."""
    path = directory / LOG
    try:
        log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                      0o600)
    except OSError as error:
        raise BridgeError(f"cannot write the worker's log {path}: {_why(error)}") from None
    try:
        if not stat.S_ISREG(os.fstat(log).st_mode):
            raise BridgeError(f"refusing the worker's log {path}: it is not a regular file (remove it)")
        os.set_blocking(log, True)
        return subprocess.Popen(
            [sys.executable, "-m", "tltui.worker"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
        )
    except OSError as error:
        raise BridgeError(f"cannot start the worker daemon: {_why(error)}") from None
    finally:
        os.close(log)


def _why(error: OSError) -> str:
    """An OSError's reason in words (a link where a file should be says so)."""
    if error.errno == errno.ELOOP:
        return "it is a symbolic link (remove it)"
    if error.errno == errno.ENXIO:
        return "it is a FIFO with no reader (remove it)"
    return error.strerror or str(error)


def _log_tail(directory: Path) -> str:
    """The log's last line (read from its last 64 KB, never from a FIFO or a link)."""
    try:
        raw = files.read_regular(directory / LOG, 2**40, tail=2**16)
    except OSError:
        return "no log"
    lines = raw.decode(errors="replace").strip().splitlines()
    return lines[-1] if lines else "no log"


def pump(sock: socket.socket) -> int:
    """Copy stdin to the daemon and the daemon to stdout until the daemon closes the connection.

    0 once the daemon has answered everything after our stdin closed; 1 if it went away first.
    """
    stdin_done = threading.Event()

    def upstream() -> None:
        try:
            while data := os.read(0, 65536):
                sock.sendall(data)
        except OSError:
            pass
        finally:
            stdin_done.set()
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    threading.Thread(target=upstream, name="stdin", daemon=True).start()
    try:
        while data := sock.recv(65536):
            os.write(1, data)
    except OSError:
        pass
    if stdin_done.is_set():
        return 0
    print("tltui worker: the worker daemon closed the connection", file=sys.stderr)
    return 1


def main() -> int:
    try:
        private_runs_dir()
        sock = connect(private_dir())
    except (UnsafePath, BridgeError) as error:
        print(f"tltui worker: {error}", file=sys.stderr)
        return 2
    return pump(sock)
