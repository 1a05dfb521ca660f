"""`--model timm:NAME` through the real worker: train, lr-find, diagnose and export with timm's test-sized
models on the CPU, and one line (exit 2) where weights or timm itself are missing. Every test has an empty
Hugging Face cache of its own and the hub offline (conftest.py): nothing downloads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

TLTUI = [sys.executable, "-m", "tltui"]
NO_NETWORK = (
    "import runpy, socket, sys\n"
    "def refuse(*args, **kwargs):\n"
    "    raise OSError('the network is off in this test')\n"
    "socket.getaddrinfo = socket.create_connection = socket.socket.connect = refuse\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)
"""Runs a script (its path and arguments follow) with every connection refused."""


def tltui(*args: str, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*TLTUI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def events_of(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr[-3000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("model, size", [("test_vit", ""), ("test_efficientnet", "32")])
def test_a_vit_and_a_convolutional_test_model_train_an_epoch_on_the_cpu(model, size):
    """The ViT at its own 160 px (timm's data config), the EfficientNet at a given 32 px, which wins; each run
    records the model's own preprocessing."""
    sized = ["--image-size", size] if size else []
    events = events_of(tltui("train", "builtin", "--model", f"timm:{model}", "--weights", "none", "--epochs", "1",
                             "--limit-per-class", "3", *sized, "--json"))
    started, finished = events[0], events[-1]
    assert started["event"] == "started" and started["model"] == f"timm:{model}"
    assert started["weights"] == "none (random initialisation)" and started["path"] == "full"
    pre = started["preprocessing"]
    assert pre["source"] == f"timm's data config of {model}" and pre["interpolation"] == "bicubic"
    assert pre["mean"] == ([0.5] * 3 if model == "test_vit" else [0.485, 0.456, 0.406])
    assert started["config"]["image_size"] == pre["image_size"] == int(size or 160) and pre["model_size"] == 160
    assert pre["crop_pct"] == 0.95 and pre["resize"] == int(size or 160) * 20 // 19  # floor(size / 0.95): timm's
    notes = [e["message"] for e in events if e["event"] == "note"]
    assert any(n.startswith(f"preprocessing from timm's data config of {model}") for n in notes)
    assert any("given: it wins over" in n for n in notes) == bool(size)
    assert sum(started["params"].values()) == started["trainable"] and set(started["params"]) == {
        "stem", "layer1", "layer2", "layer3", "layer4", "head"}
    assert finished["event"] == "finished" and 0 <= finished["best_val_acc"] <= 1


def test_a_frozen_timm_backbone_runs_once_into_the_boundary_cache_and_the_head_is_fitted_first():
    events = events_of(tltui("train", "builtin", "--model", "timm:test_convnext", "--weights", "none",
                             "--preset", "feature-extraction", "--epochs", "2", "--limit-per-class", "3",
                             "--image-size", "32", "--json"))
    assert events[0]["path"] == "cached:head" and events[0]["trainable"] == events[0]["params"]["head"]
    assert any(e["event"] == "note" and e["message"].startswith("ran the frozen groups below head once")
               for e in events)
    assert any(e["event"] == "head_fitted" for e in events) and events[-1]["event"] == "finished"


def test_lr_find_sweeps_a_timm_model():
    result = tltui("lr-find", "builtin", "--model", "timm:test_efficientnet", "--weights", "none", "--steps", "10",
                   "--limit-per-class", "3", "--image-size", "32", "--json")
    (found,) = events_of(result)
    assert found["event"] == "lr_find" and len(found["curve"]) >= 5 and found["suggested_lr"] > 0


def test_diagnose_a_timm_model_from_a_weights_file_ends_with_a_diagnosis_that_includes_the_probe(tmp_path):
    """The issue's done-when, offline: ``tltui diagnose builtin --model timm:test_vit`` with weights a file holds
    (timm's test_vit with its own 1000-class head at 160 px, loaded at 32 px: timm resizes the position
    embedding, tltui replaces the head)."""
    import safetensors.torch
    import timm
    import torch

    torch.manual_seed(0)
    weights = tmp_path / "test_vit.safetensors"
    safetensors.torch.save_file(timm.create_model("test_vit").state_dict(), str(weights))
    events = events_of(tltui("diagnose", "builtin", "--model", "timm:test_vit", "--weights", str(weights),
                             "--image-size", "32", "--limit-per-class", "6", "--budget", "45s", "--json"))
    started, diagnosis = events[0], events[-1]
    assert started["event"] == "started" and started["weights"] == str(weights)
    assert started["preprocessing"]["source"] == "timm's data config of test_vit"
    assert "the weights' head (1000 outputs) replaced by a new 10-class head" in [
        e["message"] for e in events if e["event"] == "note"]
    assert diagnosis["event"] == "diagnosis" and 1 <= diagnosis["quadrant"] <= 4
    probe = diagnosis["results"]["probe"]
    assert probe["folds"] >= 2 and 0 <= probe["low"] <= probe["acc"] <= probe["high"] <= 1
    assert len([e for e in events if e["event"] == "measured" and e["strategy"] == "probe"]) == probe["folds"]
    command = " ".join(diagnosis["command"])
    assert "--model timm:test_vit" in command and f"--weights {weights}" in command


def test_without_cached_weights_one_line_says_what_to_do_and_exit_2(hub_cache):
    result = tltui("train", "builtin", "--model", "timm:convnext_tiny", "--epochs", "1", timeout=120)
    assert result.returncode == 2 and result.stdout == "" and result.stderr.count("\n") == 1
    line = result.stderr
    assert line.startswith("tltui: timm:convnext_tiny: its pretrained weights (timm/convnext_tiny.")
    assert f"looked in {hub_cache}/models--timm--convnext_tiny." in line
    assert "huggingface-cli download timm/convnext_tiny." in line and "--weights PATH" in line


def test_without_timm_installed_one_line_says_how_to_install_it_and_exit_2(tmp_path):
    """A ``timm`` package that cannot be imported, first on the path of the worker this test starts."""
    (tmp_path / "shadow" / "timm").mkdir(parents=True)
    (tmp_path / "shadow" / "timm" / "__init__.py").write_text("raise ImportError('no timm here')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "shadow")}
    result = tltui("train", "builtin", "--model", "timm:test_vit", "--weights", "none", env=env, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr == "tltui: timm models need timm, which this worker's Python lacks: " \
                            'pip install -e ".[timm]"\n'


@pytest.fixture
def folders(tmp_path):
    """``train/`` and ``val/`` with three classes of flat-coloured pictures."""
    root = tmp_path / "colours"
    for split, count in (("train", 6), ("val", 2)):
        for c, colour in enumerate(((200, 40, 40), (40, 200, 40), (40, 40, 200))):
            (root / split / str(c)).mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (40, 40), tuple(v + 5 * i for v in colour)).save(root / split / str(c) / f"{i}.png")
    return root


@pytest.mark.slow
def test_an_exported_timm_script_trains_an_epoch_offline_and_its_weights_load_into_timms_model(tmp_path, folders):
    import timm
    import torch

    script = tmp_path / "x.py"
    exported = tltui("export", str(folders), "--model", "timm:test_vit", "--weights", "none", "--preset",
                     "head-then-unfreeze", "--image-size", "32", "--batch-size", "6", "-o", str(script))
    assert exported.returncode == 0, exported.stderr
    code = script.read_text()
    assert 'MODEL = "test_vit"' in code and "IMAGE_SIZE = 32  # the run's" in code and "MEAN = (0.5, 0.5, 0.5)" in code
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    trained = subprocess.run([sys.executable, "-c", NO_NETWORK, str(script), "--epochs", "1"], cwd=work, env=env,
                             capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert trained.stdout.splitlines()[-2].startswith("epoch 1: val accuracy")
    model = timm.create_model("test_vit", num_classes=3, img_size=32)
    model.load_state_dict(torch.load(work / "best.pt", map_location="cpu", weights_only=True))  # strict
    pretrained = subprocess.run([sys.executable, "-c", NO_NETWORK, str(script), "--weights", "pretrained"],
                                cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert pretrained.returncode == 1 and pretrained.stderr.startswith("cannot load test_vit's weights pretrained (")
    assert pretrained.stderr.count("\n") == 1
