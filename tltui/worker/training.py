"""Runs training in the daemon: one thread per slot, a run in it from its data to its last event.

A queued run holds its checked config only: its data and model are loaded when it starts. A run over several
processes trains in torchrun's (worker/ranks.py), its rank 0's events recorded as its own; so does a
deterministic run, in one process of its own (engine/determinism.py says why). Whatever ends a
run (a full disk, a bug, bad input found late) ends it failed with one reason, and the daemon goes on; an
end that cannot even be written is told to the run's clients all the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from tltui.core import files
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import Cancelled, Failed, Note, RunEvent, Started
from tltui.core.protocol.requests import StartDiagnosis
from tltui.worker.log import log
from tltui.worker.store import Run, RunRecorder


@dataclass
class ActiveRun:
    """A run that is queued or training in this worker: its checked config, no data or model yet."""

    run: Run
    recorder: RunRecorder
    config: RunConfig
    resume: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    diagnose: StartDiagnosis | None = None
    """Set for a ``tltui diagnose`` run: it measures the strategies instead of training one."""
    slots: list[str] = field(default_factory=list)
    """What it holds while it trains: GPUs (``cuda:N``) on a host with several, else ``""``, the device."""
    processes: int = 1
    """Processes it trains in (torch.distributed); more than 1 runs torchrun."""

    def holds(self) -> list[str]:
        """What a training run holds, for the run list: its GPUs, or its CPU processes."""
        gpus = [s for s in self.slots if s]
        if gpus and self.config.device != "cpu":
            return gpus
        return [f"cpu x{self.processes}" if self.processes > 1 else "cpu" if self.config.device == "cpu"
                else self.config.device]


class Training:
    """Trains runs with ``engine`` (tltui.engine.train), in ``threads`` threads, and records how each ends."""

    def __init__(self, engine: ModuleType, threads: int) -> None:
        self.engine = engine
        self.unrecorded: dict[str, tuple[str, str]] = {}
        """Run -> (status, reason) of runs whose end could not be written (a read-only filesystem): listed so."""
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="tltui-train")
        """One thread per slot: a run trains only while it holds one."""

    async def run(self, active: ActiveRun) -> None:
        """Train ``active`` in a thread of its own; nothing it does, a bug included, raises here."""
        try:
            await asyncio.get_running_loop().run_in_executor(self._threads, self.train, active)
        except Exception as error:  # a bug: it ends this run, never the queue
            log(traceback.format_exc())
            with contextlib.suppress(Exception):
                self.end(active, Failed, reason=f"internal error: {type(error).__name__}: {error}",
                         hint="this is a bug in tltui; please report it")

    def train(self, active: ActiveRun) -> None:
        """Load the run's data and model (only now: a queued run holds neither), train, and end it."""
        from tltui.core.errors import BadInput, RunFailure

        active.run.drop_leftovers()
        try:
            if active.diagnose is not None:
                from tltui.engine import diagnose

                diagnose.run(active.config, active.diagnose.budget_s, active.run.path, active.recorder.emit,
                             active.stop.is_set)
                return
            if active.processes > 1 or active.config.deterministic:
                return self.train_processes(active)
            prepared = self.engine.prepare(active.config)
            self.engine.train(prepared, active.run.path, active.recorder.emit, active.stop.is_set,
                              resume=active.resume)
        except RunFailure as failure:
            self.end(active, Failed, reason=failure.reason, hint=failure.hint)
        except BadInput as error:
            self.end(active, Failed, reason=str(error), hint="fix the input and start a new run")
        except OSError as error:
            self.end(active, Failed, reason=files.full_disk(error), hint=again(active.run))
        except MemoryError:
            self.end(active, Failed, reason="the worker ran out of memory",
                     hint="fewer images (--limit-per-class), a smaller --image-size or --batch-size, or free "
                     "memory on the worker's host")
        except Exception as error:
            log(traceback.format_exc())
            self.end(active, Failed, reason=f"internal error: {type(error).__name__}: {error}",
                     hint="this is a bug in tltui; please report it")

    def train_processes(self, active: ActiveRun) -> None:
        """Train in torchrun's processes (worker/ranks.py), recording rank 0's events as this run's."""
        from tltui.worker import ranks

        gpus = [s for s in active.slots if s] if active.config.device == "cuda" else []
        if active.processes == 1:
            held = ("a deterministic run trains in a process of its own: torch's determinism settings hold for a "
                    "whole process, and the worker's other runs are threads of its")
        elif gpus:
            held = f"the worker reserved {', '.join(gpus)} for this run: one process each (torchrun, NCCL)"
        else:
            held = f"the worker trains this run in {active.processes} CPU processes (torchrun, gloo)"

        def record(event: RunEvent) -> None:
            fields = {f: getattr(event, f) for f in event.__struct_fields__ if f not in ("run_id", "seq", "time")}
            if isinstance(event, Started) and gpus:
                fields["device"] = ",".join(gpus)
            active.recorder.emit(type(event), **fields)
            if isinstance(event, Started):
                active.recorder.emit(Note, message=held)

        outcome = ranks.train(active.run.path, active.config, active.processes, gpus, resume=active.resume,
                              emit=record, should_stop=active.stop.is_set, log=log)
        if outcome.ended:
            return
        log(f"run {active.run.id}: {outcome.reason}\n" + "\n".join(outcome.log[-30:]))
        self.end(active, Failed, reason=outcome.reason, hint=outcome.hint or again(active.run))

    def end(self, active: ActiveRun, cls: type[RunEvent], **fields: Any) -> None:
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


def again(run: Run) -> str:
    """What to do about a run that stopped: resume it if it has a checkpoint, else start it again."""
    if (run.path / "resume.pt").is_file():
        return f"resume it from its last checkpoint: tltui runs resume {run.id}"
    return "it saved no checkpoint before it stopped: start it again"

