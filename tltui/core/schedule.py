"""The learning-rate schedules: the multiplier of every group's base LR at each step. The engine trains
with these functions and ``tltui export`` copies their source into the script it writes, so the two
cannot drift apart. Each is self-contained (``math`` only)."""

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


SCHEDULES = {"cosine": cosine, "onecycle": one_cycle}


def factor(schedule: str, step: int, total: int) -> float:
    """The multiplier of every base LR at ``step`` (0-based) of ``total`` steps."""
    if schedule == "constant":
        return 1.0
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}")
    return SCHEDULES[schedule](step, total)


def source(schedule: str, name: str = "lr_factor") -> str:
    """The Python source of ``schedule``'s function, renamed ``name``; '' for the constant schedule."""
    if schedule not in SCHEDULES:
        return ""
    function = SCHEDULES[schedule]
    return inspect.getsource(function).replace(f"def {function.__name__}(", f"def {name}(", 1).rstrip()
