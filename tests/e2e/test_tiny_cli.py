"""`tltui train --model tiny` through the real worker, and what the worker says about the backbones."""

from __future__ import annotations

import json
import subprocess
import sys

from tltui.engine import device

TLTUI = [sys.executable, "-m", "tltui"]


def test_train_builtin_with_the_tiny_backbone_end_to_end():
    result = subprocess.run(
        [*TLTUI, "train", "builtin", "--model", "tiny", "--limit-per-class", "5", "--epochs", "2", "--json"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    started, finished = events[0], events[-1]
    assert started["event"] == "started" and started["model"] == "tiny"
    assert started["weights"] == "pretrained (generated fractals, tiny.pt)"
    assert started["config"]["model"] == "tiny" and started["config"]["weights"] == "pretrained"
    assert started["config"]["image_size"] == 32 and started["n_train"] == 50
    assert any(e["event"] == "note" and "head has 100 classes" in e["message"] for e in events)
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    assert finished["event"] == "finished" and 0 <= finished["best_val_acc"] <= 1


def test_imagenet_weights_for_tiny_are_bad_input_in_one_line():
    result = subprocess.run([*TLTUI, "train", "builtin", "--model", "tiny", "--weights", "imagenet"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "for resnet50 only" in result.stderr and "Traceback" not in result.stderr


def test_capabilities_say_the_tiny_backbone_is_always_there(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache: no ImageNet weights
    caps = device.capabilities()
    assert caps.models == {"resnet50": ["none"], "tiny": ["pretrained", "none"]}
    assert caps.cached_weights == []


def test_a_deterministic_run_trains_in_a_process_of_its_own_and_says_so():
    """The worker trains it in torchrun's one process, not a thread of its own, where torch's process-wide
    determinism settings would reach its other runs (engine/determinism.py)."""
    result = subprocess.run(
        [*TLTUI, "train", "builtin", "--model", "tiny", "--limit-per-class", "5", "--epochs", "1", "--deterministic",
         "--json"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    started, finished = events[0], events[-1]
    assert started["event"] == "started" and started["deterministic"] and started["config"]["deterministic"]
    assert started["world_size"] == 1
    assert any(e["event"] == "note" and "a process of its own" in e["message"] for e in events)
    assert finished["event"] == "finished"
