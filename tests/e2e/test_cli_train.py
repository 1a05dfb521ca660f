"""`tltui train` and `tltui runs` as a user runs them: exit codes, JSON lines, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

TLTUI = [sys.executable, "-m", "tltui"]
TINY = ["builtin", "--weights", "none", "--image-size", "32", "--limit-per-class", "4", "--batch-size", "16",
        "--val-fraction", "0.02"]  # 20 validation images, not 240: six times the training images, for nothing here


def tltui(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*TLTUI, *args], capture_output=True, text=True, timeout=timeout)


def test_train_json_prints_an_epoch_event_per_epoch_and_finished(data_dir):
    result = tltui("train", *TINY, "--epochs", "2", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert all("event" in e for e in events)
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    for e in epochs:
        assert {"train_loss", "train_acc", "val_loss", "val_acc", "images_per_s"} <= e.keys()
    finished = events[-1]
    assert finished["event"] == "finished" and 0 <= finished["best_val_acc"] <= 1
    assert finished["run_dir"].startswith(str(data_dir))

    listing = tltui("runs")
    run_id = finished["run_dir"].rsplit("/", 1)[1]
    assert run_id in listing.stdout and "finished" in listing.stdout
    shown = tltui("runs", "show", run_id[:-2])
    assert shown.returncode == 0
    assert "epoch 2/2" in shown.stdout and "best val acc" in shown.stdout


def test_plain_output_is_a_line_per_epoch():
    result = tltui("train", *TINY, "--epochs", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run ") and "10 classes" in lines[0]
    assert sum(line.startswith("epoch 1/1") for line in lines) == 1
    ending = [i for i, line in enumerate(lines) if line.startswith("best val acc")]
    assert len(ending) == 1  # then the error analysis, indented under it
    assert "95% interval" in lines[ending[0] + 1] and all(line.startswith("  ") for line in lines[ending[0] + 1:])


def test_bad_input_exits_2_with_one_line(tmp_path):
    for args, words in (
        (["train", str(tmp_path / "nowhere"), "--weights", "none"], str(tmp_path / "nowhere")),
        (["train", "builtin", "--freeze", "all"], "nothing would train"),
        (["train", "builtin", "--freeze", "conv9"], "unknown group 'conv9'"),
        (["runs", "show", "no-such-run"], "no run 'no-such-run'"),
    ):
        result = tltui(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_a_failing_run_exits_1_and_says_what_to_change():
    result = tltui("train", *TINY, "--epochs", "1", "--optimizer", "sgd", "--lr", "1000")  # SGD: Adam would survive it
    assert result.returncode == 1
    assert "run failed: " in result.stdout and "loss became" in result.stdout
    assert "--lr" in result.stdout


def test_an_unknown_flag_prints_the_commands_own_usage():
    result = tltui("train", "builtin", "--bogus")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: tltui train") and "unrecognized arguments: --bogus" in result.stderr


def test_freezing_random_weights_warns_before_the_run(tmp_path):
    """Frozen groups of a network with random weights only pass noise on: said before the run starts."""
    result = tltui("train", str(tmp_path / "nowhere"), "--weights", "none", "--freeze", "stem,layer1")
    lines = result.stderr.splitlines()
    assert lines[0].startswith("tltui: warning: --freeze stem,layer1 with --weights none")
    assert result.returncode == 2 and "nowhere" in lines[1]
