"""The run store: ids, events numbered and flushed, torn lines survived, statuses derived."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from tltui.core.protocol.codec import MAX_EVENT
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import Diagnosis, Epoch, Failed, Finished, Note, Started, StrategyResult
from tltui.worker.store import RunDamaged, RunNotFound, RunRecorder, RunStore


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


def test_runs_made_in_one_second_with_the_same_suffix_get_different_ids(tmp_path, monkeypatch):
    """Ids are the second and 16 random bits: 150 runs made at once met a taken id about one time in six
    (a CI run failed so). A taken suffix is drawn again; a store with none free says so."""
    from tltui.worker import store as store_module

    monkeypatch.setattr(store_module.time, "strftime", lambda _: "20261129-131259")
    suffixes = iter(["e835", "e835", "e835", "beef"])
    monkeypatch.setattr(store_module.secrets, "token_hex", lambda _: next(suffixes))
    store = RunStore(tmp_path / "runs")
    first, second = store.create(RunConfig()), store.create(RunConfig())
    assert (first.id, second.id) == ("20261129-131259-e835", "20261129-131259-beef")
    assert store.get(second.id).config == RunConfig()
    monkeypatch.setattr(store_module.secrets, "token_hex", lambda _: "e835")
    with pytest.raises(OSError, match="no free run id"):
        store.create(RunConfig())


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


# -- damage, torn lines, reused pids, links: the store's faults of issue 11 ---------------------


def test_a_run_whose_files_cannot_be_read_is_listed_damaged(tmp_path):
    store = RunStore(tmp_path)
    corrupt, no_events, no_config, fine = (store.create(RunConfig()) for _ in range(4))
    (corrupt.path / "config.json").write_text("{not json")
    (no_events.path / "events.jsonl").mkdir()
    (no_config.path / "config.json").unlink()
    summaries = {s.run_id: s for s in store.summaries()}
    assert len(summaries) == 4 and summaries[fine.id].status == "running"
    for run, words in ((corrupt, "its config.json is not a run config"), (no_events, "cannot read its events.jsonl"),
                       (no_config, "cannot read its config.json")):
        summary = summaries[run.id]
        assert summary.status == "damaged" and summary.config is None
        assert summary.reason.startswith(f"run {run.id} is damaged: {words}") and "\n" not in summary.reason
        assert store.get(run.id).id == run.id
    with pytest.raises(RunDamaged, match="events.jsonl"):
        no_events.events()


def test_after_a_torn_line_the_next_event_starts_on_a_line_of_its_own(tmp_path):
    run = RunStore(tmp_path).create(RunConfig(epochs=3))
    recorder = RunRecorder(run)
    epoch(recorder, 1, 0.5)
    epoch(recorder, 2, 0.6)
    recorder.close()
    data = run.events_path.read_bytes()
    run.events_path.write_bytes(data[:-25])  # the power went in the middle of epoch 2's line
    again = RunRecorder(run)
    failed = again.emit(Failed, reason="the worker stopped during this run")
    again.close()
    events = run.events()
    assert [type(e) for e in events] == [Epoch, Failed] and failed.seq == 2
    assert run.summary().status == "failed"


def test_an_event_too_long_for_one_line_is_summarised_and_the_run_still_finished(tmp_path):
    run = RunStore(tmp_path).create(RunConfig())
    recorder = RunRecorder(run)
    classes = [f"class-{i:04d}-{'x' * 40}" for i in range(1500)]
    recorder.emit(Finished, best_val_acc=0.5, best_epoch=1, classes=classes, per_class_acc=dict.fromkeys(classes, 0.5),
                  confusion=[[1] * 1500 for _ in range(1500)], run_dir=str(run.path), elapsed=1.0)
    recorder.close()
    assert max(len(line) for line in run.events_path.read_bytes().splitlines()) < MAX_EVENT
    (finished,) = run.events()
    assert isinstance(finished, Finished) and finished.best_val_acc == 0.5 and finished.confusion == []
    assert run.summary().status == "finished"


def test_an_owner_pid_now_used_by_another_process_does_not_keep_a_run_running(tmp_path):
    run = RunStore(tmp_path).create(RunConfig())
    assert run.summary().status == "running"  # this process wrote the owner file
    mine = (run.path / "owner").read_text().split()
    other = subprocess.Popen(["sleep", "60"])
    try:
        (run.path / "owner").write_text(f"{other.pid} {mine[1]}")  # its pid, the start time of the writer
        assert run.summary().status == "interrupted"
        RunStore.claim(run)
        assert run.summary().status == "running"
    finally:
        other.kill()
        other.wait()


def test_epochs_trained_again_after_a_resume_are_counted_once(data_dir):
    run = RunStore(data_dir / "runs").create(RunConfig(epochs=4))
    recorder = RunRecorder(run)
    for n, acc in ((1, 0.2), (2, 0.3), (3, 0.9)):  # killed after epoch 3, last checkpoint after epoch 1
        epoch(recorder, n, acc)
    recorder.emit(Started, config=RunConfig(epochs=4), device="cpu", device_name="cpu", model="resnet50",
                  weights="none", classes=["a"], n_train=1, n_val=1, path="full", resumed_from=1)
    for n, acc in ((2, 0.4), (3, 0.5), (4, 0.6)):
        epoch(recorder, n, acc)
    recorder.close()
    summary = run.summary()
    assert summary.epochs_done == 4 and summary.best_val_acc == 0.6  # 0.9 came from weights no file holds
    shown = subprocess.run([sys.executable, "-m", "tltui", "runs", "show", run.id], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert [shown.stdout.count(f"epoch {n}/4 ") for n in (1, 2, 3, 4)] == [1, 1, 1, 1]
    assert "acc 90.0%" not in shown.stdout and "resumed after epoch 1" in shown.stdout


def test_the_store_writes_private_files_and_follows_no_link(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("the victim's own file")
    store = RunStore(tmp_path / "runs")
    run = store.create(RunConfig())
    assert stat.S_IMODE(run.path.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in run.path.iterdir())
    (run.path / "owner").unlink()
    (run.path / "owner").symlink_to(secret)  # a link where a file will be written
    RunStore.claim(run)
    (run.path / "events.jsonl").symlink_to(secret)
    with pytest.raises(OSError):
        RunRecorder(run)  # appending never follows a link either
    assert secret.read_text() == "the victim's own file"
    assert not (run.path / "owner").is_symlink() and (run.path / "owner").read_text().split()[0] == str(os.getpid())


def test_the_list_names_each_runs_model_and_marks_a_diagnosis_score_cross_validated(data_dir):
    store = RunStore(data_dir / "runs")
    tiny = store.create(RunConfig(model="tiny", epochs=1))
    recorder = RunRecorder(tiny)
    epoch(recorder, 1, 0.5)
    recorder.close()
    diagnosis = store.create(RunConfig(preset="diagnose"))
    recorder = RunRecorder(diagnosis)
    recorder.emit(Diagnosis, results={"probe": StrategyResult(acc=0.8, low=0.7, high=0.9, folds=3)}, quadrant=1,
                  recommend="feature-extraction", because="the probe is as good")
    recorder.close()
    listed = subprocess.run([sys.executable, "-m", "tltui", "runs"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split()[:3] == ["run", "status", "model"]
    (tiny_row,) = [row for row in rows if row.startswith(tiny.id)]
    (diagnosis_row,) = [row for row in rows if row.startswith(diagnosis.id)]
    assert tiny_row.split()[2] == "tiny" and diagnosis_row.split()[2] == "resnet50"
    assert "50.0%" in tiny_row and "cv" not in tiny_row.split()
    assert "80.0% cv" in diagnosis_row
    assert rows[-1].startswith("cv: ") and "cross-validation" in rows[-1]


def test_a_huge_events_file_is_listed_in_little_memory_and_once(tmp_path, monkeypatch):
    """A 427 MB events.jsonl (nearly all Progress) made `tltui runs` take 10 s and 2.1 GB, and the daemon as
    much per listing: the whole file was read, then every line decoded. Progress lines are now skipped
    undecoded, a megabyte read at a time, and an ended run's summary is kept until its files change."""
    import tracemalloc

    from tltui.core import files
    from tltui.core.protocol import codec
    from tltui.core.protocol.events import Progress

    store = RunStore(tmp_path)
    run = store.create(RunConfig(epochs=1))
    recorder = RunRecorder(run)
    epoch(recorder, 1, 0.5)
    recorder.close()
    line = codec.encode(Progress(run_id=run.id, seq=0, time=1.0, epoch=1, step=1, steps=9, train_loss=1.0,
                                             train_acc=0.5, images_per_s=1.0, elapsed=1.0, eta=1.0))
    with open(run.events_path, "ab") as file:
        file.write(b"".join(line.replace(b'"seq":0', b'"seq":%d' % seq) for seq in range(2, 200_002)))
    recorder = RunRecorder(run)
    recorder.emit(Failed, reason="stopped", hint="")
    recorder.close()
    assert run.events_path.stat().st_size > 30 * 2**20
    tracemalloc.start()
    (summary,) = store.summaries()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert (summary.status, summary.epochs_done, summary.last_seq) == ("failed", 1, 200_002)
    assert peak < 8 * 2**20, f"listing took {peak / 2**20:.0f} MiB"
    assert [type(e) for e in run.events(progress=False)] == [Epoch, Failed]

    def unread(*args):
        raise AssertionError("an ended run's unchanged files were read again")

    monkeypatch.setattr(files, "open_regular", unread)
    assert store.summaries() == [summary]
