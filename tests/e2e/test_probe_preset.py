"""`tltui train --preset probe` as a user runs it, through the real worker: one fit reported as the run's one
epoch (its validation accuracy and loss the run's), k-NN beside it, the network with the fitted head saved where
every consumer of a run reads it; settings the probe would ignore refused in one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import torch

from tltui.core.linear_probe import L2_GRID

TLTUI = [sys.executable, "-m", "tltui"]


def tltui(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*TLTUI, *args], capture_output=True, text=True, timeout=timeout)


def test_the_probe_preset_runs_end_to_end_and_leaves_a_checkpoint_like_any_run(data_dir, tmp_path):
    result = tltui("train", "builtin", "--preset", "probe", "--model", "tiny", "--limit-per-class", "6", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    started = events[0]
    assert started["config"]["preset"] == "probe" and started["config"]["epochs"] == 1
    assert started["path"] == "cached:head"  # the features once, from the boundary cache at the head
    assert "progress" not in kinds and "head_fitted" not in kinds and "unfrozen" not in kinds  # no SGD step
    (epoch,) = [e for e in events if e["event"] == "epoch"]
    assert epoch["epoch"] == 1 and epoch["lrs"] == {} and 0 <= epoch["val_acc"] <= 1 and epoch["val_loss"] > 0
    (note,) = [e["message"] for e in events if e["event"] == "note" and e["message"].startswith("linear probe")]
    assert float(re.search(r"L2 (\S+) chosen", note).group(1)) in L2_GRID
    assert re.search(r"k-NN on the same features \(5 nearest, cosine\): val acc [\d.]+%$", note)
    finished = events[-1]
    assert finished["event"] == "finished" and finished["best_epoch"] == 1
    assert finished["best_val_acc"] == epoch["val_acc"]

    # What a run must leave: best.pt and last.pt, plain state_dicts of the whole network, its head the probe.
    run_dir = finished["run_dir"]
    best = torch.load(f"{run_dir}/best.pt", map_location="cpu")
    assert best["fc.weight"].shape == (10, 128) and best["fc.weight"].abs().sum() > 0
    assert torch.equal(best["fc.weight"], torch.load(f"{run_dir}/last.pt", map_location="cpu")["fc.weight"])
    shown = tltui("runs", "show", run_id := run_dir.rsplit("/", 1)[1])
    assert shown.returncode == 0 and "epoch 1/1" in shown.stdout and "linear probe: L2" in shown.stdout
    assert run_id in tltui("runs").stdout
    # A consumer of run checkpoints: a later run starts from this one's weights.
    again = tltui("train", "builtin", "--preset", "probe", "--model", "tiny", "--limit-per-class", "6",
                  "--weights", run_dir, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout.splitlines()[-1])["best_val_acc"] == finished["best_val_acc"]


def test_settings_the_probe_ignores_are_refused_in_one_line_before_any_run():
    for flags, words in ((["--epochs", "5"], "--epochs 5 with --preset probe"),
                         (["--augment", "crop"], "--augment with --preset probe")):
        result = tltui("train", "builtin", "--preset", "probe", "--model", "tiny", *flags)
        assert result.returncode == 2 and result.stderr.startswith(f"tltui: {words}")
        assert result.stderr.count("\n") == 1 and not result.stdout
