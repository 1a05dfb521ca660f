"""Which lift tells a similar domain from a shifted one: k-NN's or the linear probe's?

``tltui diagnose`` reads "similar domain" from a lift (core/diagnosis.lift): a classifier's accuracy on the
frozen pretrained features, rescaled so that the same classifier on the same network's random features is 0
and perfect is 1. This measures both lifts exactly as diagnose computes them (its pool, its folds, its
features, ``knn.predict`` and ``Diagnoser._probe``) on ``builtin``, which the tiny backbone's pretraining
resembles, and ``builtin-shifted``, which it does not, at several sizes and seeds; a signal is better the
wider the gap between the two sets compared with the spread over seeds within each.

    python benchmarks/similarity.py                      # builtin pair, 10/20/50 per class, seeds 0-4
    python benchmarks/similarity.py --sets DIR1 DIR2 --per-class 0 --seeds 1   # folders (train/ alone)

About 8 minutes on 2 busy CPU cores (no network trains: the features once per set, size and seed, then k-NN
and the probe on every fold). The README's diagnose section has the table this printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tltui.core import diagnosis  # noqa: E402
from tltui.core.protocol.config import RunConfig  # noqa: E402
from tltui.engine import diagnose, knn, model as net  # noqa: E402


def lifts(data: str, per_class: int, seed: int, run_dir: Path) -> tuple[float, float]:
    """(k-NN's lift, the probe's lift) over ``diagnose``'s folds of ``data``, as its notes report them."""
    config = RunConfig(data=data, model="tiny", image_size=32, limit_per_class=per_class, seed=seed, device="cpu")
    d = diagnose.Diagnoser(config, 0, run_dir, lambda *_, **__: None, lambda: False)
    d.pool = diagnose.load(d.config)
    d.y = d.pool.y
    classes = len(d.pool.classes)
    folds = diagnosis.splits(d.pool.y.tolist(), seed, groups=d.pool.groups)
    torch.manual_seed(seed)
    model, _, _ = net.build("tiny", classes, "pretrained")
    features = d._features(model)
    torch.manual_seed(seed)
    model.load_state_dict(net.new("tiny", classes).state_dict())
    random = d._features(model)
    assert features is not None and random is not None
    hits = {(name, on): 0 for name in ("knn", "probe") for on in ("pretrained", "random")}
    for tr, va in folds:
        for on, f in (("pretrained", features), ("random", random)):
            hits["knn", on] += int((knn.predict(f.train[tr], d.y[tr], f.held[va]) == d.y[va]).sum())
            hits["probe", on] += d._probe(f, (tr, va)) or 0
    n = len(d.y)
    return tuple(diagnosis.lift(hits[name, "pretrained"] / n, hits[name, "random"] / n)  # type: ignore[return-value]
                 for name in ("knn", "probe"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["builtin", "builtin-shifted"])
    parser.add_argument("--per-class", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    found: dict[tuple[str, int], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.per_class:
            for data in args.sets:
                found[data, n] = [lifts(data, n, seed, Path(tmp)) for seed in range(args.seeds)]
                k, p = zip(*found[data, n], strict=True)
                print(f"{Path(data).name} {n or 'all'} per class: k-NN lift " + " ".join(f"{x:.2f}" for x in k)
                      + " | probe lift " + " ".join(f"{x:.2f}" for x in p), flush=True)
    if len(args.sets) != 2:
        return
    similar, shifted = args.sets
    print("\n| per class | signal | similar: mean (min-max) | shifted: mean (min-max) | gap "
          "| gap / spread over seeds |")
    print("|---|---|---|---|---|---|")
    for n in args.per_class:
        for i, name in enumerate(("k-NN", "probe")):
            a = [x[i] for x in found[similar, n]]
            b = [x[i] for x in found[shifted, n]]
            spread = ((statistics.variance(a) + statistics.variance(b)) / 2) ** 0.5 if len(a) > 1 else float("nan")
            gap = statistics.mean(a) - statistics.mean(b)
            print(f"| {n} | {name} | {statistics.mean(a):.2f} ({min(a):.2f}-{max(a):.2f}) | {statistics.mean(b):.2f} "
                  f"({min(b):.2f}-{max(b):.2f}) | {gap:.2f} | {gap / spread:.1f} |")


if __name__ == "__main__":
    main()
