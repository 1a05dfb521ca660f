"""Statistics of key latencies, shared by the benchmarks that time keys (keys.py, soak.py)."""

from __future__ import annotations

import random
from collections.abc import Sequence


def p95(times: Sequence[float]) -> float:
    """The 95th percentile: the nearest of ``times`` by rank."""
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def chance(start: Sequence[float], end: Sequence[float], trials: int = 2_000, seed: int = 0) -> float:
    """How often the same presses, shuffled between the two ends, give an end / start p95 ratio at least the
    one measured: the share of ``trials`` random splits of them into two groups of the ends' sizes. Near 0
    says the end is slower than its start beyond what the order of the presses explains; a ratio over the
    goal with a chance of a tenth or more is one that presses of an unchanged tutor often give."""
    measured = p95(end) / p95(start)
    pooled = [*start, *end]
    shuffle = random.Random(seed).shuffle
    at_least = 0
    for _ in range(trials):
        shuffle(pooled)
        at_least += p95(pooled[len(start):]) / p95(pooled[:len(start)]) >= measured - 1e-12
    return at_least / trials
