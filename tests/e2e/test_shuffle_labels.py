"""--shuffle-labels: labels permuted once with the seed, train and val alike; a probe on frozen features
memorises them (training accuracy >= 90 %) while validation stays near chance, in seconds on a CPU."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import msgspec
import torch

from tltui.core.protocol.events import Epoch
from tltui.engine import data as datasets
from tltui.engine.train import prepare, train
from tltui.ui.content.check_runs import check_runs

TLTUI = [sys.executable, "-m", "tltui"]


def test_shuffling_permutes_each_split_once_keeping_every_class_count():
    loaded = datasets.load("builtin", image_size=32, augment=(), val_fraction=0.2, limit_per_class=10, seed=0)
    train_y, val_y = loaded.train_y.clone(), loaded.val_y.clone()
    datasets.shuffle_labels(loaded, seed=3)
    assert torch.equal(torch.bincount(loaded.train_y), torch.bincount(train_y))
    assert torch.equal(torch.bincount(loaded.val_y), torch.bincount(val_y))
    assert (loaded.train_y != train_y).float().mean() > 0.5 and (loaded.val_y != val_y).float().mean() > 0.5
    again = datasets.load("builtin", image_size=32, augment=(), val_fraction=0.2, limit_per_class=10, seed=0)
    datasets.shuffle_labels(again, seed=3)
    assert torch.equal(again.train_y, loaded.train_y) and torch.equal(again.val_y, loaded.val_y)
    other = datasets.load("builtin", image_size=32, augment=(), val_fraction=0.2, limit_per_class=10, seed=0)
    datasets.shuffle_labels(other, seed=4)
    assert not torch.equal(other.train_y, loaded.train_y)


def epochs_of(config, run_dir) -> list[dict]:
    """The Epoch events of a run of ``config`` in this process."""
    events: list[dict] = []

    def emit(cls, **fields) -> None:
        if cls is Epoch:
            events.append(fields)

    train(prepare(config), run_dir, emit, lambda: False)
    return events


def test_a_probe_memorises_shuffled_labels_while_validation_stays_at_chance(tmp_path):
    """Lesson 3's experiment (the check's live run): the tiny backbone frozen, 10 images per class."""
    (_, config), = check_runs("shuffled-probe", "tiny")
    assert config.shuffle_labels and config.limit_per_class == 10
    started = time.perf_counter()
    epochs = epochs_of(config, tmp_path / "shuffled")
    seconds = time.perf_counter() - started
    assert len(epochs) == config.epochs
    assert epochs[-1]["train_acc"] >= 0.90
    chance = 1 / 10
    assert all(abs(e["val_acc"] - chance) <= 0.08 for e in epochs[-10:])  # 240 val images: ±4 points is 2 sd
    assert seconds < 60
    # the same probe on the real labels validates far above chance: the features are not the problem
    real = epochs_of(msgspec.structs.replace(config, shuffle_labels=False), tmp_path / "real")
    assert real[-1]["val_acc"] > 0.5


def test_the_cli_flag_reaches_the_run_and_says_so():
    started = time.perf_counter()
    result = subprocess.run(
        [*TLTUI, "train", "builtin", "--model", "tiny", "--preset", "feature-extraction", "--limit-per-class", "10",
         "--shuffle-labels", "--optimizer", "adamw", "--lr", "3e-2", "--batch-size", "10", "--epochs", "40",
         "--json"], capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event"] == "started" and events[0]["config"]["shuffle_labels"] is True
    assert any(e["event"] == "note" and "labels shuffled with seed 0" in e["message"] for e in events)
    last = [e for e in events if e["event"] == "epoch"][-1]
    assert last["train_acc"] >= 0.9 and last["val_acc"] <= 0.2
    assert events[-1]["event"] == "finished"
    assert seconds < 60  # under a minute on a CPU, worker start and torch import included
