"""The run store: ids, events numbered and flushed, torn lines survived, statuses derived."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tltui.protocol import Epoch, Finished, Note, RunConfig, Started
from tltui.runs import RunNotFound, RunRecorder, RunStore


def epoch(recorder: RunRecorder, n: int, acc: float) -> None:
    recorder.emit(Epoch, epoch=n, train_loss=1.0, train_acc=acc, val_loss=1.0, val_acc=acc, lrs={},
                  images_per_s=1.0, elapsed=1.0, eta=1.0)


def test_recorder_numbers_and_flushes_events(tmp_path):
    store = RunStore(tmp_path)
    run = store.create(RunConfig(epochs=3))
    recorder = RunRecorder(run)
    seen = []
    recorder.listeners.append(seen.append)
    recorder.emit(Note, message="hello")
    epoch(recorder, 1, 0.5)
    assert [e.seq for e in run.events()] == [1, 2]  # on disk before close: flushed per event
    assert [e.seq for e in seen] == [1, 2] and all(e.run_id == run.id for e in seen)
    assert [e.seq for e in run.events(after_seq=1)] == [2]
    recorder.close()
    again = RunRecorder(run)  # a resumed run continues the numbering
    assert again.emit(Note, message="again").seq == 3
    again.close()


def test_torn_last_line_is_skipped_and_the_run_still_lists(tmp_path):
    store = RunStore(tmp_path)
    run = store.create(RunConfig(epochs=2))
    recorder = RunRecorder(run)
    epoch(recorder, 1, 0.25)
    epoch(recorder, 2, 0.75)
    recorder.close()
    data = run.events_path.read_bytes()
    run.events_path.write_bytes(data[: len(data) - 20])  # power lost mid-write
    assert [e.seq for e in run.events()] == [1]
    (summary,) = store.summaries()
    assert summary.epochs_done == 1 and summary.best_val_acc == 0.25


def test_status_is_derived_from_events_and_the_owner(tmp_path):
    store = RunStore(tmp_path)
    run = store.create(RunConfig())
    assert run.summary().status == "running"  # this process owns it
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (run.path / "owner").write_text(dead.stdout.strip())
    assert run.summary().status == "interrupted"
    recorder = RunRecorder(run)
    recorder.emit(Finished, best_val_acc=0.9, best_epoch=1, classes=["a"], per_class_acc={"a": 0.9},
                  confusion=[[1]], run_dir=str(run.path), elapsed=1.0)
    recorder.close()
    assert run.summary().status == "finished"


def test_get_by_id_or_unique_prefix(tmp_path):
    store = RunStore(tmp_path)
    first, second = store.create(RunConfig()), store.create(RunConfig())
    assert store.get(first.id).path == first.path
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        store.get("nope")
    with pytest.raises(RunNotFound, match="matches 2 runs"):
        store.get(first.id[:8])
    with pytest.raises(RunNotFound):
        store.get("../etc")
    assert [r.id for r in store.all()] == sorted([first.id, second.id])


def test_started_event_survives_the_store(tmp_path):
    run = RunStore(tmp_path).create(RunConfig())
    recorder = RunRecorder(run)
    recorder.emit(Started, config=RunConfig(), device="cpu", device_name="cpu", model="resnet50",
                  weights="none", classes=["a", "b"], n_train=4, n_val=2, path="full")
    recorder.close()
    (event,) = run.events()
    assert isinstance(event, Started) and event.classes == ["a", "b"]
