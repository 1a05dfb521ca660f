"""Run a command in a real pseudo-terminal and watch what it paints (used by tests and benchmarks)."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from pathlib import Path

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
        self.raw = bytearray()
        """Every byte painted so far. A bytearray grows in place: a long session's output (tens of MB after
        2,000 keys) copied on every read, as ``bytes += chunk`` does, made each key's measured time grow
        with the session although the tutor's did not."""

    @property
    def text(self) -> str:
        """Everything painted so far, escape sequences removed."""
        return _ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def wait_for(self, needle: str, timeout: float = 30.0, since: int = 0) -> float:
        """Seconds from process start until ``needle`` was painted (after the first ``since`` bytes: a
        ``len(raw)`` taken before a key); TimeoutError if never."""
        deadline = time.perf_counter() + timeout
        while needle not in _ANSI.sub(b"", self.raw[since:]).decode("utf-8", "replace"):
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"{needle!r} never appeared; screen so far:\n{self.text[-2000:]}")
            ready, _, _ = select.select([self.master], [], [], min(remaining, 0.05))
            if ready:
                try:
                    self.raw.extend(os.read(self.master, 65536))
                except OSError:
                    raise TimeoutError(f"process ended before {needle!r} appeared:\n{self.text[-2000:]}") from None
        return time.perf_counter() - self.started

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def _read(self, timeout: float) -> bool:
        """Read what is there within ``timeout`` seconds; False if nothing came (or the pty closed)."""
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0))
        if not ready:
            return False
        try:
            chunk = os.read(self.master, 65536)
        except OSError:
            return False
        self.raw.extend(chunk)
        return bool(chunk)

    def drain(self, quiet: float = 0.1, limit: float = 10.0) -> None:
        """Read until nothing has been painted for ``quiet`` seconds (at most ``limit`` seconds)."""
        deadline = time.perf_counter() + limit
        while time.perf_counter() < deadline and self._read(quiet):
            pass

    def key_latency(self, keys: str, needle: str = "", quiet: float = 0.025, timeout: float = 10.0) -> float:
        """Seconds from sending ``keys`` until the repaint: until ``needle`` is painted, or without one,
        until the last byte of the first burst of output (nothing more for ``quiet`` seconds)."""
        start = len(self.raw)
        sent = time.perf_counter()
        self.send(keys)
        deadline = sent + timeout
        last = 0.0
        while time.perf_counter() < deadline:
            if needle:
                if self._read(0.05) and needle in _ANSI.sub(b"", self.raw[start:]).decode("utf-8", "replace"):
                    return time.perf_counter() - sent
            elif self._read(quiet if last else timeout):
                last = time.perf_counter()
            elif last:
                return last - sent
        raise TimeoutError(f"no repaint for {keys!r} ({needle or 'any output'}) in {timeout} s")

    def close(self, timeout: float = 10.0) -> int:
        """Wait for the process to exit (killing it after ``timeout``); its exit code."""
        try:
            deadline = time.perf_counter() + timeout
            while self.process.poll() is None and time.perf_counter() < deadline:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if ready:
                    try:
                        self.raw.extend(os.read(self.master, 65536))
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


def stop_workers(data_dir: str, timeout: float = 10.0) -> None:
    """Stop the worker daemons whose data dir is ``data_dir`` and wait for them to end. A daemon outlives its
    tutor (a lesson's live widget or the first T starts one), and one still importing torch takes a core from
    whatever is measured next."""
    wanted = f"TLTUI_DATA_DIR={data_dir}".encode()
    stopped = []
    for proc in Path("/proc").iterdir():
        try:
            worker = b"tltui.worker" in (proc / "cmdline").read_bytes()
            if worker and wanted in (proc / "environ").read_bytes().split(b"\0"):
                os.kill(int(proc.name), signal.SIGTERM)
                stopped.append(proc)
        except (OSError, ValueError):
            continue
    deadline = time.perf_counter() + timeout
    while any(proc.exists() for proc in stopped) and time.perf_counter() < deadline:
        time.sleep(0.05)  # a poll of the processes' ends


def _take_terminal() -> None:
    """In the child, after setsid: make the pty its controlling terminal, as a login shell has it
    (so closing the pty hangs it up, like a dropped SSH connection)."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
