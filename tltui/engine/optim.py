"""The optimizer with one parameter group per layer group, and the per-step learning-rate schedules.

Each parameter group carries its layer group's ``name`` and its ``base_lr``; every step sets
``lr = base_lr * factor(step)``. A group unfrozen mid-run joins with ``add_param_group``: the others keep
their momentum and state.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ONE_CYCLE_WARMUP = 0.3
ONE_CYCLE_START = 1 / 25
ONE_CYCLE_END = 1 / 25e4


def factor(schedule: str, step: int, total: int) -> float:
    """The schedule's multiplier of every base LR at ``step`` (0-based) of ``total`` steps."""
    t = min(step, total) / max(total, 1)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * t))
    if schedule == "onecycle":  # as torch's OneCycleLR with cosine annealing, but for every group's own LR
        if t < ONE_CYCLE_WARMUP:
            return ONE_CYCLE_START + (1 - ONE_CYCLE_START) * 0.5 * (1 - math.cos(math.pi * t / ONE_CYCLE_WARMUP))
        rest = (t - ONE_CYCLE_WARMUP) / (1 - ONE_CYCLE_WARMUP)
        return ONE_CYCLE_END + (1 - ONE_CYCLE_END) * 0.5 * (1 + math.cos(math.pi * rest))
    raise ValueError(f"unknown schedule {schedule!r}")


def build(kind: str, groups: list[tuple[str, list[nn.Parameter], float]], *, momentum: float,
          weight_decay: float, scale: float = 1.0) -> torch.optim.Optimizer:
    """An optimizer with one parameter group per ``(name, params, base_lr)``, its LR ``base_lr * scale``."""
    param_groups = [_group(name, params, base_lr, scale) for name, params, base_lr in groups]
    if kind == "sgd":
        return torch.optim.SGD(param_groups, lr=param_groups[0]["lr"], momentum=momentum, nesterov=False,
                               weight_decay=weight_decay)
    if kind == "adamw":
        return torch.optim.AdamW(param_groups, lr=param_groups[0]["lr"], weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {kind!r}")


def add(optimizer: torch.optim.Optimizer, name: str, params: list[nn.Parameter], base_lr: float,
        scale: float) -> None:
    """Add a layer group that joins mid-run; existing groups and their state are untouched."""
    optimizer.add_param_group(_group(name, params, base_lr, scale))


def set_scale(optimizer: torch.optim.Optimizer, scale: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * scale


def lrs(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    return {group["name"]: group["lr"] for group in optimizer.param_groups}


def _group(name: str, params: list[nn.Parameter], base_lr: float, scale: float) -> dict:
    return {"params": params, "name": name, "base_lr": base_lr, "lr": base_lr * scale}
