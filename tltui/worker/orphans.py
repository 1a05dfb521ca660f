"""Runs a dead worker left behind, dealt with by the next one when it starts.

A run whose worker died mid-way (no end event, its owner gone) ends failed, saying how to go on; one it had
only queued (never started; not a diagnosis, whose budget is not stored) is queued again.
"""

from __future__ import annotations

from collections.abc import Callable

from tltui.core.protocol.events import Failed, Note, Started
from tltui.worker.log import log
from tltui.worker.store import RunDamaged, RunRecorder, RunStore
from tltui.worker.training import ActiveRun, again


def recover(store: RunStore, requeue: Callable[[ActiveRun], object]) -> list[str]:
    """Mark the interrupted runs of ``store`` failed, and ``requeue`` those that never started; a line for
    the log about each."""
    said = []
    for run in store.all():
        summary = run.summary()
        if summary.status != "interrupted" or summary.config is None:  # no config: damaged
            continue
        run.drop_leftovers()
        try:
            if summary.config.preset != "diagnose" and not any(
                    isinstance(e, Started) for e in run.events()):
                store.claim(run)
                recorder = RunRecorder(run)
                recorder.emit(Note, message="queued again: the worker it waited in had stopped")
                requeue(ActiveRun(run, recorder, summary.config))
                said.append(f"run {run.id}: its worker had died before it started; queued again")
                continue
            recorder = RunRecorder(run)
            try:
                recorder.emit(Failed, reason="the worker stopped during this run (killed or crashed)",
                              hint=again(run))
            finally:
                recorder.close()
        except (OSError, RunDamaged) as error:
            log(f"run {run.id}: could not mark it failed ({error})")
            continue
        said.append(f"run {run.id}: its worker had died; marked failed")
    return said
