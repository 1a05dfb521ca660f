"""One run over several processes (torch.distributed, gloo on the CPU): the same weights as one process with
the same global batch, the pieces DDP needs, and the worker's launcher (torchrun) with its faults."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import msgspec
import pytest
import torch

from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import TERMINAL_EVENTS, Epoch, Failed, Finished, Note, Started, Unfrozen
from tltui.core.protocol.ranks import RankReport
from tltui.core.protocol.requests import ListRuns, ResumeRun, StartRun
from tltui.engine import model as net
from tltui.engine.tiny import TinyResNet
from tltui.engine.train import prepare, train
from tltui.engine.world import World
from tltui.worker import ranks

# 80 training images (8 per class), a global batch of 16: 5 steps an epoch, 8 images per process and step,
# no padding by the sampler and no short last batch. No augmentation; the order is the sampler's. SGD: its
# step is linear in the gradient, so the all-reduce's rounding stays at rounding; AdamW divides by the
# gradient's running size, and where a gradient is near zero its sign (the rounding's) decides the step.
BASE = dict(data="builtin", model="tiny", device="cpu", limit_per_class=8, batch_size=16, epochs=1,
            augment=(), schedule="constant", optimizer="sgd", lr=0.05, seed=3)


def config(**overrides) -> RunConfig:
    return RunConfig(**{**BASE, **overrides})


def one_process(cfg: RunConfig, run_dir) -> list:
    events = []
    train(prepare(msgspec.structs.replace(cfg, nproc=1)), run_dir,
          lambda cls, **f: events.append(cls(run_id="", seq=0, time=0, **f)), lambda: False)
    return events


def processes(cfg: RunConfig, run_dir, n: int = 2, stop=lambda: False, resume: bool = False):
    """``cfg`` trained by the worker's launcher over ``n`` gloo processes: (outcome, events)."""
    events = []
    outcome = ranks.train(run_dir, msgspec.structs.replace(cfg, nproc=n), n, [], resume=resume, emit=events.append,
                          should_stop=stop)
    return outcome, events


def weights(run_dir) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)


CASES = {
    # every group trains, BatchNorm too: --sync-bn normalises over the global batch, as one process does
    "full fine-tune": dict(frozen=(), sync_bn=True),
    # stem..layer2 frozen, their BatchNorm in eval mode; no augmentation, so the boundary cache feeds layer3
    "frozen groups": dict(frozen=("stem", "layer1", "layer2"), sync_bn=True),
    # the head alone, then layer4 joins at epoch 2: the DDP wrapper is made again with layer4's parameters
    "gradual unfreezing": dict(frozen=("stem", "layer1", "layer2", "layer3", "layer4"), unfreeze={"layer4": 2},
                               epochs=2, sync_bn=True),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_two_processes_give_the_weights_of_one_with_the_same_global_batch(tmp_path, case):
    cfg = config(**CASES[case])
    alone = one_process(cfg, tmp_path / "one")
    outcome, events = processes(cfg, tmp_path / "two")
    assert outcome.ended and outcome.returncode == 0, outcome
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert one.keys() == two.keys() and not any(k.startswith("module.") for k in two)
    start = net.build("tiny", 10, "pretrained")[0].state_dict()
    moved = 0
    for key in one:
        if one[key].is_floating_point():
            torch.testing.assert_close(two[key], one[key], rtol=1e-4, atol=1e-5, msg=f"{case}: {key}")
            moved += not torch.equal(one[key], start[key]) if key in start and not key.startswith("fc.") else 0
        else:
            assert torch.equal(two[key], one[key]), key
    assert moved, "the backbone did not train at all: the test would prove nothing"
    if cfg.frozen:
        frozen = tuple(f"{m}." for g in cfg.frozen if g not in cfg.unfreeze for m in net.MODULES[g])
        for key in (k for k in two if k.startswith(frozen)):
            assert torch.equal(two[key], start[key]), f"frozen {key} changed (BatchNorm statistics included)"
    epochs_one = [e for e in alone if isinstance(e, Epoch)]
    epochs_two = [e for e in events if isinstance(e, Epoch)]
    assert [e.world_size for e in epochs_two] == [2] * cfg.epochs
    for a, b in zip(epochs_one, epochs_two, strict=False):  # metrics summed over the processes: the global ones
        assert b.train_loss == pytest.approx(a.train_loss, rel=1e-4) and b.train_acc == a.train_acc
        assert b.val_acc == a.val_acc and b.val_loss == pytest.approx(a.val_loss, rel=1e-4)
    if "unfreeze" in CASES[case]:
        assert [e.groups for e in events if isinstance(e, Unfrozen)] == [["layer4"]]
    started = next(e for e in events if isinstance(e, Started))
    assert started.world_size == 2
    assert started.path == {"full fine-tune": "full", "frozen groups": "cached:layer3",
                            "gradual unfreezing": "cached:layer4"}[case]
    if started.path != "full":  # each process ran the frozen groups over its shard
        assert any("2 processes, a shard each" in e.message for e in events if isinstance(e, Note))


def test_the_sampler_shares_each_global_batch_out_and_the_shards_cover_everything():
    from torch.utils.data import DistributedSampler

    n, batch = 80, 16
    alone = list(DistributedSampler(range(n), num_replicas=1, rank=0, seed=9))
    parts = [list(DistributedSampler(range(n), num_replicas=2, rank=r, seed=9)) for r in range(2)]
    for step in range(n // batch):
        shares = [p[step * batch // 2:(step + 1) * batch // 2] for p in parts]
        assert sorted(shares[0] + shares[1]) == sorted(alone[step * batch:(step + 1) * batch])
    for size in (1, 2, 3, 5):
        shards = [World(rank=r, size=size).shard(17) for r in range(size)]
        assert [i for s in shards for i in s] == list(range(17))


def test_a_config_over_several_processes_is_checked_in_one_line():
    from tltui.core.protocol.config import ConfigError

    with pytest.raises(ConfigError, match="global batch: it must divide by --nproc 3"):
        config(nproc=3).check()
    with pytest.raises(ConfigError, match="takes whole GPUs"):
        config(nproc=2, device="cuda:1").check()
    with pytest.raises(ConfigError, match="--nproc all takes every free GPU"):
        config(nproc=0).check()
    from tltui.core.parsing import parse_setting

    assert parse_setting("nproc", "all") == 0 and parse_setting("nproc", "4") == 4


def test_torchrun_root_cause_and_the_reason_told():
    log = ["Root Cause (first observed failure):", "[0]:", "  time      : 2026-11-29_08:54:11",
           "  rank      : 1 (local_rank: 1)", "  exitcode  : -9 (pid: 7658)  (SIGKILL)"]
    assert ranks.root_cause(log) == (1, -9, 7658)
    peer = RankReport(rank=0, pid=1, reason="lost another process of the run (Connection reset by peer)", peer=True)
    reason, _ = ranks.explain([peer], log, 2, 1)
    assert reason == "process rank 1 of 2 (pid 7658) was killed by signal 9 (SIGKILL); torchrun stopped the other 1"
    # rank 0 lost its peer and left before torchrun saw rank 1 die: the summary's root cause is rank 0
    # (seen once in CI); rank 1, killed, is among its failures, and is the reason told
    raced = ["Failures:", "[1]:", "  rank      : 1 (local_rank: 1)", "  exitcode  : -9 (pid: 7658)  (SIGKILL)",
             "Root Cause (first observed failure):", "[0]:", "  rank      : 0 (local_rank: 0)",
             "  exitcode  : 1 (pid: 7657)"]
    assert ranks.explain([peer], raced, 2, 1)[0] == reason
    assert ranks.root_cause(raced) == (0, 1, 7657)  # without the peers' word, torchrun's root cause
    stopped = ["Failures:", "[1]:", "  rank      : 0 (local_rank: 0)", "  exitcode  : -15 (pid: 5711)  (SIGTERM)",
               "Root Cause (first observed failure):", "[0]:", "  rank      : 1 (local_rank: 1)",
               "  exitcode  : -6 (pid: 5712)  (SIGABRT)"]
    assert ranks.root_cause(stopped) == (1, -6, 5712)
    own = RankReport(rank=1, pid=2, reason="loss became NaN at epoch 1, step 3", hint="lower --lr")
    assert ranks.explain([peer, own], log, 2, 1) == (
        "loss became NaN at epoch 1, step 3 (process rank 1 of 2; the others were stopped)", "lower --lr")


async def test_a_rank_killed_fails_the_run_in_one_line_the_queue_goes_on_and_the_run_resumes():
    """kill -9 of rank 1 mid-run, through the real worker: the run fails with that reason in one line, rank 0
    is stopped, the daemon serves on, the run queued behind it gets the device and finishes, and the failed
    run resumes from its last checkpoint to the end."""
    from tltui.core.client import WorkerClient

    client = WorkerClient()
    await client.start()
    try:
        first = await client.request(StartRun(config=config(nproc=2, epochs=8, limit_per_class=40,
                                                                     batch_size=32)))
        behind = await client.request(StartRun(config=config(epochs=1)))
        assert behind.queued_behind == 0 and first.devices == []  # one device here: the whole CPU
        listed = {s.run_id: s for s in await client.request(ListRuns())}
        assert listed[first.run_id].devices == ["cpu x2"] and listed[behind.run_id].devices == []
        events = []
        while sum(isinstance(e, Epoch) for e in events if e.run_id == first.run_id) < 2:
            event = await asyncio.wait_for(client.events.get(), 120)
            assert event is not None, client.gone
            events.append(event)
        victims = _ranks_of(first.run_dir)
        assert len(victims) == 2
        os.kill(victims[1], signal.SIGKILL)
        ends = {}
        while len(ends) < 2:
            event = await asyncio.wait_for(client.events.get(), 180)
            assert event is not None, client.gone
            events.append(event)
            if isinstance(event, TERMINAL_EVENTS):
                ends[event.run_id] = event
        failed = ends[first.run_id]
        assert isinstance(failed, Failed), failed
        assert failed.reason.startswith("process rank 1 of 2 (pid ") and "killed by signal 9 (SIGKILL)" in failed.reason
        assert "\n" not in failed.reason and failed.hint.startswith("resume it from its last checkpoint")
        assert not [pid for pid in victims if ranks._is_rank(pid)], "a rank outlived the run"
        assert isinstance(ends[behind.run_id], Finished)  # the device was given back to the queue
        done = max(e.epoch for e in events if isinstance(e, Epoch) and e.run_id == first.run_id)

        await client.request(ResumeRun(run_id=first.run_id))
        resumed = []
        while not resumed or not isinstance(resumed[-1], TERMINAL_EVENTS):
            event = await asyncio.wait_for(client.events.get(), 180)
            assert event is not None, client.gone
            if event.run_id == first.run_id:
                resumed.append(event)
        started = resumed[0]
        assert isinstance(started, Started) and started.world_size == 2 and started.resumed_from >= done - 1
        assert isinstance(resumed[-1], Finished), resumed[-1]
        assert [e.epoch for e in resumed if isinstance(e, Epoch)] == list(range(started.resumed_from + 1, 9))
        TinyResNet(num_classes=10).load_state_dict(weights(Path(first.run_dir)))
    finally:
        await client.close(timeout=60)


def _ranks_of(run_dir) -> list[int]:
    """The pids of the ranks training ``run_dir`` (from /proc: their command lines name it)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmd = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if b"tltui.engine.ddp" in cmd and str(run_dir).encode() in cmd:
                found.append(int(entry))
    env_rank = {}
    for pid in found:
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        for item in env:
            if item.startswith(b"RANK="):
                env_rank[int(item[5:])] = pid
    return [env_rank[r] for r in sorted(env_rank)]


@pytest.mark.slow
def test_the_cli_trains_over_two_processes_as_well_as_over_one(data_dir):
    """The done-when command: events carry world_size 2, the checkpoint loads into TinyResNet, and the
    accuracy is within 5 points of the same run in one process."""
    import json
    import subprocess
    import sys

    def run(n: str) -> list[dict]:
        result = subprocess.run([sys.executable, "-m", "tltui", "train", "builtin", "--model", "tiny", "--nproc", n,
                                 "--device", "cpu", "--json"], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        return [json.loads(line) for line in result.stdout.splitlines()]

    two, one = run("2"), run("1")
    assert two[0]["event"] == "started" and two[0]["world_size"] == 2 and two[0]["config"]["nproc"] == 2
    assert all(e["world_size"] == 2 for e in two if e["event"] in ("epoch", "finished"))
    assert one[-1]["world_size"] == 1
    state = torch.load(Path(two[-1]["run_dir"]) / "best.pt", map_location="cpu", weights_only=True)
    TinyResNet(num_classes=10).load_state_dict(state)
    assert abs(two[-1]["best_val_acc"] - one[-1]["best_val_acc"]) <= 0.05, (two[-1]["best_val_acc"],
                                                                          one[-1]["best_val_acc"])


def test_a_run_that_asks_for_more_than_the_host_has_is_refused_in_one_line(data_dir):
    import subprocess
    import sys

    for flags, words in ((["--nproc", "all"], "--nproc all takes every free GPU, and this host has none"),
                         (["--nproc", "3"], "must divide by --nproc 3"),
                         (["--nproc", "two"], "'two' is not a number of processes")):
        result = subprocess.run([sys.executable, "-m", "tltui", "train", "builtin", "--model", "tiny", *flags],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and words in result.stderr, result.stderr
