"""Following a preset reproduces the table that chose it (``benchmarks/presets.py``; the README's "Presets,
measured"): the same command on the same data gives the accuracy the benchmark recorded, and the preset is
its strategy's best recipe there."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from tltui.core.presets import PRESETS, PROBE

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import presets as bench  # noqa: E402
import sets  # noqa: E402

RESULTS = [json.loads(line) for line in (ROOT / "benchmarks" / "results" / "presets.jsonl").read_text().splitlines()]
DIGITS = ROOT / "tests" / "data" / "digits.csv.gz"
"""The UCI digits as scikit-learn ships them (``sklearn/datasets/data/digits.csv.gz``, BSD-3; the data CC BY 4.0)."""
PER_CLASS, SEED = 20, 0
TLTUI = [sys.executable, "-m", "tltui"]


def recorded(fields: dict, data: str = "digits", per_class: int = PER_CLASS, seed: int = SEED) -> float | None:
    """The benchmark's accuracy for the recipe ``fields`` in one cell, or None if it was not run there."""
    fields = json.loads(json.dumps(fields))
    return next((r["acc"] for r in RESULTS if r["data"] == data and r["per_class"] == per_class and r["seed"] == seed
                 and r["fields"] == fields), None)


def cell_means(fields: dict) -> list[float] | None:
    """The recipe's mean over the benchmark's seeds in every cell, or None where a cell lacks a seed."""
    means = []
    for data in ("builtin", "builtin-shifted", "digits"):
        for n in bench.SIZES:
            accs = [recorded(fields, data, n, seed) for seed in range(3)]
            if None in accs:
                return None
            means.append(statistics.mean(accs))
    return means


def test_every_preset_but_the_probe_was_chosen_from_candidates():
    """The probe has no recipe to choose: its penalty is cross-validated in each run."""
    assert set(PRESETS) - set(bench.CANDIDATES) == {PROBE} and set(bench.CANDIDATES) <= set(PRESETS)


@pytest.mark.parametrize("name", list(bench.CANDIDATES))
def test_each_preset_is_the_best_recipe_its_strategy_measured(name):
    """Among the recipes that ran every seed in every cell (the finalists of the screening), the preset has
    the best mean: the README's rule for choosing it."""
    finalists = {recipe: cell_means(fields) for recipe, fields in bench.CANDIDATES[name].items()}
    finalists = {recipe: statistics.mean(m) for recipe, m in finalists.items() if m is not None}
    preset = statistics.mean(cell_means(PRESETS[name][1]))
    assert preset == max(finalists.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PRESETS))
def test_following_a_preset_reproduces_its_measured_accuracy(tmp_path, name):
    folder = sets.write(tmp_path / "digits", *sets.split(sets.digits(DIGITS), bench.DIGITS_VAL), PER_CLASS, SEED)
    expected = recorded(bench.preset_fields(name))
    assert expected is not None, f"{name} was not measured on the digits at {PER_CLASS} per class"
    epochs = [] if name == PROBE else ["--epochs", str(bench.EPOCHS)]  # the probe is one fit, its one epoch
    result = subprocess.run([*TLTUI, "train", folder, "--preset", name, "--model", "tiny", *epochs,
                             "--seed", str(SEED), "--json"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    epochs_run = [e for e in map(json.loads, result.stdout.splitlines()) if e["event"] == "epoch"]
    assert len(epochs_run) == (1 if name == PROBE else bench.EPOCHS)
    assert epochs_run[-1]["val_acc"] == pytest.approx(expected, abs=0.01)
