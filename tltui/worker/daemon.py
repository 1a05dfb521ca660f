"""The worker daemon: one per user and data dir, on a private Unix socket; it owns the runs.

Clients reach it through ``tltui worker --stdio`` (tltui/bridge.py), locally or through ``ssh host``.
Runs are trained in threads, one at a time per device (a host with several GPUs trains one run on
each). A run over several processes (``--nproc``) reserves its GPUs (or, on a host with one device, that
device) and trains in torchrun's processes (worker/ranks.py); the queue is first come, first served, and
a run that waits for GPUs holds back the runs behind it, so it is never starved. Every event goes to the run
store first and then to the connections that follow the run, so a client that comes back replays what it
missed, and a run outlives every connection. With no client and no run for ``IDLE_EXIT_S``, the daemon exits.

Nothing one client or one run does stops the others. Work runs in the daemon's own threads, in three
lanes of ``LANE_THREADS`` each (``Lane``): short requests on the store (listing, events), requests about
runs (start, resume, cancel: their checks and files) and jobs (the LR finder, the capacity sweep,
pictures, writing a built-in set), each lane taking its next request from each client in turn; runs train
in threads of their own. So a client's sixteen LR finders hold at most two job threads, and another
client's listing or start never waits behind them. A client that does not read its replies is not read
from (and is dropped once ``MAX_BUFFER`` bytes wait for it), a run that breaks (a full disk included)
ends failed and the queue goes on. A queued run holds its checked config only: its data and model are
loaded when it starts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import os
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import msgspec

from tltui.core import files, protocol
from tltui.core.protocol import (
    MAX_LINE,
    PROTOCOL_VERSION,
    Cancelled,
    Cancelling,
    CancelRun,
    Error,
    EventMessage,
    Failed,
    GetCapabilities,
    GetEvents,
    Hello,
    ListRuns,
    LossPictures,
    LossPicturesReply,
    Replayed,
    ResumeRun,
    RunConfig,
    RunEvent,
    RunStarted,
    StartRun,
)
from tltui.worker.store import Run, RunDamaged, RunNotFound, RunRecorder, RunStore

R = TypeVar("R")
MAX_BUFFER = 16 * 2**20
"""Bytes that may wait for one client; a client that lets more pile up (it does not read) is dropped."""
MAX_IN_FLIGHT = 8
"""Requests of one client handled at once; more wait until one is answered."""
START_WAIT_S = 180.0
"""How long a daemon that finds another one starting waits for it to answer."""
LANE_THREADS = 2
"""Threads of each lane (store, runs, jobs): the most requests of one kind worked on at once."""


def log(text: str) -> None:
    """A line for the daemon's log (its stderr); a log that cannot be written (a full disk) is skipped."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


@dataclass
class ActiveRun:
    """A run that is queued or training in this worker: its checked config, no data or model yet."""

    run: Run
    recorder: RunRecorder
    config: RunConfig
    resume: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    diagnose: protocol.StartDiagnosis | None = None
    """Set for a ``tltui diagnose`` run: it measures the strategies instead of training one."""
    slots: list[str] = field(default_factory=list)
    """What it holds while it trains: GPUs (``cuda:N``) on a host with several, else ``""``, the device."""
    processes: int = 1
    """Processes it trains in (torch.distributed); more than 1 runs torchrun."""


class Connection:
    """One client: writes protocol lines and remembers which runs it follows, and how far."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.following: dict[str, int] = {}
        self._held: dict[str, list[RunEvent]] = {}
        self.closed = False

    def send(self, message: protocol.Message) -> None:
        """Queue one line for the client; drop the client if too much is waiting for it already."""
        if self.closed or self.writer.is_closing():
            self.closed = True
            return
        self.writer.write(protocol.encode(message))
        if self.writer.transport.get_write_buffer_size() > MAX_BUFFER:
            log(f"dropped a client that left {MAX_BUFFER >> 20} MiB unread; it can reconnect and replay")
            self.closed = True
            self.writer.transport.abort()

    def event(self, event: RunEvent) -> None:
        """Send ``event`` if this connection follows its run and has not had it yet."""
        held = self._held.get(event.run_id)
        if held is not None:
            held.append(event)
        else:
            self._send_event(event)

    def _send_event(self, event: RunEvent) -> None:
        sent = self.following.get(event.run_id)
        if sent is not None and event.seq > sent:
            self.following[event.run_id] = event.seq
            self.send(EventMessage(event=event))

    def hold(self, run_id: str, after_seq: int) -> None:
        """Follow ``run_id`` from ``after_seq``, keeping its live events back while the store is read."""
        self.following[run_id] = after_seq
        self._held[run_id] = []

    async def release(self, run_id: str, replayed: list[RunEvent]) -> None:
        """Send the events read from the store (as fast as the client reads them), then the live ones held
        meanwhile: each once, in order."""
        try:
            for n, event in enumerate(replayed, 1):
                self._send_event(event)
                if n % 1000 == 0 and not self.closed:
                    await self.writer.drain()
        finally:
            for event in self._held.pop(run_id, []):
                self._send_event(event)


_client: contextvars.ContextVar[Connection | None] = contextvars.ContextVar("client", default=None)
"""The connection whose request the current task answers (each request is a task of its own)."""


class Lane:
    """One kind of work on threads of its own: at most ``threads`` requests at once, the next taken from
    each waiting client in turn, so a client with many requests waiting delays another by one at most.
    With ``drop_gone``, a request whose client has gone by its turn is not worked on (ConnectionError)."""

    def __init__(self, name: str, threads: int = LANE_THREADS, drop_gone: bool = False) -> None:
        self.threads, self.drop_gone = threads, drop_gone
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=f"tltui-{name}")
        self._busy = 0
        self._waiting: dict[object, collections.deque[asyncio.Future]] = {}

    async def run(self, fn: Callable[..., R], *args: object) -> R:
        """``fn(*args)`` on one of this lane's threads, once it is the asking client's turn."""
        client = _client.get()
        if self._busy < self.threads and not self._waiting:
            self._busy += 1
        else:
            turn = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(client, collections.deque()).append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._next()  # handed a thread it will not use
                raise
        try:
            if self.drop_gone and client is not None and client.closed:
                raise ConnectionError("the client went away before its turn")
            return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))
        finally:
            self._next()

    def _next(self) -> None:
        """Hand the thread just freed to the first client in turn, who then goes to the back."""
        for client in list(self._waiting):
            queue = self._waiting.pop(client)
            turn = queue.popleft()
            if queue:
                self._waiting[client] = queue
            if not turn.done():
                turn.set_result(None)
                return
        self._busy -= 1


class Daemon:
    """Runs the queue and answers requests; the engine (torch) is imported when this is created."""

    def __init__(self, store: RunStore | None = None) -> None:
        from tltui.engine import device, train

        self.engine = train
        self.capabilities = device.capabilities()
        self.store = store or RunStore()
        self.active: dict[str, ActiveRun] = {}
        self.connections: list[Connection] = []
        self.gpus = [d for d in self.capabilities.devices if d.startswith("cuda")]
        self.slots = self.gpus if len(self.gpus) > 1 else [""]
        """What runs take while they train: each GPU of a host with several, else the host's one device."""
        self.busy: dict[str, str] = {}
        """Slot -> the run that holds it."""
        self.pending: list[str] = []
        """Runs waiting for their slots, first come first served."""
        self.unrecorded: dict[str, tuple[str, str]] = {}
        """Run -> (status, reason) of runs whose end could not be written (a read-only filesystem): listed so."""
        self.training: set[asyncio.Task] = set()
        self.loop = asyncio.get_running_loop()
        self.store_lane, self.runs_lane, self.jobs_lane = Lane("store"), Lane("runs"), Lane("jobs", drop_gone=True)
        self._trainers = ThreadPoolExecutor(len(self.slots), thread_name_prefix="tltui-train")
        """One thread per slot: a run trains only while it holds one."""

    # -- requests ---------------------------------------------------------------------------

    async def handle(self, conn: Connection, line: bytes) -> None:
        """Answer one request line; nothing a client sends can stop the worker."""
        try:
            request = protocol.decode_request(line)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as error:
            why = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            conn.send(Error(id=_request_id(line), message=f"bad request: {why}"))
            return
        _client.set(conn)
        try:
            result = await self._dispatch(conn, request)
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
            conn.send(protocol.reply(request.id, result))

    async def _dispatch(self, conn: Connection, request: protocol.AnyRequest) -> msgspec.Struct | list:
        """The reply ``request`` declares (``request.reply``), or _Refused with one line."""
        if isinstance(request, GetCapabilities):
            return self.capabilities
        if isinstance(request, ListRuns):
            return self._with_devices(await self.store_lane.run(self.store.summaries))
        if isinstance(request, StartRun):
            return await self._start(conn, request.config)
        if isinstance(request, protocol.StartDiagnosis):
            return await self._diagnose(conn, request)
        if isinstance(request, ResumeRun):
            return await self._resume(conn, request.run_id)
        if isinstance(request, CancelRun):
            return await self._cancel(request.run_id)
        if isinstance(request, GetEvents):
            return await self._events(conn, request)
        if isinstance(request, protocol.PICTURE_REQUESTS):
            return await self._picture(request)
        if isinstance(request, LossPictures):
            return await self._loss_pictures(request)
        if isinstance(request, protocol.FindLr):
            return await self._find_lr(conn, request)
        if isinstance(request, protocol.WriteBuiltin):
            from tltui.engine import builtin_folder

            return await self._checked(self.jobs_lane, builtin_folder.write, request)
        if isinstance(request, protocol.Capacity):
            return await self._capacity(conn, request)
        if isinstance(request, protocol.DescribeBackbone):
            from tltui.engine import backbone_info

            return await self._checked(self.jobs_lane, backbone_info.describe, request)
        raise _Refused(f"unsupported request {type(request).__name__}")

    async def _picture(self, request: protocol.Request[Any]) -> msgspec.Struct:
        """A lesson widget's pictures, computed in a thread: runs and other requests go on meanwhile."""
        from tltui.core.errors import BadInput
        from tltui.engine import pictures

        try:
            return await self.jobs_lane.run(pictures.answer, request)
        except BadInput as error:
            raise _Refused(str(error)) from None

    async def _loss_pictures(self, request: LossPictures) -> LossPicturesReply:
        """The top-loss images of a finished run, as its stored config and error analysis name them."""
        from tltui.engine.loss_pictures import loss_pictures

        run = self._run(request.run_id)
        try:
            events = await self.store_lane.run(run.events)
            config = await self.store_lane.run(lambda: run.config)
        except RunDamaged as error:
            raise _Refused(str(error)) from None
        finished = next((e for e in reversed(events) if isinstance(e, protocol.Finished)), None)
        if finished is None or finished.analysis is None:
            why = "has not finished" if finished is None else "was recorded without an error analysis (an older tltui)"
            raise _Refused(f"run {run.id} {why}: no top losses to show")
        pictures = await self._checked(self.jobs_lane, loss_pictures, config, finished.analysis.top_losses,
                                       request.display)
        return LossPicturesReply(run_id=run.id, pictures=pictures)
    async def _find_lr(self, conn: Connection, request: protocol.FindLr) -> protocol.LrFound:
        """The LR range test, in a thread, told step by step to the client that asked (``Working``); it
        stops if that client goes. A short job: seconds, nothing stored, so no run and no queue."""
        from tltui.core.errors import BadInput
        from tltui.engine import lr_find

        def report(done: int, total: int, lr: float, loss: float) -> None:
            working = protocol.Working(id=request.id, done=done, total=total, text=f"LR {lr:.1e}, loss {loss:.3f}")
            self.loop.call_soon_threadsafe(conn.send, working)

        try:
            return await self.jobs_lane.run(lr_find.find, request, report, lambda: conn.closed)
        except BadInput as error:
            raise _Refused(str(error)) from None

    async def _capacity(self, conn: Connection, request: protocol.Capacity) -> protocol.CapacityReply:
        """The capacity sweep (engine/capacity.py), a short job like the LR finder: fit by fit to the client
        that asked (``Working``), stopped if it goes, nothing stored."""
        from tltui.engine import capacity

        def report(done: int, total: int, text: str) -> None:
            working = protocol.Working(id=request.id, done=done, total=total, text=text)
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

    async def _start(self, conn: Connection, config: RunConfig) -> RunStarted:
        self._check_processes(config)
        config = await self._checked(self.runs_lane, self.engine.check, config)
        run, recorder = await self._checked(self.runs_lane, self._new_run, config)
        return self._enqueue(conn, ActiveRun(run, recorder, config))

    def _check_processes(self, config: RunConfig) -> None:
        """Refuse in one line a run that asks for more GPUs than this host has (one that waits for GPUs
        other runs hold is queued instead), or for several processes on a device that cannot share them."""
        n = config.nproc
        if n == 1:
            return
        asked = "--nproc all" if n == 0 else f"--nproc {n}"
        if config.device == "cpu":
            return _check_cores(asked, n)
        if not self.gpus:
            if n == 0:
                raise _Refused(f"{asked} takes every free GPU, and this host has none: use --device cpu --nproc N "
                               "for N CPU processes")
            if "mps" in self.capabilities.devices and config.device == "auto":
                raise _Refused(f"{asked}: the Apple GPU (MPS) is one device that processes cannot share; use "
                               f"--device cpu --nproc {n} for CPU processes, or --nproc 1")
            return _check_cores(asked, n)  # auto on a CPU-only host: CPU processes
        if n > len(self.gpus):
            raise _Refused(f"{asked} takes {n} GPUs, one process each, and this host has {len(self.gpus)} "
                           f"({', '.join(self.gpus)}): use --nproc {len(self.gpus)} or fewer")

    async def _diagnose(self, conn: Connection, request: protocol.StartDiagnosis) -> RunStarted:
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

    async def _resume(self, conn: Connection, run_id: str) -> RunStarted:
        run = self._run(run_id)
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
        self.pending.append(run_id)
        self._schedule()
        waiting = self.pending.index(run_id) if run_id in self.pending else 0
        return RunStarted(run_id=run_id, run_dir=str(active.run.path), queued_behind=waiting,
                          devices=[s for s in active.slots if s])

    # -- the queue ----------------------------------------------------------------------------

    def _schedule(self) -> None:
        """Start every waiting run whose slots are free, in order. A run that cannot start holds back the
        slots it waits for from the runs behind it: the GPU it names, or every slot when it waits for a
        number of GPUs (or for the host's one device), so a run of several GPUs is never starved."""
        free = [s for s in self.slots if s not in self.busy]
        for run_id in list(self.pending):
            active = self.active[run_id]
            taken = self._claim(active.config, free)
            if taken is None:
                free = [s for s in free if s != active.config.device] if active.config.device in self.slots else []
                continue
            self.pending.remove(run_id)
            free = [s for s in free if s not in taken]
            self._launch(active, taken)

    def _claim(self, config: RunConfig, free: list[str]) -> list[str] | None:
        """The slots ``config`` takes from ``free`` now, or None if it must wait."""
        if self.slots == [""]:
            return [""] if free else None
        if config.device in self.slots:
            return [config.device] if config.device in free else None
        n = config.nproc
        if n == 1 or config.device not in ("auto", "cuda"):
            return free[:1] or None  # one GPU, or a CPU run, which takes a turn as on a host of one device
        if n == 0:  # every free GPU, as many as divide the global batch
            n = max((k for k in range(1, len(free) + 1) if config.batch_size % k == 0), default=0)
        return free[:n] if n and len(free) >= n else None

    def _launch(self, active: ActiveRun, slots: list[str]) -> None:
        active.started = True
        active.slots = slots
        for slot in slots:
            self.busy[slot] = active.run.id
        config = active.config
        gpus = [s for s in slots if s]
        if config.nproc != 1 and config.device in ("auto", "cuda") and self.gpus:
            active.processes = len(gpus) if gpus else 1  # one per GPU; a host of one GPU: that one
            device = "cuda"
        else:
            active.processes = max(config.nproc, 1)
            device = gpus[0] if gpus and config.device in ("auto", "cuda") else config.device
        active.config = msgspec.structs.replace(config, device=device, nproc=active.processes)
        task = asyncio.create_task(self._train_task(active))
        self.training.add(task)
        task.add_done_callback(self.training.discard)

    def _with_devices(self, summaries: list[protocol.RunSummary]) -> list[protocol.RunSummary]:
        """The store's summaries, with what each run that trains now holds, and the end of a run that could
        not be written (the store says it runs while this daemon, its owner, lives)."""
        held = {run_id: a for run_id, a in self.active.items() if a.started}
        listed = []
        for s in summaries:
            if s.run_id in held:
                s = msgspec.structs.replace(s, devices=_holds(held[s.run_id]))
            elif s.run_id in self.unrecorded and s.status in ("running", "interrupted"):
                status, reason = self.unrecorded[s.run_id]
                s = msgspec.structs.replace(s, status=status, reason=reason)
            listed.append(s)
        return listed

    async def _cancel(self, run_id: str) -> Cancelling:
        """Stop a running run (its id, or a unique prefix of it) at the end of its batch."""
        run = self._run(run_id)
        active = self.active.get(run.id)
        if active is None:
            raise _Refused(f"run {run.id} is not running ({(await self.store_lane.run(run.summary)).status})")
        active.stop.set()
        if not active.started and run.id in self.pending:  # queued: it ends now, and the queue moves on
            self.pending.remove(run.id)
            try:
                await self.runs_lane.run(functools.partial(self._end, active, Cancelled, epoch=0,
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

    async def _train_task(self, active: ActiveRun) -> None:
        """Train one run in a thread; nothing it does ends the daemon. Its slots are freed when it ends,
        and the queue moves on."""
        run_id = active.run.id
        try:
            await self.loop.run_in_executor(self._trainers, self._train, active)
        except Exception as error:  # a bug: it ends this run, never the queue
            log(traceback.format_exc())
            with contextlib.suppress(Exception):
                self._end(active, Failed, reason=f"internal error: {type(error).__name__}: {error}",
                          hint="this is a bug in tltui; please report it")
        finally:
            active.recorder.close()
            if self.active.get(run_id) is active:
                del self.active[run_id]
            for slot in active.slots:
                if self.busy.get(slot) == run_id:
                    del self.busy[slot]
            self._schedule()

    def _train(self, active: ActiveRun) -> None:
        """Load the run's data and model (only now: a queued run holds neither), train, and end it."""
        from tltui.core.errors import BadInput, RunFailure

        active.run.drop_leftovers()
        try:
            if active.diagnose is not None:
                from tltui.engine import diagnose

                diagnose.run(active.config, active.diagnose.budget_s, active.run.path, active.recorder.emit,
                             active.stop.is_set)
                return
            if active.processes > 1:
                return self._train_processes(active)
            prepared = self.engine.prepare(active.config)
            self.engine.train(prepared, active.run.path, active.recorder.emit, active.stop.is_set,
                              resume=active.resume)
        except RunFailure as failure:
            self._end(active, Failed, reason=failure.reason, hint=failure.hint)
        except BadInput as error:
            self._end(active, Failed, reason=str(error), hint="fix the input and start a new run")
        except OSError as error:
            self._end(active, Failed, reason=files.full_disk(error), hint=_again(active.run))
        except MemoryError:
            self._end(active, Failed, reason="the worker ran out of memory",
                      hint="fewer images (--limit-per-class), a smaller --image-size or --batch-size, or free "
                      "memory on the worker's host")
        except Exception as error:
            log(traceback.format_exc())
            self._end(active, Failed, reason=f"internal error: {type(error).__name__}: {error}",
                      hint="this is a bug in tltui; please report it")

    def _train_processes(self, active: ActiveRun) -> None:
        """Train in torchrun's processes (worker/ranks.py), recording rank 0's events as this run's."""
        from tltui.worker import ranks

        gpus = [s for s in active.slots if s] if active.config.device == "cuda" else []
        held = (f"the worker reserved {', '.join(gpus)} for this run: one process each (torchrun, NCCL)" if gpus
                else f"the worker trains this run in {active.processes} CPU processes (torchrun, gloo)")

        def record(event: RunEvent) -> None:
            fields = {f: getattr(event, f) for f in event.__struct_fields__ if f not in ("run_id", "seq", "time")}
            if isinstance(event, protocol.Started) and gpus:
                fields["device"] = ",".join(gpus)
            active.recorder.emit(type(event), **fields)
            if isinstance(event, protocol.Started):
                active.recorder.emit(protocol.Note, message=held)

        outcome = ranks.train(active.run.path, active.config, active.processes, gpus, resume=active.resume,
                              emit=record, should_stop=active.stop.is_set, log=log)
        if outcome.ended:
            return
        log(f"run {active.run.id}: {outcome.reason}\n" + "\n".join(outcome.log[-30:]))
        self._end(active, Failed, reason=outcome.reason, hint=outcome.hint or _again(active.run))

    def _end(self, active: ActiveRun, cls: type[RunEvent], **fields: Any) -> None:
        """Record the run's end; if even that cannot be written, tell its clients all the same and give the
        run up (no owner: the store lists it interrupted, and the next worker marks it failed)."""
        try:
            active.recorder.emit(cls, **fields)
        except OSError as error:
            log(f"run {active.run.id}: {files.full_disk(error)}")
            status = {Failed: "failed", Cancelled: "cancelled"}.get(cls, "finished")
            self.unrecorded[active.run.id] = (status, f"{fields.get('reason', status)} (not recorded: "
                                                      f"{files.full_disk(error)})")
            active.recorder.announce(cls, **fields)
            with contextlib.suppress(OSError):
                (active.run.path / "owner").unlink()

    def fail_orphans(self) -> list[str]:
        """Runs whose worker died mid-way (no end event, owner gone) end as failed, and those it had only
        queued (never started; not a diagnosis, whose budget is not stored) are queued here again; a line for
        the log about each."""
        said = []
        for run in self.store.all():
            summary = run.summary()
            if summary.status != "interrupted" or summary.config is None:  # no config: damaged
                continue
            run.drop_leftovers()
            try:
                if summary.config.preset != "diagnose" and not any(
                        isinstance(e, protocol.Started) for e in run.events()):
                    self.store.claim(run)
                    recorder = RunRecorder(run)
                    recorder.emit(protocol.Note, message="queued again: the worker it waited in had stopped")
                    self._enqueue(None, ActiveRun(run, recorder, summary.config))
                    said.append(f"run {run.id}: its worker had died before it started; queued again")
                    continue
                recorder = RunRecorder(run)
                try:
                    recorder.emit(Failed, reason="the worker stopped during this run (killed or crashed)",
                                  hint=_again(run))
                finally:
                    recorder.close()
            except (OSError, RunDamaged) as error:
                log(f"run {run.id}: could not mark it failed ({error})")
                continue
            said.append(f"run {run.id}: its worker had died; marked failed")
        return said

    @property
    def idle(self) -> bool:
        return not self.connections and not self.active


class _Refused(Exception):
    """A request that cannot be done; the message goes back to the client as an error."""


def _check_cores(asked: str, n: int) -> None:
    """Refuse more CPU processes than this host has cores: they would only wait on each other."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if n > cores:
        raise _Refused(f"{asked} CPU processes: this host has {cores} cores, and more processes than cores only "
                       f"wait on each other: use --nproc {cores} or fewer")


def _holds(active: ActiveRun) -> list[str]:
    """What a training run holds, for the run list: its GPUs, or its CPU processes."""
    gpus = [s for s in active.slots if s]
    if gpus and active.config.device != "cpu":
        return gpus
    return [f"cpu x{active.processes}" if active.processes > 1 else "cpu" if active.config.device == "cpu"
            else active.config.device]


def _again(run: Run) -> str:
    """What to do about a run that stopped: resume it if it has a checkpoint, else start it again."""
    if (run.path / "resume.pt").is_file():
        return f"resume it from its last checkpoint: tltui runs resume {run.id}"
    return "it saved no checkpoint before it stopped: start it again"


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
    from tltui.core.paths import private_runs_dir
    from tltui.worker.sockets import SOCKET, private_dir

    try:
        directory = private_dir()
        private_runs_dir()
    except files.UnsafePath as error:
        log(f"tltui worker: {error}")
        return 2
    path = directory / SOCKET
    lock = await _lock_or_wait(directory, path)
    if lock is None:
        return 0
    worker = Daemon()
    if _answers(path):  # one whose folder was removed, and which made it again while this one started
        lock.close()
        return 0
    for line in worker.fail_orphans():
        log(line)
    listener = Listener(worker, lock)
    await listener.bind()
    idle_since = time.monotonic()
    while True:
        await asyncio.sleep(REBIND_CHECK_S)
        if listener.lost():
            await listener.bind()
        if not worker.idle:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > idle_exit_s:
            break
    listener.close()
    return 0


REBIND_CHECK_S = 0.5
"""How often the daemon checks that its socket is still there (a temp-file cleaner may remove it)."""


class Listener:
    """The daemon's socket; bound again, by ``bind``, when ``lost`` says its file has gone (the folder made
    again too, and the lock taken on its new file), so a live daemon is never out of reach."""

    def __init__(self, worker: Daemon, lock: BinaryIO) -> None:
        from tltui.worker.sockets import SOCKET, socket_dir

        self.worker, self.lock = worker, lock
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
        from tltui.worker.sockets import PID, address, private_dir

        try:
            directory = private_dir()
            self._relock(directory)
            self.path.unlink(missing_ok=True)
            old_umask = os.umask(0o077)  # the socket is born private
            try:
                with address(self.path) as where:
                    server = await asyncio.start_unix_server(lambda r, w: serve_connection(self.worker, r, w),
                                                             path=where, limit=MAX_LINE + 1)
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
        import fcntl

        from tltui.worker.sockets import LOCK

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


async def _lock_or_wait(directory: Path, path: Path) -> BinaryIO | None:
    """The daemon lock (an open file), or None once another daemon, which holds it, answers on ``path``."""
    import fcntl

    from tltui.worker.sockets import LOCK

    lock = open(os.open(directory / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600), "r+b")
    deadline = time.monotonic() + START_WAIT_S
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lock
        except BlockingIOError:
            pass
        if _answers(path):
            lock.close()
            return None
        if time.monotonic() > deadline:
            raise SystemExit(f"tltui worker: another daemon holds {directory / LOCK} but has not answered "
                             f"in {START_WAIT_S:.0f} s")
        await asyncio.sleep(0.05)


def _answers(path: Path) -> bool:
    """True if a daemon accepts connections on ``path``."""
    from tltui.worker.sockets import address

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            with address(path) as where:
                probe.connect(where)
        except OSError:
            return False
    return True
