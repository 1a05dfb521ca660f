"""The worker: serves the protocol on stdin/stdout and trains runs, one at a time, in a thread.

``tltui worker --stdio`` is started by the UI or the CLI (locally, or through ``ssh host``). Every
event goes to the run store first and then to the connections that follow the run, so a client that
comes back replays what it missed. When stdin closes, runs that are training or queued finish first.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from tltui import protocol
from tltui.protocol import (
    MAX_LINE, PROTOCOL_VERSION, CancelRun, Cancelled, Error, EventMessage, Failed, GetCapabilities,
    GetEvents, Hello, ListRuns, Reply, ResumeRun, RunEvent, StartRun,
)
from tltui.runs import Run, RunNotFound, RunRecorder, RunStore


@dataclass
class ActiveRun:
    """A run that is queued or training in this worker."""

    run: Run
    recorder: RunRecorder
    prepared: object
    resume: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    started: bool = False


class Connection:
    """One client: writes protocol lines and remembers which runs it follows, and how far."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self.following: dict[str, int] = {}
        self.closed = False

    def send(self, message: protocol.Message) -> None:
        if self.closed:
            return
        try:
            self._write(protocol.encode(message))
        except (BrokenPipeError, ConnectionError, ValueError, OSError):
            self.closed = True

    def event(self, event: RunEvent) -> None:
        """Send ``event`` if this connection follows its run and has not had it yet."""
        sent = self.following.get(event.run_id)
        if sent is not None and event.seq > sent:
            self.following[event.run_id] = event.seq
            self.send(EventMessage(event=event))


class Worker:
    """Runs the queue and answers requests; the engine (torch) is imported when this is created."""

    def __init__(self, store: RunStore | None = None) -> None:
        from tltui.engine import device, train

        self.engine = train
        self.capabilities = device.capabilities()
        self.store = store or RunStore()
        self.active: dict[str, ActiveRun] = {}
        self.connections: list[Connection] = []
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()

    # -- requests ---------------------------------------------------------------------------

    async def handle(self, conn: Connection, line: bytes) -> None:
        """Answer one request line; nothing a client sends can stop the worker."""
        try:
            request = protocol.decode_request(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            conn.send(Error(id=_request_id(line), message=f"bad request: {error}"))
            return
        try:
            result = await self._dispatch(conn, request)
        except _Refused as error:
            conn.send(Error(id=request.id, message=str(error)))
        except Exception as error:  # a bug must not take the worker down with it
            traceback.print_exc(file=sys.stderr)
            conn.send(Error(id=request.id, message=f"internal error: {type(error).__name__}: {error}"))
        else:
            conn.send(Reply(id=request.id, result=result))

    async def _dispatch(self, conn: Connection, request: protocol.AnyRequest) -> object:
        if isinstance(request, GetCapabilities):
            return self.capabilities
        if isinstance(request, ListRuns):
            return self.store.summaries()
        if isinstance(request, StartRun):
            return await self._start(conn, request.config)
        if isinstance(request, ResumeRun):
            return await self._resume(conn, request.run_id)
        if isinstance(request, CancelRun):
            return self._cancel(request.run_id)
        if isinstance(request, GetEvents):
            return self._events(conn, request)
        raise _Refused(f"unsupported request {type(request).__name__}")

    async def _prepare(self, config: protocol.RunConfig) -> object:
        from tltui.engine.errors import BadInput

        try:
            return await asyncio.to_thread(self.engine.prepare, config)
        except BadInput as error:
            raise _Refused(str(error)) from None

    async def _start(self, conn: Connection, config: protocol.RunConfig) -> dict:
        prepared = await self._prepare(config)
        run = self.store.create(prepared.config)
        return self._enqueue(conn, ActiveRun(run, RunRecorder(run), prepared))

    async def _resume(self, conn: Connection, run_id: str) -> dict:
        try:
            run = self.store.get(run_id)
        except RunNotFound as error:
            raise _Refused(str(error)) from None
        if run.id in self.active:
            raise _Refused(f"run {run.id} is already running")
        if run.summary().status == "finished":
            raise _Refused(f"run {run.id} has finished; start a new one instead")
        if not (run.path / "resume.pt").is_file():
            raise _Refused(f"run {run.id} saved no checkpoint to resume from; start it again instead")
        prepared = await self._prepare(run.config)
        self.store.claim(run)
        return self._enqueue(conn, ActiveRun(run, RunRecorder(run), prepared, resume=True))

    def _enqueue(self, conn: Connection, active: ActiveRun) -> dict:
        run_id = active.run.id
        active.recorder.listeners.append(self._broadcast)
        self.active[run_id] = active
        conn.following[run_id] = active.recorder.seq
        self.queue.put_nowait(run_id)
        waiting = sum(1 for a in self.active.values() if not a.started) - 1
        return {"run_id": run_id, "run_dir": str(active.run.path), "queued_behind": waiting}

    def _cancel(self, run_id: str) -> dict:
        active = self.active.get(run_id)
        if active is None:
            try:
                status = self.store.get(run_id).summary().status
            except RunNotFound as error:
                raise _Refused(str(error)) from None
            raise _Refused(f"run {run_id} is not running ({status})")
        active.stop.set()
        return {"run_id": run_id}

    def _events(self, conn: Connection, request: GetEvents) -> dict:
        try:
            run = self.store.get(request.run_id)
        except RunNotFound as error:
            raise _Refused(str(error)) from None
        conn.following[run.id] = request.after_seq
        replayed = run.events(request.after_seq)
        for event in replayed:
            conn.event(event)
        if not request.follow or run.id not in self.active:
            conn.following.pop(run.id, None)
        return {"run_id": run.id, "replayed": len(replayed), "following": run.id in conn.following}

    # -- training ---------------------------------------------------------------------------

    def _broadcast(self, event: RunEvent) -> None:
        """Called in the training thread for every event: hand it to the event loop."""
        self.loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: RunEvent) -> None:
        if isinstance(event, protocol.TERMINAL_EVENTS):
            self.active.pop(event.run_id, None)  # over as far as any client can tell
        for conn in self.connections:
            conn.event(event)
            if isinstance(event, protocol.TERMINAL_EVENTS):
                conn.following.pop(event.run_id, None)

    async def train_forever(self) -> None:
        while True:
            run_id = await self.queue.get()
            active = self.active[run_id]
            try:
                if active.stop.is_set():
                    active.recorder.emit(Cancelled, epoch=0, run_dir=str(active.run.path))
                else:
                    active.started = True
                    await asyncio.to_thread(self._train, active)
            finally:
                active.recorder.close()
                if self.active.get(run_id) is active:
                    del self.active[run_id]
                self.queue.task_done()

    def _train(self, active: ActiveRun) -> None:
        from tltui.engine.errors import BadInput, RunFailure

        emit = active.recorder.emit
        try:
            self.engine.train(active.prepared, active.run.path, emit, active.stop.is_set, resume=active.resume)
        except RunFailure as failure:
            emit(Failed, reason=failure.reason, hint=failure.hint)
        except BadInput as error:
            emit(Failed, reason=str(error), hint="fix the input and start a new run")
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            emit(Failed, reason=f"internal error: {type(error).__name__}: {error}", hint="this is a bug in tltui; please report it")
        finally:
            active.prepared = None

    async def drain(self) -> None:
        """Wait until nothing is queued or training."""
        await self.queue.join()


class _Refused(Exception):
    """A request that cannot be done; the message goes back to the client as an error."""


def _request_id(line: bytes) -> int | None:
    try:
        value = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return None
    request_id = value.get("id") if isinstance(value, dict) else None
    return request_id if isinstance(request_id, int) and not isinstance(request_id, bool) else None


class LineReader:
    """Splits a byte stream into lines; a line longer than ``limit`` is reported once, then skipped."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """Complete lines in ``data`` (None stands for a line that was too long)."""
        lines: list[bytes | None] = []
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.limit:
                    if not self._skipping:
                        lines.append(None)
                    self._skipping = True
                    self._buffer.clear()
                return lines
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._skipping:
                self._skipping = False
            elif len(line) > self.limit:
                lines.append(None)
            elif line.strip():
                lines.append(line)


def _log_to_file(path) -> None:
    """The client has gone: what the worker still prints goes to a log file, not a closed pipe."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


async def serve_stdio() -> int:
    """Speak the protocol on stdin/stdout until stdin closes and the queue is empty."""
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol
    worker = Worker()
    conn = Connection(out.write)
    worker.connections.append(conn)
    conn.send(Hello(protocol=PROTOCOL_VERSION, capabilities=worker.capabilities))
    trainer = asyncio.create_task(worker.train_forever())
    reader = LineReader()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    def read_stdin() -> None:
        while True:
            try:
                data = os.read(0, 65536)
            except OSError:
                data = b""
            loop.call_soon_threadsafe(chunks.put_nowait, data)
            if not data:
                return

    threading.Thread(target=read_stdin, name="stdin", daemon=True).start()
    handlers: set[asyncio.Task] = set()
    while data := await chunks.get():
        for line in reader.feed(data):
            if line is None:
                conn.send(Error(id=None, message=f"line longer than {MAX_LINE} bytes ignored"))
            else:  # each request in its own task: a slow start_run does not hold up a cancel
                task = asyncio.create_task(worker.handle(conn, line))
                handlers.add(task)
                task.add_done_callback(handlers.discard)
    conn.closed = True
    if worker.active:
        _log_to_file(worker.store.root.parent / "worker.log")
    if handlers:
        await asyncio.wait(handlers)
    await worker.drain()
    trainer.cancel()
    return 0
