"""Which defaults fit? Optimizer, LR, augmentation and epochs, measured on the tiny backbone.

For each dataset and training-set size (images per class), every recipe below fine-tunes the tiny
backbone from its shipped pretrained weights (every group trains, cosine schedule, batch 32, 32 px) on
the same data, split and seeds; the table is the validation accuracy after the last epoch (not the best
epoch: no picking on the validation set), mean over ``--seeds`` seeds, and the rank of each recipe.

Data: ``builtin`` and ``builtin-shifted`` (generated, tltui's own), and with ``--digits FILE`` the UCI
handwritten digits (8x8, 1,797 images; the ``digits.csv.gz`` that ships inside scikit-learn's wheel at
``sklearn/datasets/data/``), written to a temporary ImageFolder: the set where a horizontal flip
changes what a picture means.

Run: ``python benchmarks/defaults.py --digits digits.csv.gz`` (about 10 minutes a recipe on 2 busy CPU cores);
``--quick`` for one seed and 10 per class only; ``--recipes NAME,...`` for some of them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import msgspec  # noqa: E402
import sets  # noqa: E402

from tltui.core.protocol.config import RunConfig  # noqa: E402
from tltui.core.protocol.events import Epoch  # noqa: E402
from tltui.core.protocol.requests import FindLr  # noqa: E402
from tltui.engine import lr_find  # noqa: E402
from tltui.engine.train import prepare, train  # noqa: E402

RECIPES: dict[str, dict] = {
    "sgd 0.01 crop,flip,color (old default)": dict(optimizer="sgd", lr=1e-2, augment=("crop", "flip", "color")),
    "sgd 0.01 crop": dict(optimizer="sgd", lr=1e-2, augment=("crop",)),
    "sgd 0.1 crop": dict(optimizer="sgd", lr=1e-1, augment=("crop",)),
    "adamw 2e-3 crop": dict(optimizer="adamw", lr=2e-3, weight_decay=0.05, augment=("crop",)),
    "adamw 2e-3 crop wd 1e-4": dict(optimizer="adamw", lr=2e-3, weight_decay=1e-4, augment=("crop",)),
    "adamw 2e-3 crop,flip": dict(optimizer="adamw", lr=2e-3, weight_decay=0.05, augment=("crop", "flip")),
    "adamw 2e-3 crop,flip,color": dict(optimizer="adamw", lr=2e-3, weight_decay=0.05,
                                       augment=("crop", "flip", "color")),
    "sgd auto (valley) crop": dict(optimizer="sgd", lr="valley", augment=("crop",)),
    "adamw auto (valley) crop": dict(optimizer="adamw", lr="valley", weight_decay=0.05, augment=("crop",)),
    "adamw auto (steepest) crop": dict(optimizer="adamw", lr="steepest", weight_decay=0.05, augment=("crop",)),
}
"""``lr`` ``valley`` or ``steepest``: the LR finder's suggestion by that rule (``--lr auto`` uses valley),
found on the same data and seed before the run."""
FOUND: list[float] = []
"""The LRs the finder gave in this recipe's runs."""
BASE = dict(model="tiny", weights="pretrained", schedule="cosine", batch_size=32)


def digits_folder(csv_gz: Path, root: Path) -> str:
    """The UCI digits as one ImageFolder (one folder per digit, 8x8 greyscale PNGs), split by the run."""
    for name, images in sets.digits(csv_gz).items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, pixels in enumerate(images):
            Image.fromarray(pixels, mode="L").save(root / name / f"{i:04d}.png")
    return str(root)


def final_acc(config: RunConfig) -> float:
    """Validation accuracy after the last epoch of one engine run; an LR named by a rule is found first."""
    if isinstance(config.lr, str):
        found = lr_find.find(FindLr(config=msgspec.structs.replace(config, lr=1e-2)))
        config = msgspec.structs.replace(config, lr=found.suggested_lr if config.lr == "valley" else found.steepest_lr)
        FOUND.append(config.lr)
    accs: list[float] = []

    def emit(cls, **fields) -> None:
        if cls is Epoch:
            accs.append(fields["val_acc"])

    with tempfile.TemporaryDirectory() as run_dir:
        train(prepare(config), Path(run_dir), emit, lambda: False)
    return accs[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=Path, help="digits.csv.gz from scikit-learn's wheel")
    parser.add_argument("--sizes", default="5,10,50", help="images per class (default 5,10,50)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--recipes", help="comma-separated names (default: all)")
    parser.add_argument("--quick", action="store_true", help="one seed, 10 per class")
    args = parser.parse_args()
    sizes = [10] if args.quick else [int(s) for s in args.sizes.split(",")]
    seeds = 1 if args.quick else args.seeds
    recipes = {k: v for k, v in RECIPES.items() if not args.recipes or k in args.recipes.split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        datasets = {"builtin": "builtin", "builtin-shifted": "builtin-shifted"}
        if args.digits:
            datasets["digits (UCI)"] = digits_folder(args.digits, Path(tmp) / "digits")
        print(f"tiny backbone, pretrained; every group trains; cosine, batch 32, 32 px, {args.epochs} epochs; "
              f"validation accuracy (%) after the last epoch, mean of {seeds} seed(s)\n")
        header = "| recipe | " + " | ".join(f"{d} {n}/class" for d in datasets for n in sizes) + " | mean |"
        print(header)
        print("|---" * (header.count("|") - 1) + "|")
        started = time.monotonic()
        for name, recipe in recipes.items():
            cells, FOUND[:] = [], []
            for data in datasets.values():
                for per_class in sizes:
                    accs = [final_acc(RunConfig(data=data, limit_per_class=per_class, epochs=args.epochs, seed=seed,
                                                **BASE, **recipe)) for seed in range(seeds)]
                    cells.append(100 * statistics.mean(accs))
            found = (f" (found LRs {min(FOUND):.1e} to {max(FOUND):.1e}, median {statistics.median(FOUND):.1e})"
                     if FOUND else "")
            print(f"| {name}{found} | " + " | ".join(f"{c:.1f}" for c in cells)
                  + f" | **{statistics.mean(cells):.1f}** |", flush=True)
        print(f"\n{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
