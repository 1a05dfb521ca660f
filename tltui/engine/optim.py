"""The optimizer, two parameter groups per layer group, and the per-step learning-rate schedules.

Each layer group joins as two parameter groups with its ``name`` and ``base_lr``: its weights (conv and
linear, ``ndim > 1``) with the run's weight decay, its BatchNorm weights and biases (``ndim <= 1``) with
none, as timm's ``param_groups_weight_decay`` and torchvision's reference ``set_weight_decay`` do (not
timm itself: it splits a whole model, not one layer group at a time). Every step sets
``lr = base_lr * factor(step)`` (not ``torch.optim.lr_scheduler``: a scheduler fixes the groups' base LRs
when it is made, and gradual unfreezing adds groups later). A group unfrozen mid-run joins with
``add_param_group``: the others keep their momentum and state.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tltui.core import schedule

factor = schedule.factor
"""The schedule's multiplier of every base LR at a step (tltui/core/schedule.py, shared with the export)."""


def build(kind: str, groups: list[tuple[str, list[nn.Parameter], float]], *, momentum: float,
          weight_decay: float, scale: float = 1.0) -> torch.optim.Optimizer:
    """An optimizer with the two parameter groups of each ``(name, params, base_lr)``, at ``base_lr * scale``."""
    param_groups = [pg for name, params, base_lr in groups
                    for pg in param_groups_of(name, params, base_lr, scale, weight_decay)]
    if kind == "sgd":
        return torch.optim.SGD(param_groups, lr=param_groups[0]["lr"], momentum=momentum, nesterov=False)
    if kind == "adamw":
        return torch.optim.AdamW(param_groups, lr=param_groups[0]["lr"])
    raise ValueError(f"unknown optimizer {kind!r}")


def add(optimizer: torch.optim.Optimizer, name: str, params: list[nn.Parameter], base_lr: float,
        scale: float, weight_decay: float) -> None:
    """Add a layer group that joins mid-run; existing groups and their state are untouched."""
    for group in param_groups_of(name, params, base_lr, scale, weight_decay):
        optimizer.add_param_group(group)


def set_scale(optimizer: torch.optim.Optimizer, scale: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * scale


def lrs(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Each layer group's LR (its two parameter groups share it)."""
    return {group["name"]: group["lr"] for group in optimizer.param_groups}


def param_groups_of(name: str, params: list[nn.Parameter], base_lr: float, scale: float,
                    weight_decay: float) -> list[dict]:
    """A layer group's parameter groups: weights with ``weight_decay``, then norm weights and biases without."""
    decayed = [p for p in params if p.ndim > 1]
    kept = [p for p in params if p.ndim <= 1]
    return [_group(name, decayed, base_lr, scale, weight_decay), _group(name, kept, base_lr, scale, 0.0)]


def split_legacy(state: dict, parameters: Callable[[str], list[nn.Parameter]]) -> dict:
    """An optimizer state_dict saved with one parameter group per layer group (checkpoints before version 2),
    split as ``param_groups_of`` splits each group: it loads into today's optimizer, momentum and all."""
    groups = []
    for group in state["param_groups"]:
        params = parameters(group["name"])
        ids = dict(zip(map(id, params), group["params"], strict=False))
        decayed, kept = param_groups_of(group["name"], params, group["base_lr"], 1.0, group["weight_decay"])
        for new in (decayed, kept):
            groups.append({**group, "params": [ids[id(p)] for p in new["params"]],
                           "weight_decay": new["weight_decay"]})
    return {"state": state["state"], "param_groups": groups}


def _group(name: str, params: list[nn.Parameter], base_lr: float, scale: float, weight_decay: float) -> dict:
    return {"params": params, "name": name, "base_lr": base_lr, "lr": base_lr * scale, "weight_decay": weight_decay}
