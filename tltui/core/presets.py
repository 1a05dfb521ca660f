"""The usual fine-tuning recipes, as changes to a RunConfig.

Each names its optimizer with its LR: SGD at the LRs the lessons measured them with (the default, without a
preset, is AdamW at 2e-3: an LR means nothing without its optimizer)."""

from __future__ import annotations

from typing import Any

import msgspec

from tltui.core.groups import BACKBONE
from tltui.core.protocol import ConfigError, RunConfig

#: name -> (one-line description, the RunConfig fields it sets)
PRESETS: dict[str, tuple[str, dict[str, Any]]] = {
    "feature-extraction": (
        "freeze the whole backbone, train only the new head (features computed once)",
        {"frozen": BACKBONE, "augment": (), "optimizer": "sgd", "lr": 1e-2},
    ),
    "fine-tune-late": (
        "freeze stem..layer3, train layer4 and the head, layer4 at a tenth of the head's LR",
        {"frozen": ("stem", "layer1", "layer2", "layer3"), "optimizer": "sgd", "lr": 1e-2, "lr_decay": 0.1},
    ),
    "fine-tune-all": (
        "train every group, each group's LR a third of the one above",
        {"frozen": (), "optimizer": "sgd", "lr": 1e-2, "lr_decay": 0.3},
    ),
    "head-then-unfreeze": (
        "train the head alone for one epoch, then unfreeze everything with discriminative LRs",
        {"frozen": BACKBONE, "unfreeze": {g: 2 for g in BACKBONE}, "optimizer": "sgd", "lr": 1e-2, "lr_decay": 0.3},
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
    return config
