"""Talks to a worker process over its stdin/stdout (asyncio): local pipe or any command, e.g. ssh.

The client never imports torch; the worker loads it in its own time. The process is started with
``subprocess.Popen`` and only its pipes are handed to asyncio, so letting go of the client (the UI
quits) closes the pipes without killing the worker: its runs go on and land in the run store.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from typing import IO, TypeVar

import msgspec

from tltui.core.formatting import printable
from tltui.core.protocol import codec
from tltui.core.protocol.codec import MAX_LINE
from tltui.core.protocol.events import RunEvent
from tltui.core.protocol.messages import PROTOCOL_VERSION, Error, EventMessage, Hello, Reply, Working
from tltui.core.protocol.requests import Request

R = TypeVar("R")


HELLO_TIMEOUT_S = 200.0
"""How long to wait for the worker's hello (``$TLTUI_HELLO_TIMEOUT_S`` overrides it): its daemon may have to
start and import torch (the bridge gives that 180 s), on the far side of an ssh connection."""


def local_worker_command() -> list[str]:
    """The command that starts a worker on this machine."""
    return [sys.executable, "-m", "tltui", "worker", "--stdio"]


class WorkerError(Exception):
    """The worker refused a request; the message is the worker's one line."""


class WorkerGone(WorkerError):
    """The worker process ended (or never started); the message says why, with its last words."""


class WorkerClient:
    """A worker child process. ``events`` receives every run event; None after the worker is gone."""

    def __init__(self, command: list[str] | None = None, host: str | None = None) -> None:
        self.command = command or local_worker_command()
        self.host = host
        """The machine the command reaches (``--remote``), for the messages; None for this one."""
        self.events: asyncio.Queue[RunEvent | None] = asyncio.Queue()
        self.hello: Hello | None = None
        self.process: subprocess.Popen | None = None
        self.gone = ""
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[Request, asyncio.Future]] = {}
        self._working: dict[int, Callable[[Working], None]] = {}
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._writer: asyncio.StreamWriter | None = None
        self._transports: list[asyncio.BaseTransport] = []
        self._tasks: list[asyncio.Task] = []
        self._hello_ready: asyncio.Future[Hello] | None = None

    async def start(self) -> Hello:
        """Start the worker and wait for its hello (it imports torch first: seconds)."""
        from tltui.core.errors import BadInput
        from tltui.core.parsing import env_number

        try:
            hello_timeout = env_number("TLTUI_HELLO_TIMEOUT_S", HELLO_TIMEOUT_S)
        except BadInput as error:
            raise WorkerGone(str(error)) from None
        loop = asyncio.get_running_loop()
        self._hello_ready = loop.create_future()
        try:
            self.process = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as error:
            raise WorkerGone(f"could not start the worker ({shlex.join(self.command)}): {error.strerror}") from None
        stdout = await self._reader(self.process.stdout)
        stderr = await self._reader(self.process.stderr)
        transport, flow = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, self.process.stdin)
        self._transports.append(transport)
        self._writer = asyncio.StreamWriter(transport, flow, None, loop)
        self._tasks = [
            asyncio.create_task(self._read_stdout(self.process, stdout)), asyncio.create_task(self._read_stderr(stderr))
        ]
        try:
            hello = await asyncio.wait_for(self._hello_ready, hello_timeout)
        except asyncio.TimeoutError:
            self.kill()
            self._fail(f"the worker did not say hello within {hello_timeout:.0f} s ({shlex.join(self.command)})")
            raise WorkerGone(self.gone) from None
        if hello.protocol != PROTOCOL_VERSION:
            self.kill()
            raise WorkerError(
                f"the worker speaks protocol {hello.protocol}, this tltui speaks {PROTOCOL_VERSION}: "
                "install the same tltui version on both sides"
            )
        return hello

    async def _reader(self, pipe: IO[bytes] | None) -> asyncio.StreamReader:
        reader = asyncio.StreamReader(limit=MAX_LINE + 1)
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        self._transports.append(transport)
        return reader

    async def request(self, request: Request[R], working: Callable[[Working], None] | None = None) -> R:
        """Send ``request`` (numbered here) and wait for its reply, of the type the request declares;
        WorkerError if the worker refuses it or answers with something else. ``working`` hears the
        progress a short job (FindLr) reports before its reply."""
        if self.gone or self._writer is None:
            raise WorkerGone(self.gone or "the worker is not running")
        request = msgspec.structs.replace(request, id=next(self._ids))
        future = asyncio.get_running_loop().create_future()
        self._pending[request.id] = (request, future)
        if working is not None:
            self._working[request.id] = working
        try:
            self._writer.write(codec.encode(request))
            await self._writer.drain()
        except (ConnectionError, RuntimeError):
            self._pending.pop(request.id, None)
            raise WorkerGone(self.gone or "the worker closed its input") from None
        try:
            return await future
        finally:
            self._working.pop(request.id, None)

    async def send_bytes(self, data: bytes) -> None:
        """Write raw bytes to the worker, bypassing the protocol (the fuzz tests use this)."""
        if self._writer is None:
            raise WorkerGone(self.gone or "the worker is not running")
        self._writer.write(data)
        await self._writer.drain()

    async def _read_stdout(self, process: subprocess.Popen, stdout: asyncio.StreamReader) -> None:
        try:
            while line := await stdout.readline():
                self._dispatch(line)
        except (ValueError, asyncio.LimitOverrunError):
            self._fail("the worker sent a line too long to read")
        except asyncio.CancelledError:
            return
        returncode = await asyncio.to_thread(process.wait)
        self._fail(self._exit_reason(returncode))

    def _exit_reason(self, returncode: int) -> str:
        """Why the worker process ended, in one line, with what to do where it is clear."""
        tail = " | ".join(self._stderr)
        said = f": {tail}" if tail else ""
        if self.hello is None and (returncode == 127 or "not found" in tail):
            where = f"on {self.host}" if self.host else "here"
            return (f"tltui is not installed {where} (or not on the PATH of a non-interactive shell): "
                    f"pip install tltui there{said}")
        if self.hello is None and self.host and returncode == 255:
            return f"ssh could not connect{said}"
        return f"the worker exited (code {returncode}){said}"

    async def _read_stderr(self, stderr: asyncio.StreamReader) -> None:
        try:
            while line := await stderr.readline():
                text = printable(line.decode("utf-8", "replace").rstrip(), lines=False)
                if text:
                    self._stderr.append(text)
        except (ValueError, asyncio.CancelledError):
            return

    def _dispatch(self, line: bytes) -> None:
        try:
            message = codec.decode_message(line)
        except (msgspec.DecodeError, msgspec.ValidationError):
            if self.hello is None:  # not tltui on the other end, or not this protocol: say so now
                self.kill()
                self._fail(f"the worker did not answer in tltui's protocol: its first line was {line[:80]!r} "
                           f"({shlex.join(self.command)})")
                return
            self._stderr.append(f"(unreadable line from worker: {line[:80]!r})")
            return
        if isinstance(message, Hello):
            self.hello = message
            if self._hello_ready and not self._hello_ready.done():
                self._hello_ready.set_result(message)
        elif isinstance(message, EventMessage):
            self.events.put_nowait(message.event)
        elif isinstance(message, Working) and message.id in self._working:
            self._working[message.id](message)
        elif isinstance(message, (Reply, Error)) and message.id in self._pending:
            request, future = self._pending.pop(message.id)
            if future.done():
                return
            if isinstance(message, Error):
                future.set_exception(WorkerError(message.message))
                return
            try:
                future.set_result(codec.decode_reply(request, message))
            except (msgspec.DecodeError, msgspec.ValidationError) as error:
                future.set_exception(
                    WorkerError(f"unexpected reply from the worker to {type(request).__name__}: {error}"))

    def _fail(self, reason: str) -> None:
        if self.gone:
            return
        self.gone = reason
        error = WorkerGone(reason)
        for _, future in self._pending.values():
            if not future.done():
                future.set_exception(error)
        self._pending.clear()
        if self._hello_ready and not self._hello_ready.done():
            self._hello_ready.set_exception(error)
        self.events.put_nowait(None)

    async def close(self, timeout: float | None = None) -> None:
        """Let go of the worker: close its input (it exits once its queued runs are done) and our
        ends of its pipes. With ``timeout``, wait that long for it to exit, then stop it."""
        if self.process is None:
            return
        if timeout is not None and self._writer is not None:
            self._writer.close()
            try:
                await asyncio.wait_for(asyncio.to_thread(self.process.wait), timeout)
            except asyncio.TimeoutError:
                self.kill()
        self._fail("the connection to the worker was closed")
        for task in self._tasks:
            task.cancel()
        for transport in self._transports:
            transport.close()

    def kill(self) -> None:
        """Stop the worker at once (its whole process group)."""
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, 9)
            except (ProcessLookupError, PermissionError):
                self.process.kill()
