"""The usual fine-tuning recipes, as changes to a RunConfig: each strategy at the recipe that measured best
for it.

Every recipe (optimizer, LR, LR decay per group down, fitting the head first) was chosen per strategy by
``benchmarks/presets.py``: the tiny backbone from its pretrained weights, 30 epochs, on ``builtin``,
``builtin-shifted`` and the UCI digits at 5, 20 and 50 images per class, 3 seeds, each strategy at its own
best LR from a grid; the README's "Presets, measured" has the table, and Fashion-MNIST, on which nothing was
tuned, checks it. Epochs, augmentation and the rest stay the learner's (the defaults: 5 epochs, crops).
"""

from __future__ import annotations

from typing import Any

import msgspec

from tltui.core.groups import BACKBONE
from tltui.core.protocol.config import ConfigError, RunConfig

PROBE = "probe"

#: name -> (one-line description, the RunConfig fields it sets)
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    PROBE: (
        "one fit, no SGD epochs: logistic regression on the frozen features (computed once), its L2 chosen by "
        "cross-validation on the training images; the fit is the run's one epoch, LR and optimizer do not apply",
        {"frozen": BACKBONE, "augment": (), "head_first": True, "epochs": 1},
    ),
    "feature-extraction": (
        "freeze the whole backbone; fit the new head to the frozen features, then refine it (features computed once)",
        {"frozen": BACKBONE, "augment": (), "head_first": True, "optimizer": "adamw", "lr": 1e-3, "lr_decay": 1.0},
    ),
    "fine-tune-late": (
        "freeze stem..layer3; layer4 and the head train at one LR",
        {"frozen": ("stem", "layer1", "layer2", "layer3"), "optimizer": "adamw", "lr": 5e-3, "lr_decay": 1.0},
    ),
    "fine-tune-all": (
        "train every group from a new head, at one LR",
        {"optimizer": "adamw", "lr": 5e-3, "lr_decay": 1.0},
    ),
    "head-then-unfreeze": (
        "fit the new head alone to the frozen features first, then train every group (LP-FT)",
        {"head_first": True, "optimizer": "adamw", "lr": 5e-3, "lr_decay": 1.0},
    ),
}


def apply_preset(config: RunConfig, name: str, **overrides: Any) -> RunConfig:
    """``config`` with preset ``name`` applied, then ``overrides`` (explicit flags win)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose from {', '.join(PRESETS)}")
    fields = {**PRESETS[name][1], **overrides, "preset": name}
    return msgspec.structs.replace(config, **fields)


def configure(preset: str | None = None, **fields: Any) -> RunConfig:
    """A checked RunConfig: the defaults, then ``preset``, then ``fields``. ConfigError if it cannot run."""
    config = apply_preset(RunConfig(), preset, **fields) if preset else msgspec.structs.replace(RunConfig(), **fields)
    config.check()
    check(config)
    return config


def check(config: RunConfig) -> None:
    """ConfigError with one line if ``config`` changes what its preset is made of where that cannot work: the
    probe fits the head alone, once, on the frozen backbone's features of unaugmented images."""
    if config.preset != PROBE:
        return
    if config.epochs != 1:
        raise ConfigError(f"--epochs {config.epochs} with --preset probe: the probe is solved to convergence in one "
                          "fit, which is its one epoch; leave --epochs out (or use --preset feature-extraction, "
                          "which trains the probe's head on by SGD)")
    if config.trainable_at(1) != ("head",) or config.unfreeze:
        raise ConfigError("--freeze with --preset probe: the probe trains the head alone on the frozen backbone; "
                          "leave --freeze and --unfreeze out")
    if config.augment:
        raise ConfigError("--augment with --preset probe: the probe's features are computed once, from unaugmented "
                          "images; leave --augment out")
    if not config.head_first:
        raise ConfigError("--head-first off with --preset probe: the probe is the head's fit; leave --no-head-first "
                          "out")
