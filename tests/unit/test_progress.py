"""The learner's progress: saved atomically, and a bad file never crashes nor gets silently overwritten."""

from __future__ import annotations

import concurrent.futures
import json
import os
import stat

import pytest

from tltui.ui.progress import LearnerProgress, ProgressStore


def test_round_trip(tmp_path):
    store = ProgressStore(tmp_path / "progress.json")
    progress = LearnerProgress()
    progress.visit("why-transfer")
    progress.visit("fine-tuning")
    progress.visit("why-transfer")
    progress.theme = "nord"
    store.save(progress)
    loaded = ProgressStore(tmp_path / "progress.json").load()
    assert loaded == LearnerProgress(last_lesson="why-transfer", visited=["why-transfer", "fine-tuning"], theme="nord")
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]


def test_missing_file_starts_fresh_without_notice(tmp_path):
    store = ProgressStore(tmp_path / "sub" / "progress.json")
    assert store.load() == LearnerProgress()
    assert store.notice == ""
    store.save(LearnerProgress(last_lesson="x", visited=["x"]))
    assert json.loads((tmp_path / "sub" / "progress.json").read_text())["last_lesson"] == "x"


def test_corrupt_file_is_kept_aside(tmp_path):
    path = tmp_path / "progress.json"
    path.write_text('{"last_lesson": "fine-tun')
    store = ProgressStore(path)
    assert store.load() == LearnerProgress()
    assert "unreadable" in store.notice and "\n" not in store.notice
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("progress.json.corrupt-")]
    assert len(aside) == 1 and aside[0].read_text() == '{"last_lesson": "fine-tun'
    store.save(LearnerProgress(last_lesson="a", visited=["a"]))
    assert json.loads(path.read_text())["last_lesson"] == "a"
    assert aside[0].exists()


def test_wrong_shape_counts_as_corrupt(tmp_path):
    path = tmp_path / "progress.json"
    path.write_text("[1, 2, 3]")
    store = ProgressStore(path)
    assert store.load() == LearnerProgress()
    assert "kept it as progress.json.corrupt-" in store.notice


def test_unreadable_path_is_never_written(tmp_path):
    path = tmp_path / "progress.json"
    path.mkdir()
    store = ProgressStore(path)
    assert store.load() == LearnerProgress()
    assert "will not be saved" in store.notice
    store.save(LearnerProgress(last_lesson="a"))
    assert path.is_dir()


def test_a_fifo_in_place_of_the_file_is_set_aside_not_waited_on(tmp_path):
    path = tmp_path / "progress.json"
    os.mkfifo(path)
    store = ProgressStore(path)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        progress = pool.submit(store.load).result(timeout=10)  # a blocking open would wait for a writer
    assert progress == LearnerProgress() and "kept it as progress.json.corrupt-" in store.notice
    store.save(LearnerProgress(last_lesson="x", visited=["x"]))
    assert path.is_file() and json.loads(path.read_text())["last_lesson"] == "x"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
def test_check_scores_round_trip_and_only_tried_checks_are_scored(tmp_path):
    store = ProgressStore(tmp_path / "progress.json")
    progress = LearnerProgress()
    progress.checks["fine-tuning"] = {"answers": {"same-lr": 2}, "right": 1, "best": 3, "total": 4}
    progress.checks["odd"] = {"best": "x", "total": 4}  # a hand-edited value: skipped, not a crash
    progress.checks["untried"] = {"answers": {}, "best": 0, "total": 0}
    store.save(progress)
    loaded = ProgressStore(tmp_path / "progress.json").load()
    assert loaded.checks["fine-tuning"]["answers"] == {"same-lr": 2}
    assert loaded.check_scores() == {"fine-tuning": (3, 4)}


@pytest.mark.parametrize("text, field", [
    ('{"checks": {"why-transfer": {"best": "x"}}}', "checks"),
    ('{"board_runs": [["a"]]}', "board_runs"),
    ('{"quiz": {"quadrant-quiz": {"best": "x"}}}', "quiz"),
    ('{"checks": {"why-transfer": {"answers": 5}}}', "checks"),
    ('{"scroll": {"a": "far"}, "visited": [1], "theme": 3}', "scroll"),
])
def test_values_of_the_wrong_type_are_left_out_and_the_file_kept(tmp_path, text, field):
    """Valid JSON with a wrong type inside crashed the tutor on every start ("internal error (ValueError)")
    until the file was deleted: the widgets read these values as ints, pairs and dicts."""
    path = tmp_path / "progress.json"
    path.write_text(json.dumps({**json.loads(text), "last_lesson": "fine-tuning", "visited": ["fine-tuning"]})
                    if field != "scroll" else text)
    store = ProgressStore(path)
    progress = store.load()
    assert getattr(progress, field) == type(getattr(LearnerProgress(), field))()  # the bad value left out
    if field != "scroll":
        assert progress.last_lesson == "fine-tuning"  # the rest kept
    assert "wrong type" in store.notice and "\n" not in store.notice
    (aside,) = [p for p in tmp_path.iterdir() if p.name.startswith("progress.json.corrupt-")]
    assert aside.read_bytes() == path.read_bytes()
    store.save(progress)
    assert ProgressStore(path).load() == progress
