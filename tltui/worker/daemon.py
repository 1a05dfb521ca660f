"""The worker daemon: one per user and data dir, on a private Unix socket; it owns the runs.

Clients reach it through ``tltui worker --stdio`` (worker/bridge.py), locally or through ``ssh host``.
Runs are trained in threads, one at a time per device (a host with several GPUs trains one run on
each; worker/training.py). A run over several processes (``--nproc``) reserves its GPUs (or, on a host with
one device, that device) and trains in torchrun's processes (worker/ranks.py); which queued run starts on
which devices is the scheduler's call (worker/scheduler.py): first come, first served, and a run that waits
for GPUs holds back the runs behind it, so it is never starved. Every event goes to the run store first and
then to the connections that follow the run, so a client that comes back replays what it missed, and a run
outlives every connection. With no client and no run for ``idle_exit_s``, the daemon exits.

Each request type has its handler (``Daemon.handlers``). Nothing one client or one run does stops the
others. Work runs in the daemon's own threads, in three lanes of ``LANE_THREADS`` each (worker/lanes.py):
short requests on the store (listing, events), requests about runs (start, resume, cancel: their checks and
files) and jobs (the LR finder, the capacity sweep, pictures, writing a built-in set), each lane taking its
next request from each client in turn; runs train in threads of their own. So a client's sixteen LR finders
hold at most two job threads, and another client's listing or start never waits behind them. A client that
does not read its replies is not read from (and is dropped once ``MAX_BUFFER`` bytes wait for it;
worker/connection.py), a run that breaks (a full disk included) ends failed and the queue goes on.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import re
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import msgspec

from tltui.core import files
from tltui.core.backbones import BackboneInfo
from tltui.core.paths import private_runs_dir
from tltui.core.protocol import codec
from tltui.core.protocol.codec import MAX_LINE
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import TERMINAL_EVENTS, Cancelled, Finished, RunEvent, Started
from tltui.core.protocol.messages import PROTOCOL_VERSION, Error, Hello, Working
from tltui.core.protocol.replies import (
    BuiltinWritten,
    Cancelling,
    Capabilities,
    CapacityReply,
    LossPicturesReply,
    LrFound,
    Replayed,
    RunStarted,
    RunSummary,
)
from tltui.core.protocol.requests import (
    PICTURE_REQUESTS,
    CancelRun,
    Capacity,
    DescribeBackbone,
    FindLr,
    GetCapabilities,
    GetEvents,
    ListRuns,
    LossPictures,
    Request,
    ResumeRun,
    StartDiagnosis,
    StartRun,
    WriteBuiltin,
)
from tltui.worker import orphans
from tltui.worker.connection import Connection, LineReader
from tltui.worker.lanes import Lane, current_client
from tltui.worker.listener import REBIND_CHECK_S, Listener, answers, lock_or_wait
from tltui.worker.log import log
from tltui.worker.scheduler import Scheduler
from tltui.worker.sockets import SOCKET, private_dir
from tltui.worker.store import Run, RunDamaged, RunNotFound, RunRecorder, RunStore
from tltui.worker.training import ActiveRun, Training

R = TypeVar("R")
MAX_IN_FLIGHT = 8
"""Requests of one client handled at once; more wait until one is answered."""
Handler = Callable[[Connection, Any], Awaitable[msgspec.Struct | list]]
"""Answers one kind of request from a connection with the reply the request declares."""


@contextmanager
def frozen_after() -> Iterator[None]:
    """The cyclic collector off meanwhile, and all that is alive then frozen: out of its sight for good.
    For the engine's import: torch and torchvision are 330,000 objects, which five full collections went
    through while they were imported (0.4 s of the import's 2.2 s here), and every later full collection
    again (140 to 200 ms, a pause of the worker's event loop: gc.callbacks during benchmarks/soak.py)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


class Daemon:
    """Runs the queue and answers requests; the engine (torch) is imported when this is created."""

    def __init__(self, store: RunStore | None = None) -> None:
        with frozen_after():
            from tltui.engine import device, train

        self.engine = train
        self.capabilities = device.capabilities()
        self.store = store or RunStore()
        self.active: dict[str, ActiveRun] = {}
        self.connections: list[Connection] = []
        self.scheduler = Scheduler(self.capabilities.devices, _cores())
        self.training = Training(train, len(self.scheduler.slots))
        self.tasks: set[asyncio.Task] = set()
        """The runs training now, each an asyncio task waiting for its thread."""
        self.loop = asyncio.get_running_loop()
        self.store_lane, self.runs_lane, self.jobs_lane = Lane("store"), Lane("runs"), Lane("jobs", drop_gone=True)
        self.handlers: dict[type, Handler] = {
            GetCapabilities: self._capabilities, ListRuns: self._list, StartRun: self._start,
            StartDiagnosis: self._diagnose, ResumeRun: self._resume, CancelRun: self._cancel, GetEvents: self._events,
            **dict.fromkeys(PICTURE_REQUESTS, self._picture), LossPictures: self._loss_pictures,
            FindLr: self._find_lr, WriteBuiltin: self._write_builtin, Capacity: self._capacity,
            DescribeBackbone: self._describe_backbone,
        }
        """Which method answers each type of request."""

    # -- requests ---------------------------------------------------------------------------

    async def handle(self, conn: Connection, line: bytes) -> None:
        """Answer one request line; nothing a client sends can stop the worker."""
        try:
            request = codec.decode_request(line)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as error:
            why = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            conn.send(Error(id=_request_id(line), message=f"bad request: {why}"))
            return
        current_client.set(conn)
        try:
            handler = self.handlers.get(type(request))
            if handler is None:
                raise _Refused(f"unsupported request {type(request).__name__}")
            result = await handler(conn, request)
        except _Refused as error:
            conn.send(Error(id=request.id, message=str(error)))
        except ConnectionError:
            conn.closed = True  # the client went away while it was being answered
        except MemoryError:
            conn.send(Error(id=request.id, message=f"the worker ran out of memory answering "
                            f"{type(request).__struct_config__.tag}: ask for less (fewer or smaller images), or free "
                            "memory on its host"))
        except OSError as error:  # a path it names that cannot be used (too long, not allowed, gone)
            where = f"{str(error.filename)[:200]}: " if error.filename else ""
            conn.send(Error(id=request.id, message=f"cannot use {where}{error.strerror or error}"))
        except Exception as error:  # a bug must not take the worker down with it
            log(traceback.format_exc())
            conn.send(Error(id=request.id, message=f"internal error: {type(error).__name__}: {error}"))
        else:
            conn.send(codec.reply(request.id, result))

    async def _capabilities(self, conn: Connection, request: GetCapabilities) -> Capabilities:
        return self.capabilities

    async def _list(self, conn: Connection, request: ListRuns) -> list[RunSummary]:
        return self._with_devices(await self.store_lane.run(self.store.summaries))

    async def _picture(self, conn: Connection, request: Request[Any]) -> msgspec.Struct:
        """A lesson widget's pictures, computed in a thread: runs and other requests go on meanwhile."""
        from tltui.core.errors import BadInput
        from tltui.engine import pictures

        try:
            return await self.jobs_lane.run(pictures.answer, request)
        except BadInput as error:
            raise _Refused(str(error)) from None

    async def _loss_pictures(self, conn: Connection, request: LossPictures) -> LossPicturesReply:
        """The top-loss images of a finished run, as its stored config and error analysis name them, prepared
        as its recorded preprocessing says."""
        from tltui.engine.loss_pictures import loss_pictures

        run = self._run(request.run_id)
        try:
            events = await self.store_lane.run(run.events)
            config = await self.store_lane.run(lambda: run.config)
        except RunDamaged as error:
            raise _Refused(str(error)) from None
        finished = next((e for e in reversed(events) if isinstance(e, Finished)), None)
        if finished is None or finished.analysis is None:
            why = "has not finished" if finished is None else "was recorded without an error analysis (an older tltui)"
            raise _Refused(f"run {run.id} {why}: no top losses to show")
        started = next((e for e in reversed(events) if isinstance(e, Started)), None)
        pictures = await self._checked(self.jobs_lane, loss_pictures, config, finished.analysis.top_losses,
                                       request.display, started.preprocessing if started else None)
        return LossPicturesReply(run_id=run.id, pictures=pictures)

    async def _describe_backbone(self, conn: Connection, request: DescribeBackbone) -> BackboneInfo:
        from tltui.engine import backbone_info

        return await self._checked(self.jobs_lane, backbone_info.describe, request)

    async def _write_builtin(self, conn: Connection, request: WriteBuiltin) -> BuiltinWritten:
        from tltui.engine import builtin_folder

        return await self._checked(self.jobs_lane, builtin_folder.write, request)

    async def _find_lr(self, conn: Connection, request: FindLr) -> LrFound:
        """The LR range test, in a thread, told step by step to the client that asked (``Working``); it
        stops if that client goes. A short job: seconds, nothing stored, so no run and no queue."""
        from tltui.core.errors import BadInput
        from tltui.engine import lr_find

        def report(done: int, total: int, lr: float, loss: float) -> None:
            working = Working(id=request.id, done=done, total=total, text=f"LR {lr:.1e}, loss {loss:.3f}")
            self.loop.call_soon_threadsafe(conn.send, working)

        try:
            return await self.jobs_lane.run(lr_find.find, request, report, lambda: conn.closed)
        except BadInput as error:
            raise _Refused(str(error)) from None

    async def _capacity(self, conn: Connection, request: Capacity) -> CapacityReply:
        """The capacity sweep (engine/capacity.py), a short job like the LR finder: fit by fit to the client
        that asked (``Working``), stopped if it goes, nothing stored."""
        from tltui.engine import capacity

        def report(done: int, total: int, text: str) -> None:
            working = Working(id=request.id, done=done, total=total, text=text)
            self.loop.call_soon_threadsafe(conn.send, working)

        return await self._checked(self.jobs_lane, capacity.measure, request, report, lambda: conn.closed)

    async def _checked(self, lane: Lane, check: Callable[..., R], *args: object) -> R:
        """``check(*args)`` in ``lane``; its BadInput, and a file it cannot write, refused in one line."""
        from tltui.core.errors import BadInput

        try:
            return await lane.run(check, *args)
        except BadInput as error:
            raise _Refused(str(error)) from None
        except OSError as error:
            raise _Refused(files.full_disk(error)) from None

    async def _start(self, conn: Connection, request: StartRun) -> RunStarted:
        self._check_processes(request.config)
        config = await self._checked(self.runs_lane, self.engine.check, request.config)
        run, recorder = await self._checked(self.runs_lane, self._new_run, config)
        return self._enqueue(conn, ActiveRun(run, recorder, config))

    def _check_processes(self, config: RunConfig) -> None:
        """Refuse in one line a run this host cannot give the processes it asks for (Scheduler.refusal)."""
        why = self.scheduler.refusal(config)
        if why:
            raise _Refused(why)

    async def _diagnose(self, conn: Connection, request: StartDiagnosis) -> RunStarted:
        """A diagnose run, queued as a run is (it holds the device as long): the run store keeps its events."""
        from tltui.engine import diagnose

        if not 0 <= request.budget_s <= 24 * 3600:
            raise _Refused(f"a diagnose budget must be 0 (the default) to 24 h, not {request.budget_s:g} s")
        if request.config.nproc != 1:
            raise _Refused("a diagnosis trains in one process: leave out --nproc")
        config = msgspec.structs.replace(await self._checked(self.runs_lane, diagnose.check, request.config),
                                         preset="diagnose")
        run, recorder = await self._checked(self.runs_lane, self._new_run, config)
        return self._enqueue(conn, ActiveRun(run, recorder, config, diagnose=request))

    def _new_run(self, config: RunConfig) -> tuple[Run, RunRecorder]:
        """A new run in the store, ready to record; nothing of it is left if that fails (a full disk)."""
        run = self.store.create(config)
        try:
            return run, RunRecorder(run)
        except OSError:
            self.store.remove(run)
            raise

    def _run(self, run_id: str) -> Run:
        """The stored run ``run_id`` (or the only one it is a prefix of); refused in one line if none."""
        try:
            return self.store.get(run_id)
        except RunNotFound as error:
            raise _Refused(str(error)) from None

    async def _resume(self, conn: Connection, request: ResumeRun) -> RunStarted:
        run = self._run(request.run_id)
        if run.id in self.active:
            raise _Refused(f"run {run.id} is already running")
        summary = await self.store_lane.run(run.summary)
        if summary.status == "damaged" or summary.config is None:  # no config: damaged
            raise _Refused(f"{summary.reason}; start a new run instead")
        if summary.status == "finished":
            raise _Refused(f"run {run.id} has finished; start a new one instead")
        if summary.config.preset == "diagnose":
            raise _Refused(f"run {run.id} is a diagnosis, which cannot resume: run tltui diagnose again")
        self._check_processes(summary.config)
        config = await self._checked(self.runs_lane, self.engine.check, summary.config)
        await self._checked(self.runs_lane, self.engine.check_resume, config, run.path)
        await self._checked(self.runs_lane, self.store.claim, run)
        recorder = await self._checked(self.runs_lane, RunRecorder, run)
        if run.id in self.active:  # resumed by another request meanwhile
            recorder.close()
            raise _Refused(f"run {run.id} is already running")
        return self._enqueue(conn, ActiveRun(run, recorder, config, resume=True))

    def _enqueue(self, conn: Connection | None, active: ActiveRun) -> RunStarted:
        run_id = active.run.id
        active.recorder.listeners.append(self._broadcast)
        self.active[run_id] = active
        if conn is not None:
            conn.following[run_id] = active.recorder.seq
        self.scheduler.queue(run_id, active.config)
        self._schedule()
        return RunStarted(run_id=run_id, run_dir=str(active.run.path), queued_behind=self.scheduler.waiting(run_id),
                          devices=[s for s in active.slots if s])

    # -- the queue ----------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Start every run the scheduler says can start now, each in a task that trains it in a thread."""
        for launch in self.scheduler.start():
            active = self.active[launch.run_id]
            active.started = True
            active.slots, active.processes = launch.slots, launch.processes
            active.config = msgspec.structs.replace(active.config, device=launch.device, nproc=launch.processes)
            task = asyncio.create_task(self._train_task(active))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _train_task(self, active: ActiveRun) -> None:
        """Train one run; nothing it does ends the daemon. Its slots are freed when it ends, and the queue
        moves on."""
        run_id = active.run.id
        try:
            await self.training.run(active)
        finally:
            active.recorder.close()
            if self.active.get(run_id) is active:
                del self.active[run_id]
            self.scheduler.release(run_id)
            self._schedule()

    def _with_devices(self, summaries: list[RunSummary]) -> list[RunSummary]:
        """The store's summaries, with what each run that trains now holds, and the end of a run that could
        not be written (the store says it runs while this daemon, its owner, lives)."""
        held = {run_id: a for run_id, a in self.active.items() if a.started}
        listed = []
        for s in summaries:
            if s.run_id in held:
                s = msgspec.structs.replace(s, devices=held[s.run_id].holds())
            elif s.run_id in self.training.unrecorded and s.status in ("running", "interrupted"):
                status, reason = self.training.unrecorded[s.run_id]
                s = msgspec.structs.replace(s, status=status, reason=reason)
            listed.append(s)
        return listed

    async def _cancel(self, conn: Connection, request: CancelRun) -> Cancelling:
        """Stop a running run (its id, or a unique prefix of it) at the end of its batch."""
        run = self._run(request.run_id)
        active = self.active.get(run.id)
        if active is None:
            raise _Refused(f"run {run.id} is not running ({(await self.store_lane.run(run.summary)).status})")
        active.stop.set()
        if not active.started and self.scheduler.drop(run.id):  # queued: it ends now, and the queue moves on
            try:
                await self.runs_lane.run(functools.partial(self.training.end, active, Cancelled, epoch=0,
                                                           run_dir=str(active.run.path)))
            finally:
                active.recorder.close()
                self.active.pop(run.id, None)
            self._schedule()
        return Cancelling(run_id=run.id)

    async def _events(self, conn: Connection, request: GetEvents) -> Replayed:
        run = self._run(request.run_id)
        conn.hold(run.id, request.after_seq)
        replayed: list[RunEvent] = []
        try:
            replayed = await self.store_lane.run(run.events, request.after_seq)
        except RunDamaged as error:
            conn.following.pop(run.id, None)
            raise _Refused(str(error)) from None
        finally:
            await conn.release(run.id, replayed)
        if not request.follow or run.id not in self.active:
            conn.following.pop(run.id, None)
        return Replayed(run_id=run.id, replayed=len(replayed), following=run.id in conn.following)

    # -- events -----------------------------------------------------------------------------

    def _broadcast(self, event: RunEvent) -> None:
        """Called in the training thread for every event: hand it to the event loop."""
        self.loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: RunEvent) -> None:
        if isinstance(event, TERMINAL_EVENTS):
            self.active.pop(event.run_id, None)  # over as far as any client can tell
        for conn in self.connections:
            conn.event(event)
            if isinstance(event, TERMINAL_EVENTS):
                conn.following.pop(event.run_id, None)

    @property
    def idle(self) -> bool:
        return not self.connections and not self.active


class _Refused(Exception):
    """A request that cannot be done; the message goes back to the client as an error."""


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _request_id(line: bytes) -> int | None:
    """The id of a request that could not be decoded, so its error reaches the client as its reply."""
    try:
        value = msgspec.json.decode(line)
    except RecursionError:  # nested too deeply to decode: the first id in it is the best guess
        found = re.search(rb'"id"\s*:\s*(\d{1,18})\b', line)
        return int(found.group(1)) if found else None
    except msgspec.DecodeError:
        return None
    request_id = value.get("id") if isinstance(value, dict) else None
    return request_id if isinstance(request_id, int) and not isinstance(request_id, bool) else None


async def serve_connection(worker: Daemon, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One client, until it closes its side: hello, then its requests, each in its own task (a slow
    start_run does not hold up a cancel), at most ``MAX_IN_FLIGHT`` at once. While the client leaves its
    replies unread, nothing more is read from it. Its runs go on after it leaves."""
    conn = Connection(writer)
    worker.connections.append(conn)
    conn.send(Hello(protocol=PROTOCOL_VERSION, capabilities=worker.capabilities))
    lines = LineReader()
    handlers: set[asyncio.Task] = set()
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)

    def done(task: asyncio.Task) -> None:
        handlers.discard(task)
        slots.release()

    try:
        while not conn.closed and (data := await reader.read(65536)):
            for line in lines.feed(data):
                if conn.closed:
                    break
                if line is None:
                    conn.send(Error(id=None, message=f"line longer than {MAX_LINE} bytes ignored"))
                    continue
                await slots.acquire()
                await writer.drain()  # the client has read what it was sent, or this waits
                task = asyncio.create_task(worker.handle(conn, line))
                handlers.add(task)
                task.add_done_callback(done)
        if handlers:
            await asyncio.wait(handlers)
    except ConnectionError:
        pass
    finally:
        conn.closed = True
        worker.connections.remove(conn)
        writer.close()


async def run_daemon(idle_exit_s: float) -> int:
    """Serve on the private socket until idle for ``idle_exit_s``. If another daemon holds the lock, wait
    until it answers (then exit 0: the bridge connects to it) or until it gives up the lock (then serve)."""
    try:
        directory = private_dir()
        private_runs_dir()
    except files.UnsafePath as error:
        log(f"tltui worker: {error}")
        return 2
    path = directory / SOCKET
    lock = await lock_or_wait(directory, path)
    if lock is None:
        return 0
    daemon = Daemon()
    if answers(path):  # one whose folder was removed, and which made it again while this one started
        lock.close()
        return 0
    for line in orphans.recover(daemon.store, lambda active: daemon._enqueue(None, active)):
        log(line)
    listener = Listener(functools.partial(serve_connection, daemon), lock)
    await listener.bind()
    idle_since = time.monotonic()
    while True:
        await asyncio.sleep(REBIND_CHECK_S)
        if listener.lost():
            await listener.bind()
        if not daemon.idle:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > idle_exit_s:
            break
    listener.close()
    return 0
