"""Run a command in a real pseudo-terminal and watch what it paints (used by tests and benchmarks)."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time

_ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[=>()][0-9A-Za-z]?")


class Terminal:
    """A child process on a pty of ``columns`` x ``lines``; ``wait_for`` reads until text appears."""

    def __init__(self, argv: list[str], columns: int = 80, lines: int = 24, env: dict | None = None) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        full_env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor", **(env or {})}
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, env=full_env, start_new_session=True,
            close_fds=True, preexec_fn=_take_terminal,
        )
        os.close(slave)
        self.raw = b""

    @property
    def text(self) -> str:
        """Everything painted so far, escape sequences removed."""
        return _ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def wait_for(self, needle: str, timeout: float = 30.0) -> float:
        """Seconds from process start until ``needle`` was painted; TimeoutError if never."""
        deadline = time.perf_counter() + timeout
        while needle not in self.text:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"{needle!r} never appeared; screen so far:\n{self.text[-2000:]}")
            ready, _, _ = select.select([self.master], [], [], min(remaining, 0.05))
            if ready:
                try:
                    self.raw += os.read(self.master, 65536)
                except OSError:
                    raise TimeoutError(f"process ended before {needle!r} appeared:\n{self.text[-2000:]}") from None
        return time.perf_counter() - self.started

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self, timeout: float = 10.0) -> int:
        """Wait for the process to exit (killing it after ``timeout``); its exit code."""
        try:
            deadline = time.perf_counter() + timeout
            while self.process.poll() is None and time.perf_counter() < deadline:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if ready:
                    try:
                        self.raw += os.read(self.master, 65536)
                    except OSError:
                        break
            if self.process.poll() is None:
                self.kill()
            return self.process.wait(timeout)
        finally:
            os.close(self.master)

    def kill(self) -> None:
        """Kill the child's whole process group."""
        try:
            os.killpg(self.process.pid, 9)
        except ProcessLookupError:
            pass


def _take_terminal() -> None:
    """In the child, after setsid: make the pty its controlling terminal, as a login shell has it
    (so closing the pty hangs it up, like a dropped SSH connection)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
