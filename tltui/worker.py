"""The worker daemon: one per user and data dir, on a private Unix socket; it owns the runs.

Clients reach it through ``tltui worker --stdio`` (tltui/bridge.py), locally or through ``ssh host``.
Runs are trained in threads, one at a time per device (a host with several GPUs trains one run on
each). Every event goes to the run store first and then to the connections that follow the run, so a
client that comes back replays what it missed, and a run outlives every connection. With no client
and no run for ``IDLE_EXIT_S``, the daemon exits.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
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
    queue: str = ""
    """The key of the queue (the GPU) it waits in."""


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
        gpus = [d for d in self.capabilities.devices if d.startswith("cuda")]
        self.queues: dict[str, asyncio.Queue[str]] = {d: asyncio.Queue() for d in gpus} if len(gpus) > 1 else {"": asyncio.Queue()}
        """One queue (and one trainer) per GPU when there are several, else one for the device."""
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
        if isinstance(request, protocol.PICTURE_REQUESTS):
            return await self._picture(request)
        raise _Refused(f"unsupported request {type(request).__name__}")

    async def _picture(self, request: protocol.Request) -> object:
        """A lesson widget's pictures, computed in a thread: runs and other requests go on meanwhile."""
        from tltui.engine import inspect
        from tltui.engine.errors import BadInput

        try:
            return await asyncio.to_thread(inspect.answer, request)
        except BadInput as error:
            raise _Refused(str(error)) from None

    async def _prepare(self, config: protocol.RunConfig) -> object:
        from tltui.engine.errors import BadInput

        try:
            return await asyncio.to_thread(self.engine.prepare, config)
        except BadInput as error:
            raise _Refused(str(error)) from None

    async def _start(self, conn: Connection, config: protocol.RunConfig) -> dict:
        queue = self._pick_queue(config)
        if queue and config.device == "auto":
            config = msgspec.structs.replace(config, device=queue)
        prepared = await self._prepare(config)
        run = self.store.create(prepared.config)
        return self._enqueue(conn, ActiveRun(run, RunRecorder(run), prepared, queue=queue))

    def _pick_queue(self, config: protocol.RunConfig) -> str:
        """The GPU a run waits for: the one it names, else the one with the fewest runs."""
        if config.device in self.queues:
            return config.device
        if "" in self.queues:
            return ""
        load = {q: sum(a.queue == q for a in self.active.values()) for q in self.queues}
        return min(load, key=lambda q: (load[q], q))

    def _run(self, run_id: str) -> Run:
        """The stored run ``run_id`` (or the only one it is a prefix of); refused in one line if none."""
        try:
            return self.store.get(run_id)
        except RunNotFound as error:
            raise _Refused(str(error)) from None

    async def _resume(self, conn: Connection, run_id: str) -> dict:
        run = self._run(run_id)
        if run.id in self.active:
            raise _Refused(f"run {run.id} is already running")
        if run.summary().status == "finished":
            raise _Refused(f"run {run.id} has finished; start a new one instead")
        if not (run.path / "resume.pt").is_file():
            raise _Refused(f"run {run.id} saved no checkpoint to resume from; start it again instead")
        prepared = await self._prepare(run.config)
        self.store.claim(run)
        queue = self._pick_queue(run.config)
        return self._enqueue(conn, ActiveRun(run, RunRecorder(run), prepared, resume=True, queue=queue))

    def _enqueue(self, conn: Connection, active: ActiveRun) -> dict:
        run_id = active.run.id
        active.recorder.listeners.append(self._broadcast)
        self.active[run_id] = active
        conn.following[run_id] = active.recorder.seq
        self.queues[active.queue].put_nowait(run_id)
        waiting = sum(1 for a in self.active.values() if not a.started and a.queue == active.queue) - 1
        return {"run_id": run_id, "run_dir": str(active.run.path), "queued_behind": waiting}

    def _cancel(self, run_id: str) -> dict:
        """Stop a running run (its id, or a unique prefix of it) at the end of its batch."""
        run = self._run(run_id)
        active = self.active.get(run.id)
        if active is None:
            raise _Refused(f"run {run.id} is not running ({run.summary().status})")
        active.stop.set()
        return {"run_id": run.id}

    def _events(self, conn: Connection, request: GetEvents) -> dict:
        run = self._run(request.run_id)
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

    async def train_forever(self, queue: asyncio.Queue[str]) -> None:
        """Train the runs of one queue, one after the other."""
        while True:
            run_id = await queue.get()
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
                queue.task_done()

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

    def fail_orphans(self) -> list[str]:
        """Runs whose worker died mid-way (no end event, owner gone) end as failed; their ids."""
        orphans = []
        for run in self.store.all():
            try:
                if run.summary().status != "interrupted":
                    continue
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                continue
            recorder = RunRecorder(run)
            recorder.emit(Failed, reason="the worker stopped during this run (killed or crashed)",
                          hint=f"resume it from its last checkpoint: tltui runs resume {run.id}")
            recorder.close()
            orphans.append(run.id)
        return orphans

    @property
    def idle(self) -> bool:
        return not self.connections and not self.active


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


async def serve_connection(worker: Worker, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One client, until it closes its side: hello, then its requests, each in its own task (a slow
    start_run does not hold up a cancel). Its runs go on after it leaves."""
    def write(data: bytes) -> None:
        if writer.is_closing():
            raise ConnectionError("the client has gone")
        writer.write(data)

    conn = Connection(write)
    worker.connections.append(conn)
    conn.send(Hello(protocol=PROTOCOL_VERSION, capabilities=worker.capabilities))
    lines = LineReader()
    handlers: set[asyncio.Task] = set()
    try:
        while data := await reader.read(65536):
            for line in lines.feed(data):
                if line is None:
                    conn.send(Error(id=None, message=f"line longer than {MAX_LINE} bytes ignored"))
                    continue
                task = asyncio.create_task(worker.handle(conn, line))
                handlers.add(task)
                task.add_done_callback(handlers.discard)
        if handlers:
            await asyncio.wait(handlers)
    except ConnectionError:
        pass
    finally:
        conn.closed = True
        worker.connections.remove(conn)
        writer.close()


async def run_daemon(idle_exit_s: float) -> int:
    """Serve on the private socket until idle for ``idle_exit_s``; 0 at once if a daemon already runs."""
    import fcntl

    from tltui.sockets import LOCK, PID, SOCKET, UnsafeSocket, private_dir

    try:
        directory = private_dir()
    except UnsafeSocket as error:
        print(f"tltui worker: {error}", file=sys.stderr)
        return 2
    lock = open(directory / LOCK, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another daemon serves this directory
    worker = Worker()
    for run_id in worker.fail_orphans():
        print(f"run {run_id}: its worker had died; marked failed", file=sys.stderr)
    path = directory / SOCKET
    path.unlink(missing_ok=True)
    old_umask = os.umask(0o077)  # the socket is born private
    try:
        server = await asyncio.start_unix_server(lambda r, w: serve_connection(worker, r, w), path=str(path),
                                                 limit=MAX_LINE + 1)
    finally:
        os.umask(old_umask)
    (directory / PID).write_text(str(os.getpid()))
    trainers = [asyncio.create_task(worker.train_forever(q)) for q in worker.queues.values()]
    idle_since = time.monotonic()
    while True:
        await asyncio.sleep(0.5)
        if not worker.idle:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > idle_exit_s:
            break
    server.close()
    path.unlink(missing_ok=True)
    for trainer in trainers:
        trainer.cancel()
    return 0
