"""Talks to a worker process over its stdin/stdout (asyncio): local pipe or any command, e.g. ssh.

The client never imports torch; the worker loads it in its own time.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import shlex
import sys
from typing import Any

import msgspec

from tltui import protocol
from tltui.protocol import MAX_LINE, PROTOCOL_VERSION, Error, EventMessage, Hello, Reply, RunEvent


def local_worker_command() -> list[str]:
    """The command that starts a worker on this machine."""
    return [sys.executable, "-m", "tltui", "worker", "--stdio"]


def parse_worker_command(text: str | None) -> list[str]:
    """``--worker-cmd "ssh gpu tltui worker --stdio"`` as argv; the local worker when empty."""
    return shlex.split(text) if text else local_worker_command()


class WorkerError(Exception):
    """The worker refused a request; the message is the worker's one line."""


class WorkerGone(WorkerError):
    """The worker process ended (or never started); the message says why, with its last words."""


class WorkerClient:
    """A worker child process. ``events`` receives every run event; None after the worker is gone."""

    def __init__(self, command: list[str] | None = None) -> None:
        self.command = command or local_worker_command()
        self.events: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        self.hello: Hello | None = None
        self.process: asyncio.subprocess.Process | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._tasks: list[asyncio.Task] = []
        self._hello_ready: asyncio.Future[Hello] | None = None
        self.gone: str = ""

    async def start(self) -> Hello:
        """Start the worker and wait for its hello (it imports torch first: seconds)."""
        loop = asyncio.get_running_loop()
        self._hello_ready = loop.create_future()
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                limit=MAX_LINE + 1,
            )
        except OSError as error:
            raise WorkerGone(f"could not start the worker ({shlex.join(self.command)}): {error.strerror}") from None
        self._tasks = [asyncio.create_task(self._read_stdout()), asyncio.create_task(self._read_stderr())]
        hello = await self._hello_ready
        if hello.protocol != PROTOCOL_VERSION:
            await self.close()
            raise WorkerError(
                f"the worker speaks protocol {hello.protocol}, this tltui speaks {PROTOCOL_VERSION}: "
                "install the same tltui version on both sides"
            )
        return hello

    async def request(self, request_cls: type[protocol.Request], **fields: Any) -> Any:
        """Send a request and wait for its reply's result; WorkerError if refused."""
        if self.gone or self.process is None:
            raise WorkerGone(self.gone or "the worker is not running")
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self.process.stdin.write(protocol.encode(request_cls(id=request_id, **fields)))
            await self.process.stdin.drain()
        except (ConnectionError, RuntimeError):
            self._pending.pop(request_id, None)
            raise WorkerGone(self.gone or "the worker closed its input") from None
        return await future

    async def _read_stdout(self) -> None:
        assert self.process and self.process.stdout
        try:
            while line := await self.process.stdout.readline():
                self._dispatch(line)
        except (ValueError, asyncio.LimitOverrunError):
            self._fail("the worker sent a line too long to read")
        returncode = await self.process.wait()
        tail = " | ".join(self._stderr)
        self._fail(f"the worker exited (code {returncode})" + (f": {tail}" if tail else ""))

    async def _read_stderr(self) -> None:
        assert self.process and self.process.stderr
        while line := await self.process.stderr.readline():
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                self._stderr.append(text)

    def _dispatch(self, line: bytes) -> None:
        try:
            message = protocol.decode_message(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._stderr.append(f"(unreadable line from worker: {line[:80]!r})")
            return
        if isinstance(message, Hello):
            self.hello = message
            if self._hello_ready and not self._hello_ready.done():
                self._hello_ready.set_result(message)
        elif isinstance(message, EventMessage):
            self.events.put_nowait(message.event)
        elif isinstance(message, (Reply, Error)) and message.id in self._pending:
            future = self._pending.pop(message.id)
            if not future.done():
                if isinstance(message, Reply):
                    future.set_result(message.result)
                else:
                    future.set_exception(WorkerError(message.message))

    def _fail(self, reason: str) -> None:
        if self.gone:
            return
        self.gone = reason
        error = WorkerGone(reason)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        if self._hello_ready and not self._hello_ready.done():
            self._hello_ready.set_exception(error)
        self.events.put_nowait(None)

    async def close(self, timeout: float | None = None) -> None:
        """Close the worker's input; it exits once its queued runs are done. With ``timeout``,
        stop it after that many seconds."""
        if self.process is None:
            return
        if self.process.stdin and not self.process.stdin.is_closing():
            self.process.stdin.close()
        if timeout is not None:
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except asyncio.TimeoutError:
                self.kill()
                await self.process.wait()

    def kill(self) -> None:
        """Stop the worker at once (its whole process group)."""
        if self.process and self.process.returncode is None:
            try:
                os.killpg(self.process.pid, 9)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
