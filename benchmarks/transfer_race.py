"""Does the tiny backbone's pretraining help? Scratch vs feature extraction vs fine-tuning, measured.

For each dataset and training-set size (images per class, ``--limit-per-class``), three runs of the engine
on the same data, split and seeds, differing only in where they start and what trains:

- scratch: random weights (``--weights none``), every group trains;
- feature extraction: the shipped pretrained weights, backbone frozen, only the new head trains
  (no augmentation, so the backbone runs once over the images: the boundary cache);
- fine-tune: the shipped pretrained weights, every group trains.

All three use one recipe: AdamW, LR 2e-3 for every group, weight decay 0.05, cosine schedule, batch 32,
the same budget: at least ``--steps`` optimizer steps (300) and at least ``--min-epochs`` epochs (120, so
that scratch has converged at 50 per class too: it gained 10+ points from 300 to 2,000 steps there, while
at 5 per class it gained nothing more); scratch and fine-tune with
random crops and flips, feature extraction without (so its features are computed once). Reported: validation
accuracy after the last epoch (not the best epoch: no picking on the validation set), mean +- standard
deviation over ``--seeds`` seeds (a built-in set is rendered anew for each seed; a folder keeps its images,
the seed changes the initialisation and order).

Then the race at the default settings, as a learner runs it: ``tltui train builtin --model tiny`` with
``--weights none`` and with its pretrained weights, timed in this process (prepare + train, both runs) and,
with ``--cli``, end to end through the CLI (each run starts its own worker process, torch import included).

Run: ``python benchmarks/transfer_race.py`` (built-in sets at 5, 10 and 50 per class, 3 seeds, 12
minutes on 2 CPU cores), or ``--data PATH`` for an ImageFolder of your own photos, ``--quick`` for 1 seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tltui.core.groups import BACKBONE  # noqa: E402
from tltui.core.protocol.config import RunConfig  # noqa: E402
from tltui.core.protocol.events import Epoch, Finished, Started  # noqa: E402
from tltui.engine.train import prepare, train  # noqa: E402

METHODS = {
    "scratch": dict(weights="none", augment=("crop", "flip")),
    "feature extraction": dict(weights="pretrained", frozen=BACKBONE, augment=()),
    "fine-tune": dict(weights="pretrained", augment=("crop", "flip")),
}
RECIPE = dict(model="tiny", optimizer="adamw", lr=2e-3, weight_decay=0.05, schedule="cosine", batch_size=32)


def run(config: RunConfig) -> tuple[float, dict]:
    """(validation accuracy after the last epoch, the Started event's fields)."""
    seen: dict = {}

    def emit(cls, **fields) -> None:
        if cls is Epoch:
            seen["acc"] = fields["val_acc"]
        elif cls in (Started, Finished):
            seen[cls.__name__] = fields

    with tempfile.TemporaryDirectory() as run_dir:
        train(prepare(config), Path(run_dir), emit, lambda: False)
    return seen["acc"], seen["Started"]


def epochs_for(data: str, per_class: int, steps: int, min_epochs: int, device: str) -> tuple[int, int]:
    """(epochs that give at least ``steps`` steps and ``min_epochs`` epochs, the number of classes)."""
    prep = prepare(RunConfig(data=data, model="tiny", weights="none", limit_per_class=per_class, device=device,
                             augment=(), epochs=1))
    n, classes = len(prep.data.train_y), len(prep.data.classes)
    per_epoch = max(1, n // RECIPE["batch_size"] + (n % RECIPE["batch_size"] > 1))
    return max(min_epochs, -(-steps // per_epoch)), classes


def table(args) -> None:
    print(f"tiny backbone; recipe: AdamW, LR {RECIPE['lr']:g} for every group, weight decay "
          f"{RECIPE['weight_decay']:g}, cosine, batch {RECIPE['batch_size']}, at least {args.steps} steps and "
          f"{args.min_epochs} epochs, 32 px; {args.seeds} seed(s); device {args.device}")
    print("validation accuracy (%) after the last epoch, mean ± standard deviation over seeds\n")
    header = f"{'data':<18} {'per class':>9} {'epochs':>6}  " + "  ".join(f"{m:<18}" for m in METHODS) + "  seconds"
    print(header)
    print("-" * len(header))
    described = ""
    for data in args.data:
        for per_class in args.per_class:
            epochs, _ = epochs_for(data, per_class, args.steps, args.min_epochs, args.device)
            cells = []
            started = time.perf_counter()
            for fields in METHODS.values():
                accs = []
                for seed in range(args.seeds):
                    config = RunConfig(data=data, limit_per_class=per_class, seed=seed, device=args.device,
                                       epochs=epochs, **RECIPE, **fields)
                    acc, info = run(config)
                    accs.append(100 * acc)
                    if fields["weights"] != "none":
                        described = info["weights"]
                spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
                cells.append(f"{statistics.mean(accs):5.1f} ± {spread:4.1f}")
            name = Path(data).name if Path(data).exists() else data
            print(f"{name:<18} {per_class:>9} {epochs:>6}  " + "  ".join(f"{c:<18}" for c in cells)
                  + f"  {time.perf_counter() - started:7.0f}", flush=True)
    print(f"\npretrained weights: {described}")


def race(args) -> None:
    """The default race, scratch then pretrained, on the same data, split and seed."""
    print("\nthe race at the default settings: tltui train builtin --model tiny [--weights none]")
    started = time.perf_counter()
    results = {w: run(RunConfig(data="builtin", model="tiny", weights=w, device=args.device))
               for w in ("none", "pretrained")}
    seconds = time.perf_counter() - started
    config = results["none"][1]["config"]
    print(f"  defaults: {config.epochs} epochs, batch {config.batch_size}, {config.optimizer} LR {config.lr:g}, "
          f"{config.schedule}, augment {','.join(config.augment)}, {config.image_size} px, "
          f"{results['none'][1]['n_train']} train / {results['none'][1]['n_val']} val images")
    print(f"  validation accuracy after the last epoch: scratch {results['none'][0]:.1%}, "
          f"pretrained {results['pretrained'][0]:.1%}")
    print(f"  both runs in this process (prepare + train): {seconds:.1f} s")
    if args.cli:
        started = time.perf_counter()
        finals = []
        for weights in ("none", "pretrained"):
            out = subprocess.run([sys.executable, "-m", "tltui", "train", "builtin", "--model", "tiny", "--weights",
                                  weights, "--device", args.device, "--json"],
                                 capture_output=True, text=True, check=True)
            finals.append(json.loads(out.stdout.splitlines()[-1])["best_val_acc"])
        print(f"  end to end through the CLI, two `tltui train` commands one after the other (worker start and "
              f"torch import included): {time.perf_counter() - started:.1f} s "
              f"(best val acc: scratch {finals[0]:.1%}, pretrained {finals[1]:.1%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="builtin,builtin-shifted", help="comma-separated: builtin names or folders")
    parser.add_argument("--per-class", default="5,10,50", help="training images per class, comma-separated")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300, help="at least this many optimizer steps per run")
    parser.add_argument("--min-epochs", type=int, default=120, help="and at least this many epochs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cli", action="store_true", help="also time the default race through `tltui train`")
    parser.add_argument("--only", choices=["table", "race"], help="only the table, or only the race at defaults")
    parser.add_argument("--quick", action="store_true", help="1 seed")
    args = parser.parse_args()
    args.data = [str(Path(d).expanduser().resolve()) if Path(d).expanduser().exists() else d
                 for d in args.data.split(",")]
    args.per_class = [int(k) for k in args.per_class.split(",")]
    if args.quick:
        args.seeds = 1
    if args.only != "race":
        table(args)
    if args.only != "table":
        race(args)


if __name__ == "__main__":
    main()
