"""benchmarks/soak.py's comparison of two groups of presses: what it counts and names."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def presses(draw: random.Random, keys: dict[str, int], slower: dict[str, float]) -> list[tuple[str, float]]:
    return [(key, draw.lognormvariate(-4.5, 0.3) * slower.get(key, 1.0)) for key, n in keys.items() for _ in range(n)]


def test_a_key_slower_in_every_press_is_over_the_goal_beyond_chance_and_the_others_are_not(soak, capsys):
    draw = random.Random(3)
    keys = {"j": 300, "k": 300, "tab": 300}
    failed = soak.compare(presses(draw, keys, {}), presses(draw, keys, {"k": 1.6}), ("fresh", "aged"))
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line[:1] in "jkt" and "<=" in line}
    assert rows["k"].endswith("NOT met")
    assert rows["j"].endswith(": met") and rows["tab"].endswith(": met")
    assert failed == out.count("NOT met") >= 1  # k, and the pooled row it pulls up
    assert "over it with a Holm chance under 0.05: k, all keys\n" in out


def test_few_presses_say_how_many_keys_over_the_goal_the_noise_explains(soak, capsys):
    draw = random.Random(4)
    keys = {name: 20 for name in "abcdefghij"}
    soak.compare(presses(draw, keys, {}), presses(draw, keys, {}))
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("keys over 1.2:"))
    expected = float(line.split("puts ")[1].split(" over")[0])
    assert expected >= 1.0, line
    assert line.endswith("under 0.05: none")
