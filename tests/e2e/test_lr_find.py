"""The LR finder: the sweep leaves the model and optimizer as they were, keeps frozen groups frozen, stops
on divergence, suggests by its rules; ``tltui lr-find`` and ``tltui train --lr auto`` through the real
worker, here and over the loopback SSH server."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
import torch

from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.requests import FindLr
from tltui.engine import lr_find, train
from tltui.engine.step import TrainStep
from tltui.worker.store import RunStore

TINY = RunConfig(data="builtin", model="tiny", limit_per_class=6, batch_size=16, seed=3)
CLI = ["builtin", "--model", "tiny", "--limit-per-class", "5"]


def trainer_for(config: RunConfig, run_dir: Path) -> tuple[train.Trainer, TrainStep]:
    trainer = train.Trainer(train.prepare(config), run_dir, lambda *a, **k: None, lambda: False)
    trainer.start_optimizer()
    if trainer.cut:
        assert trainer.build_cache()
    trainer.step = trainer.make_step()
    return trainer, trainer.step


def snapshot(trainer: train.Trainer) -> tuple[dict, dict]:
    weights = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    state = trainer.optimizer.state_dict()
    return weights, {"state": {i: {k: v.clone() for k, v in s.items()} for i, s in state["state"].items()},
                     "param_groups": [dict(g) for g in state["param_groups"]]}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_the_sweep_puts_weights_optimizer_state_and_rng_back(tmp_path, optimizer):
    trainer, step = trainer_for(msgspec.structs.replace(TINY, optimizer=optimizer), tmp_path)
    assert trainer.train_epoch(1)  # momentum or Adam moments, BatchNorm statistics: the sweep must not keep them
    weights, optimizer = snapshot(trainer)
    assert optimizer["state"], "one epoch should have given the optimizer state"
    rng = torch.get_rng_state()
    with lr_find.restored(trainer.model, trainer.optimizer):
        curve, _ = lr_find.sweep(trainer, step, steps=20, start_lr=1e-4, end_lr=1.0, report=lambda *a: None,
                                 should_stop=lambda: False)
        torch.rand(3)
        moved, moved_optimizer = snapshot(trainer)
        assert not same(moved, weights)  # the sweep really trained
        assert [g["lr"] for g in moved_optimizer["param_groups"]] != [g["lr"] for g in optimizer["param_groups"]]
    assert len(curve) == 20
    after, after_optimizer = snapshot(trainer)
    assert same(after, weights)
    assert after_optimizer["param_groups"] == optimizer["param_groups"]
    assert after_optimizer["state"].keys() == optimizer["state"].keys()
    for i, state in optimizer["state"].items():
        assert same(after_optimizer["state"][i], state)
    assert torch.equal(torch.get_rng_state(), rng)


def test_frozen_groups_stay_frozen_and_lower_groups_keep_their_ratio(tmp_path):
    config = RunConfig(data="builtin", model="tiny", limit_per_class=6, batch_size=16, lr=1e-2, lr_decay=0.1,
                       frozen=("stem", "layer1", "layer2"), augment=())
    trainer, step = trainer_for(config, tmp_path)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    frozen = {k: v for k, v in before.items() if k.startswith(("conv1", "bn1", "layer1", "layer2"))}
    seen: list[dict[str, float]] = []

    def report(*_):
        seen.append({g["name"]: g["lr"] for g in trainer.optimizer.param_groups})

    with lr_find.restored(trainer.model, trainer.optimizer):
        lr_find.sweep(trainer, step, steps=12, start_lr=1e-3, end_lr=1e-1, report=report, should_stop=lambda: False)
        now = trainer.model.state_dict()
        assert all(torch.equal(now[k], v) for k, v in frozen.items())  # weights and BatchNorm statistics
        assert not torch.equal(now["fc.weight"], before["fc.weight"])
        assert not torch.equal(now["layer3.0.conv1.weight"], before["layer3.0.conv1.weight"])
    assert set(seen[0]) == {"layer3", "layer4", "head"}
    for lrs in (seen[0], seen[-1]):
        assert math.isclose(lrs["layer4"], lrs["head"] * 0.1) and math.isclose(lrs["layer3"], lrs["head"] * 0.01)
    assert math.isclose(seen[0]["head"], 1e-3) and math.isclose(seen[-1]["head"], 1e-1)


def test_a_diverging_sweep_stops_and_still_suggests():
    found = lr_find.find(FindLr(config=TINY, steps=60, start_lr=1e-2, end_lr=1e3))
    assert found.stopped and ("diverged" in found.stopped or "NaN" in found.stopped or "infinite" in found.stopped)
    assert 10 <= len(found.curve) < 60
    assert all(math.isfinite(loss) for _, loss in found.curve)
    lrs = [lr for lr, _ in found.curve]
    assert lrs[0] <= found.suggested_lr <= lrs[-1]


def curve_with_valley(start: int, end: int, n: int = 100) -> list[tuple[float, float]]:
    """Flat at 2, falling steadily from ``start`` to ``end``, then climbing: LRs 1e-6 to 1e0."""
    losses = [2.0 - 0.01 * (min(max(i, start), end) - start) + (0.05 * (i - end) if i > end else 0) for i in range(n)]
    return [(10 ** (-6 + 6 * i / (n - 1)), loss) for i, loss in enumerate(losses)]


def test_valley_is_half_way_down_the_longest_fall_and_steepest_where_it_falls_fastest():
    curve = curve_with_valley(40, 80)
    assert curve[57][0] <= lr_find.valley(curve) <= curve[61][0]  # half way down 40..80, rounded down
    steep = [(lr, loss - (0.3 if i > 55 else 0)) for i, (lr, loss) in enumerate(curve)]  # a cliff at step 56
    assert lr_find.steepest(steep) in (steep[55][0], steep[56][0])


def test_bad_sweeps_are_refused_in_one_line():
    with pytest.raises(lr_find.BadInput, match="10 to 1000 steps"):
        lr_find.find(FindLr(config=TINY, steps=3))
    with pytest.raises(lr_find.BadInput, match="start LR < end LR"):
        lr_find.find(FindLr(config=TINY, start_lr=1.0, end_lr=0.1))


def tltui(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tltui", *args], capture_output=True, text=True, timeout=timeout)


def check_event(stdout: str) -> dict:
    (line,) = stdout.splitlines()
    event = json.loads(line)
    assert event["event"] == "lr_find" and event["rule"] == "steepest"
    lrs = [lr for lr, _ in event["curve"]]
    assert len(event["curve"]) == 100 or event["stopped"]
    assert lrs == sorted(lrs) and lrs[0] == pytest.approx(1e-7)
    assert lrs[0] < event["suggested_lr"] < lrs[-1] and event["suggested_lr"] == event["steepest_lr"]
    assert lrs[0] < event["valley_lr"] < lrs[-1]
    return event


def test_lr_find_cli_draws_the_curve_and_prints_one_json_event():
    result = tltui("lr-find", *CLI)
    assert result.returncode == 0, result.stderr
    assert "LR range test" in result.stdout and "steepest" in result.stdout and "1e-7" in result.stdout
    suggested = next(line for line in result.stdout.splitlines() if line.startswith("suggested LR"))
    as_json = tltui("lr-find", *CLI, "--json")
    assert as_json.returncode == 0, as_json.stderr
    event = check_event(as_json.stdout)
    assert f"{event['suggested_lr']:.2e}" in suggested  # same data, seed and model: the same sweep
    assert event["config"]["model"] == "tiny" and event["config"]["frozen"] == []


def test_lr_find_refuses_bad_input_in_one_line():
    for args, words in ((["--steps", "3"], "10 to 1000 steps"), (["--lr", "auto"], "leave out --lr auto")):
        result = tltui("lr-find", *CLI, *args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
    result = tltui("export", *CLI, "--lr", "auto")
    assert result.returncode == 2 and "needs the LR finder" in result.stderr


def test_train_lr_auto_trains_at_the_suggestion_and_the_config_records_it():
    result = tltui("train", *CLI, "--epochs", "1", "--lr-decay", "0.5", "--lr", "auto", "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    found = check_event(lines[0])
    events = [json.loads(line) for line in lines[1:]]
    started = events[0]
    assert started["event"] == "started" and events[-1]["event"] == "finished"
    assert started["config"]["lr"] == found["suggested_lr"] and "steepest" in started["config"]["lr_found"]
    stored = RunStore().get(started["run_id"]).summary().config
    assert stored.lr == found["suggested_lr"] and stored.lr_decay == 0.5 and "steepest" in stored.lr_found
    shown = tltui("runs", "show", started["run_id"]).stdout
    assert f"lr={found['suggested_lr']:g} (steepest of a 100-step LR range test)" in shown
    (epoch,) = [e for e in events if e["event"] == "epoch"]
    assert epoch["lrs"]["layer4"] == pytest.approx(epoch["lrs"]["head"] * 0.5)  # the ratio kept
    assert 0 < epoch["lrs"]["head"] <= found["suggested_lr"]  # the suggestion, down its cosine schedule


def test_lr_find_and_lr_auto_over_ssh(sshd, monkeypatch):
    monkeypatch.setenv("TLTUI_SSH_COMMAND", sshd.ssh_command)
    result = tltui("lr-find", *CLI, "--json", "--remote", sshd.host)
    assert result.returncode == 0, result.stderr
    check_event(result.stdout)
    trained = tltui("train", *CLI, "--epochs", "1", "--lr", "auto", "--remote", sshd.host)
    assert trained.returncode == 0, trained.stderr
    assert "suggested LR" in trained.stderr and "best val acc" in trained.stdout
    (summary,) = RunStore().summaries()  # the loopback host's store is this test's data dir
    assert summary.status == "finished" and "steepest" in summary.config.lr_found


def arrows(root: Path, per_class: int = 80) -> str:
    """Two classes that only left and right tell apart: triangles pointing left, and pointing right."""
    from PIL import Image, ImageDraw

    rng = torch.Generator().manual_seed(0)
    for name, sign in (("left", -1), ("right", 1)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            image = Image.new("RGB", (40, 40), tuple(int(v) for v in torch.randint(0, 120, (3,), generator=rng)))
            x, y, r = (int(v) for v in torch.randint(16, 24, (3,), generator=rng) // torch.tensor([1, 1, 2]))
            tip, back = (x + sign * r, y), [(x - sign * r, y - r), (x - sign * r, y + r)]
            ImageDraw.Draw(image).polygon([tip, *back], fill=(255, 230, 40))
            image.save(root / name / f"{i}.png")
    return str(root)


def test_the_finder_warns_when_a_mirror_image_means_another_class(tmp_path):
    flips = RunConfig(data=arrows(tmp_path / "arrows"), model="tiny", augment=("crop", "flip"), val_fraction=0.3)
    found = lr_find.find(FindLr(config=flips, steps=10))
    assert len(found.warnings) == 1 and "mirrored validation images" in found.warnings[0]
    assert not lr_find.find(FindLr(config=msgspec.structs.replace(flips, augment=("crop",)), steps=10)).warnings
    builtin = RunConfig(data="builtin", model="tiny", limit_per_class=20, augment=("crop", "flip"))
    assert not lr_find.find(FindLr(config=builtin, steps=10)).warnings  # textures and shapes: mirror-symmetric
