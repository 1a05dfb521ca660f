"""Does a linear LR warm-up (``--warmup-epochs``) help fine-tuning the tiny backbone? Each arm at its own best
LR, several seeds.

Every run: tiny backbone from its shipped pretrained weights, every group trains, AdamW (tltui's default),
cosine schedule, batch 32, 32 px, crops, EPOCHS epochs; the score is the validation accuracy after the last
epoch (no picking on the validation set). Arms: no warm-up, and a linear warm-up over WARMUP epochs (10%).
For each data set and arm, every LR of the grid is screened with SCREEN seeds (mean; a tie goes to the lower
LR); while an arm's best is the grid's highest, the grid of that data set grows by a doubling, for both arms
(at most EXTEND times). The best LR then runs REPORT fresh seeds, whose mean and Student-t 95% interval are
the table, with the paired difference (same seeds, warm-up minus none) and its interval.

Data: ``builtin`` at 20 images per class (its split follows the seed), and the UCI digits and Fashion-MNIST
at 20 per class as ``benchmarks/sets.py`` writes them (``train/`` + ``val/``; the README's "Diagnose your
data" has the command). Every run is appended to ``--results`` (JSON lines) and read back first, so an
interrupted measurement goes on where it stopped, and ``--report`` prints the tables without training.

    python benchmarks/warmup.py --digits digits20 --fashion fashion20 --results warmup.jsonl  # ~25 min, 2 cores
    python benchmarks/warmup.py --digits digits20 --fashion fashion20 --results warmup.jsonl --report
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tltui.core.diagnosis import over_folds  # noqa: E402
from tltui.core.protocol.config import RunConfig  # noqa: E402
from tltui.core.protocol.events import Epoch  # noqa: E402
from tltui.engine.train import prepare, train  # noqa: E402

RESULTS = Path("warmup.jsonl")
"""Where the runs are kept (``--results``)."""
DATA: dict[str, tuple[str, int]] = {"builtin (20/class)": ("builtin", 20)}
"""Name -> (the run's data, images per class); ``main`` adds the folders it is given."""
ARMS = {"none": 0.0, "warm-up 3 epochs": 3.0}
LRS = (1e-3, 2e-3, 4e-3, 8e-3, 1.6e-2)
EPOCHS = 30
EXTEND = 2
SCREEN = (0, 1)
REPORT = (2, 3, 4, 5, 6)


def key(data: str, arm: str, lr: float, seed: int) -> str:
    return f"{data}|{arm}|{lr:g}|{seed}"


def load() -> dict[str, float]:
    if not RESULTS.exists():
        return {}
    return {r["key"]: r["acc"] for r in map(json.loads, RESULTS.read_text().splitlines())}


def run(done: dict[str, float], data: str, arm: str, lr: float, seed: int) -> float:
    k = key(data, arm, lr, seed)
    if k in done:
        return done[k]
    path, per_class = DATA[data]
    config = RunConfig(data=path, limit_per_class=per_class, model="tiny", weights="pretrained", epochs=EPOCHS,
                       lr=lr, seed=seed, warmup_epochs=ARMS[arm])
    accs: list[float] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as run_dir:
        train(prepare(config), Path(run_dir), lambda cls, **f: accs.append(f["val_acc"]) if cls is Epoch else None,
              lambda: False)
    done[k] = accs[-1]
    with RESULTS.open("a") as f:
        f.write(json.dumps({"key": k, "acc": accs[-1], "seconds": round(time.monotonic() - started, 1)}) + "\n")
    print(k, f"{accs[-1]:.4f}", f"{time.monotonic() - started:.0f} s", flush=True)
    return accs[-1]


def grid(done: dict[str, float], data: str, train_missing: bool) -> tuple[float, ...]:
    """The LRs screened on ``data``: LRS, doubled past the top while an arm's best is the highest."""
    lrs = LRS
    for _ in range(EXTEND):
        if all(best_lr(done, data, arm, train_missing, lrs) != lrs[-1] for arm in ARMS):
            break
        lrs = (*lrs, lrs[-1] * 2)
    return lrs


def best_lr(done: dict[str, float], data: str, arm: str, train_missing: bool,
            lrs: tuple[float, ...] | None = None) -> float | None:
    means = {}
    for lr in lrs or grid(done, data, train_missing):
        accs = [run(done, data, arm, lr, s) if train_missing else done.get(key(data, arm, lr, s)) for s in SCREEN]
        if None in accs:
            return None
        means[lr] = sum(accs) / len(accs)
    return max(means, key=lambda lr: means[lr])


def report(done: dict[str, float]) -> None:
    print(f"| data | arm | best LR (screen: seeds {','.join(map(str, SCREEN))}) | final val acc, mean of "
          f"{len(REPORT)} seeds [95% CI] | warm-up minus none, paired [95% CI] |")
    print("|---|---|---|---|---|")
    for data in DATA:
        finals = {}
        for arm in ARMS:
            lr = best_lr(done, data, arm, False)
            accs = [done.get(key(data, arm, lr, s)) for s in REPORT] if lr else []
            if not accs or None in accs:
                print(f"| {data} | {arm} | (not done) | | |")
                continue
            finals[arm] = accs
            mean, low, high = over_folds(accs)
            diff = ""
            if len(finals) == 2:
                a, b = finals.values()
                d = [y - x for x, y in zip(a, b, strict=True)]
                m = sum(d) / len(d)
                spread = over_folds([(v + 1) / 2 for v in d])  # in [0, 1], where over_folds clips
                diff = f"{100 * m:+.1f} [{100 * (2 * spread[1] - 1):+.1f}, {100 * (2 * spread[2] - 1):+.1f}]"
            print(f"| {data} | {arm} | {lr:g} | {100 * mean:.1f} [{100 * low:.1f}, {100 * high:.1f}] | {diff} |")
    print("\nscreen: final val acc (%), mean of seeds " + ",".join(map(str, SCREEN)))
    for d in DATA:
        lrs = grid(done, d, False)
        print(f"{d}, LR: " + ", ".join(f"{lr:g}" for lr in lrs))
        for a in ARMS:
            row = [[done.get(key(d, a, lr, s)) for s in SCREEN] for lr in lrs]
            cells = [f"{100 * sum(v) / len(v):.1f}" if None not in v else "-" for v in row]
            print(f"  {a}: " + " ".join(cells))


def main() -> None:
    global RESULTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", help="the UCI digits at 20 per class, as benchmarks/sets.py writes them")
    parser.add_argument("--fashion", help="Fashion-MNIST at 20 per class, as benchmarks/sets.py writes them")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the runs, as JSON lines (default %(default)s)")
    parser.add_argument("--report", action="store_true", help="the tables from --results, without training")
    args = parser.parse_args()
    RESULTS = args.results
    DATA.update({name: (folder, 0) for name, folder in (("digits20", args.digits), ("fashion20", args.fashion))
                 if folder})
    done = load()
    if not args.report:
        started = time.monotonic()
        for data in DATA:
            for arm in ARMS:
                lr = best_lr(done, data, arm, True)
                for seed in REPORT:
                    run(done, data, arm, lr, seed)
        print(f"{time.monotonic() - started:.0f} s", flush=True)
    report(done)


if __name__ == "__main__":
    main()
