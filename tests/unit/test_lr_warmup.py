"""The LR warm-up (``--warmup-epochs``): its factor at each step, with the schedules, discriminative LRs and
gradual unfreezing in the engine, and its way through the CLI, the protocol and the exported script."""

from __future__ import annotations

import math
import types

import msgspec
import pytest

from tltui.cli.flags import config_from_args
from tltui.cli.main import build_parser
from tltui.core import codegen, schedule
from tltui.core.cluster import generate_ddp
from tltui.core.groups import BACKBONE
from tltui.core.protocol import codec
from tltui.core.protocol.config import ConfigError, RunConfig
from tltui.core.protocol.events import Unfrozen
from tltui.core.protocol.requests import StartRun
from tltui.engine import optim
from tltui.engine.train import Trainer, prepare

SMALL = dict(data="builtin", model="tiny", weights="none", device="cpu", limit_per_class=4, batch_size=8,
             val_fraction=0.05, augment=(), optimizer="sgd", lr=1e-2)


def test_the_factor_rises_linearly_over_the_warmup_then_follows_the_schedule():
    total, warm = 40, 8
    for name in ("constant", "cosine"):
        factors = [schedule.factor(name, s, total, warm) for s in range(total)]
        plain = [schedule.factor(name, s, total) for s in range(total)]
        assert factors[:warm] == pytest.approx([(s + 1) / warm * plain[s] for s in range(warm)])
        assert factors[warm:] == plain[warm:]
    constant = [schedule.factor("constant", s, total, warm) for s in range(warm + 2)]
    assert constant[0] == pytest.approx(1 / warm) and constant[warm - 1:] == [1.0, 1.0, 1.0]
    steps = [b - a for a, b in zip(constant, constant[1:warm], strict=False)]
    assert steps == pytest.approx([1 / warm] * (warm - 1))  # linear
    assert [schedule.factor("cosine", s, total, 0) for s in range(total)] == \
        [schedule.factor("cosine", s, total) for s in range(total)]


def test_warmup_steps_round_a_fraction_of_epochs_and_keep_at_least_one():
    assert schedule.warmup_steps(0, 25) == 0
    assert schedule.warmup_steps(1, 25) == 25 and schedule.warmup_steps(0.5, 25) == 12
    assert schedule.warmup_steps(0.01, 25) == 1


def test_the_config_refuses_a_warmup_it_cannot_run_in_one_line():
    RunConfig(epochs=5, warmup_epochs=5).check()
    for value in (-1.0, 5.5, math.nan, math.inf):
        with pytest.raises(ConfigError, match="--warmup-epochs must be between 0 and --epochs"):
            RunConfig(epochs=5, warmup_epochs=value).check()
    with pytest.raises(ConfigError, match="one cycle warms up already"):
        RunConfig(schedule="onecycle", warmup_epochs=1).check()


def test_every_groups_lr_is_scaled_by_the_same_warmup_factor_joining_groups_too(tmp_path, monkeypatch):
    """Discriminative LRs (``lr_decay``) and a group unfrozen inside the warm-up: at every step each group's
    LR is its own base LR times the warm-up factor times the cosine."""
    cfg = RunConfig(**SMALL, frozen=BACKBONE, unfreeze={"layer4": 2}, lr_decay=0.1, epochs=3, warmup_epochs=2.5,
                    schedule="cosine")
    seen: list[tuple[int, dict[str, float]]] = []
    original = optim.set_scale

    def record(optimizer, scale):
        original(optimizer, scale)
        seen.append((trainer.global_step, optim.lrs(optimizer)))

    monkeypatch.setattr(optim, "set_scale", record)
    unfrozen = []
    trainer = Trainer(prepare(cfg), tmp_path, lambda cls, **f: unfrozen.append(f) if cls is Unfrozen else None,
                      lambda: False, checkpoints=False)
    trainer.run()
    warm = trainer.warmup_steps
    assert warm == round(2.5 * trainer.steps_per_epoch) and 0 < warm < trainer.total_steps
    assert [step for step, _ in seen] == list(range(trainer.total_steps))
    for step, lrs in seen:
        cosine = schedule.cosine(step, trainer.total_steps)
        rise = min(1.0, (step + 1) / warm)
        assert lrs == pytest.approx({g: cfg.group_lr(g) * rise * cosine for g in lrs}), step
    assert {g for _, lrs in seen for g in lrs} == {"head", "layer4"}
    joined = trainer.steps_per_epoch  # layer4 joined at epoch 2, inside the warm-up
    assert joined < warm and seen[joined][1]["layer4"] < cfg.group_lr("layer4") * schedule.cosine(joined, 99999)
    assert unfrozen[0]["lrs"] == pytest.approx(
        {"layer4": cfg.group_lr("layer4") * schedule.factor("cosine", joined, trainer.total_steps, warm)})


def parse(*words: str) -> RunConfig:
    return config_from_args(build_parser().parse_args(["train", "builtin", *words]))


def test_the_flag_round_trips_through_the_cli_the_protocol_and_the_command_line():
    config = parse("--warmup-epochs", "1.5", "--epochs", "4")
    assert config.warmup_epochs == 1.5 and parse().warmup_epochs == 0
    request = StartRun(id=1, config=config)
    assert codec.decode_request(codec.encode(request)) == request
    words = codegen.command_line(config).split()[3:]
    assert "--warmup-epochs" in words and parse(*words) == config
    stored = msgspec.json.decode(codec.encode(request), type=dict)
    del stored["config"]["warmup_epochs"]  # a config stored before the field existed
    assert codec.decode_request(msgspec.json.encode(stored)).config.warmup_epochs == 0


@pytest.mark.parametrize("name", ["cosine", "constant"])
def test_the_exported_script_warms_up_as_the_engine_does(name):
    config = RunConfig(data="builtin", model="tiny", epochs=4, warmup_epochs=1.5, schedule=name)
    code = codegen.generate(config)
    assert "WARMUP_EPOCHS = 1.5" in code and "warm = max(1, round(WARMUP_EPOCHS * len(train_loader)))" in code
    factor = ("scale = warmup(step, warm) * lr_factor(step, total)\n" if name == "cosine" else "") + (
        '            for pg in optimizer.param_groups:\n                pg["lr"] = pg["base_lr"] * '
        + ("scale\n" if name == "cosine" else "warmup(step, warm)\n"))
    assert factor in code and factor in generate_ddp(config) and '"base_lr": lr' in code
    script = types.ModuleType("script")
    exec(compile(code, "script.py", "exec"), script.__dict__)  # importing runs nothing
    total, warm = 60, schedule.warmup_steps(1.5, 15)
    lr_factor = script.lr_factor if name == "cosine" else (lambda step, total: 1.0)
    assert [script.warmup(s, warm) * lr_factor(s, total) for s in range(total)] == \
        [schedule.factor(name, s, total, warm) for s in range(total)]
    plain = codegen.generate(msgspec.structs.replace(config, warmup_epochs=0.0))
    assert "warmup" not in plain.lower()
