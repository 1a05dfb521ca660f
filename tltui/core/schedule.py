"""The learning-rate schedules: the multiplier of every group's base LR at each step. The engine trains
with these functions and ``tltui export`` copies their source into the script it writes, so the two
cannot drift apart. Each is self-contained (``math`` only).

A warm-up (``warmup``) multiplies the schedule over its first steps, so every group's LR, discriminative or
joining late, is scaled by the same factor; the schedule itself still runs over all the steps (torchvision's
reference scripts instead chain ``LinearLR`` and start the main schedule after the warm-up)."""

from __future__ import annotations

import inspect
import math


def cosine(step, total):
    """Every group's LR follows a cosine from base_lr down to 0."""
    t = min(step, total) / max(total, 1)
    return 0.5 * (1 + math.cos(math.pi * t))


def one_cycle(step, total):
    """One cycle, as torch's OneCycleLR (cosine) but for each
    group's own LR: from base_lr / 25 up to base_lr over the first
    30% of the steps, then a cosine down to base_lr / 25e4."""
    t = min(step, total) / max(total, 1)
    if t < 0.3:
        up = 0.5 * (1 - math.cos(math.pi * t / 0.3))
        return 1 / 25 + (1 - 1 / 25) * up
    down = 0.5 * (1 + math.cos(math.pi * (t - 0.3) / 0.7))
    return 1 / 25e4 + (1 - 1 / 25e4) * down


def warmup(step, steps):
    """Linear warm-up: 1/steps of the LR at step 0, rising by as
    much each step to the whole LR at step steps - 1, then 1."""
    return min(1.0, (step + 1) / steps) if steps > 0 else 1.0


SCHEDULES = {"cosine": cosine, "onecycle": one_cycle}


def factor(schedule: str, step: int, total: int, warmup_steps: int = 0) -> float:
    """The multiplier of every base LR at ``step`` (0-based) of ``total`` steps, the first ``warmup_steps``
    of them warming up."""
    if schedule not in (*SCHEDULES, "constant"):
        raise ValueError(f"unknown schedule {schedule!r}")
    base = 1.0 if schedule == "constant" else SCHEDULES[schedule](step, total)
    return warmup(step, warmup_steps) * base


def warmup_steps(epochs: float, steps_per_epoch: int) -> int:
    """The steps of a warm-up of ``epochs`` (a fraction allowed), at least one when there is one."""
    return max(1, round(epochs * steps_per_epoch)) if epochs > 0 else 0


def source(schedule: str, name: str = "lr_factor") -> str:
    """The Python source of ``schedule``'s function (``warmup`` for the warm-up's), renamed ``name``; '' for
    the constant schedule."""
    function = warmup if schedule == "warmup" else SCHEDULES.get(schedule)
    if function is None:
        return ""
    return inspect.getsource(function).replace(f"def {function.__name__}(", f"def {name}(", 1).rstrip()
