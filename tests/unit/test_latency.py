"""The benchmarks' latency statistics: the p95, and how often shuffled presses give a ratio."""

from __future__ import annotations

import random

import pytest

from latency import chance, holm, over_by_chance, p95


def test_p95_is_the_press_at_the_95th_rank():
    assert p95([float(n) for n in range(1, 101)]) == 95.0
    assert p95([3.0]) == 3.0
    assert p95([5.0, 1.0, 4.0, 2.0, 3.0]) == 5.0


def test_an_end_slower_in_every_press_is_never_matched_by_shuffling():
    start = [0.010 + 0.0001 * n for n in range(40)]
    end = [0.020 + 0.0001 * n for n in range(40)]
    assert chance(start, end) < 0.01


def test_the_same_tutor_measured_twice_gives_large_chances():
    draw = random.Random(1)
    presses = [draw.lognormvariate(-4.5, 0.4) for _ in range(80)]
    start, end = presses[:40], presses[40:]
    assert chance(start, end) > 0.05
    assert chance(end, start) > 0.05


def test_a_ratio_over_the_goal_made_by_the_few_slowest_presses_has_a_large_chance():
    start = [0.010] * 37 + [0.011, 0.012, 0.013]
    end = [0.010] * 37 + [0.014, 0.016, 0.017]
    assert p95(end) / p95(start) > 1.2  # the third slowest of 40 decides it
    assert chance(start, end) > 0.1, "six presses of 80, as shuffling deals them"


def test_chances_repeat_with_the_seed():
    start, end = [0.01, 0.02, 0.03] * 10, [0.012, 0.02, 0.04] * 10
    assert chance(start, end, seed=3) == chance(start, end, seed=3)


def test_holm_multiplies_the_smallest_chance_by_the_number_of_keys_and_keeps_the_order():
    adjusted = holm({"j": 0.01, "k": 0.04, "tab": 0.03, "esc": 0.9, "T": 0.5})
    assert adjusted["j"] == pytest.approx(0.05)  # 5 keys
    assert adjusted["tab"] == pytest.approx(0.12)  # 4 left
    assert adjusted["k"] == pytest.approx(0.12)  # 3 x 0.04, raised to the one before it
    assert adjusted["T"] == pytest.approx(1.0)  # 2 x 0.5
    assert adjusted["esc"] == pytest.approx(1.0)
    assert holm({}) == {}


def test_few_presses_of_an_unchanged_tutor_put_keys_over_the_goal_and_many_presses_do_not():
    draw = random.Random(2)

    def key(presses: int) -> tuple[list[float], list[float]]:
        times = [draw.lognormvariate(-4.5, 0.4) for _ in range(2 * presses)]
        return times[:presses], times[presses:]

    few = over_by_chance([key(25) for _ in range(10)], 1.2)
    many = over_by_chance([key(1000) for _ in range(10)], 1.2)
    assert few > 1.0, "p95s of 25 presses: more than one key of ten over 1.2x by chance"
    assert many < 0.1
    one = [key(25)]
    assert over_by_chance(one, 1.2, seed=5) == over_by_chance(one, 1.2, seed=5)
