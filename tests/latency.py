"""Statistics of key latencies, shared by the benchmarks that time keys (keys.py, soak.py)."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence


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


def holm(chances: Mapping[str, float]) -> dict[str, float]:
    """Holm's adjustment of chances read together: with a dozen keys, one of them under 0.05 is what
    unchanged presses give about half the time; an adjusted chance under 0.05 is one that all the keys
    together give less than one time in twenty."""
    adjusted, highest = {}, 0.0
    ordered = sorted(chances.items(), key=lambda item: item[1])
    for rank, (name, value) in enumerate(ordered):
        highest = max(highest, min(1.0, (len(ordered) - rank) * value))
        adjusted[name] = highest
    return adjusted


def over_by_chance(keys: Sequence[tuple[Sequence[float], Sequence[float]]], goal: float, draws: int = 400,
                   seed: int = 0) -> float:
    """How many of ``keys`` (each its presses before and after) an unchanged tutor puts over ``goal`` on
    average: each key's two groups drawn again, in their sizes, from its presses pooled (with replacement),
    ``draws`` times; the share of draws whose p95 ratio is over the goal, summed over the keys. The
    number of keys over the goal that the noise of p95s of this many presses explains."""
    choices = random.Random(seed).choices
    expected = 0.0
    for before, after in keys:
        pooled = [*before, *after]
        over = sum(p95(choices(pooled, k=len(after))) / p95(choices(pooled, k=len(before))) > goal
                   for _ in range(draws))
        expected += over / draws
    return expected
