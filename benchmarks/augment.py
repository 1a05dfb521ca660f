"""``engine/augment.py`` against ``kornia.augmentation``, on equal work: the same transforms and distributions.

Both turn a uint8 batch ``(B, 3, 256, 256)`` on the device into normalised ``(B, 3, 224, 224)`` floats with
RandomResizedCrop(224, scale=(0.25, 1), ratio=(3/4, 4/3), bilinear, align_corners=False),
RandomHorizontalFlip(0.5), ColorJitter(0.2, 0.2, 0.2, 0.05) and the ImageNet normalisation, each image its
own random draw. Kornia runs with ``cropping_mode="resample"`` (one batched warp, like ours) and with its
default ``"slice"`` (a crop and resize per image); the faster is compared.

It prints the median time per batch of each and the ratio, then checks that the outputs are alike:
- geometry (crop and flip only) on ramp images (red = x, green = y), where each output shows what it took:
  the share of the width and height it kept and whether it is mirrored;
- colour (jitter only, no crop) on the built-in set's images: per-image mean and spread per channel.
For each measure, quantiles over many images, ours then kornia's.

Run: ``python benchmarks/augment.py`` (``--batch 64 --repeats 5`` for a quicker run); needs ``pip install kornia``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tltui.engine import augment, builtin  # noqa: E402

SIZE, STORED = 224, 256


def kornia_pipeline(crop: bool, flip: bool, color: bool, mode: str, device: torch.device) -> torch.nn.Sequential:
    import kornia.augmentation as K

    steps = []
    if crop:
        steps.append(K.RandomResizedCrop((SIZE, SIZE), scale=augment.CROP_SCALE, ratio=augment.CROP_RATIO,
                                         align_corners=False, cropping_mode=mode))
    if flip:
        steps.append(K.RandomHorizontalFlip(p=0.5))
    if color:
        steps.append(K.ColorJitter(augment.JITTER, augment.JITTER, augment.JITTER, augment.HUE, p=1.0))
    return torch.nn.Sequential(*steps).to(device)


def ours(kinds: tuple[str, ...], device: torch.device):
    transform = augment.BatchTransform(SIZE, kinds, device)

    def run(x: torch.Tensor) -> torch.Tensor:
        return transform(x, train=True)
    return run


def theirs(kinds: tuple[str, ...], mode: str, device: torch.device):
    pipeline = kornia_pipeline("crop" in kinds, "flip" in kinds, "color" in kinds, mode, device)
    mean = torch.tensor(augment.MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(augment.STD, device=device).view(1, 3, 1, 1)

    def run(x: torch.Tensor) -> torch.Tensor:
        return (pipeline(x.float().div_(255)) - mean) / std
    return run


def timed(function, x: torch.Tensor, repeats: int) -> float:
    """Median seconds per call, after one warm-up call."""
    function(x)
    times = []
    for _ in range(repeats):
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        function(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def unnormalise(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tensor(augment.STD, device=x.device).view(1, 3, 1, 1) + torch.tensor(
        augment.MEAN, device=x.device).view(1, 3, 1, 1)


def geometry(out: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image of ramps: kept width and height shares, mirrored or not."""
    x = unnormalise(out)
    red, green = x[:, 0], x[:, 1]
    across = red[:, :, -1].mean(1) - red[:, :, 0].mean(1)  # +width share, or -width share when mirrored
    down = green[:, -1, :].mean(1) - green[:, 0, :].mean(1)
    return {"width share": across.abs() * SIZE / (SIZE - 1), "height share": down * SIZE / (SIZE - 1),
            "area share": across.abs() * down * (SIZE / (SIZE - 1)) ** 2, "mirrored": (across < 0).float()}


def colour(out: torch.Tensor) -> dict[str, torch.Tensor]:
    x = unnormalise(out)
    stats = {}
    for c, name in enumerate("RGB"):
        stats[f"{name} mean"] = x[:, c].mean((1, 2))
        stats[f"{name} spread"] = x[:, c].std((1, 2))
    return stats


def compare(title: str, measure, a, b, x: torch.Tensor, rounds: int) -> None:
    """Quantiles of each measure over ``rounds`` batches, ours then kornia's."""
    torch.manual_seed(0)
    left = [measure(a(x)) for _ in range(rounds)]
    right = [measure(b(x)) for _ in range(rounds)]
    print(f"\n{title}: quantiles 5/25/50/75/95 % and mean over {rounds * len(x)} images (ours | kornia)")
    for key in left[0]:
        qs = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95])
        row = []
        for side in (left, right):
            values = torch.cat([r[key] for r in side]).float().cpu()
            row.append(" ".join(f"{v:6.3f}" for v in torch.quantile(values, qs).tolist())
                       + f"  mean {values.mean():6.3f}")
        print(f"  {key:<13} {row[0]}  |  {row[1]}")


def ramps(n: int, device: torch.device) -> torch.Tensor:
    line = torch.linspace(0, 255, STORED, device=device)
    x = torch.empty(n, 3, STORED, STORED, device=device)
    x[:, 0] = line.view(1, 1, -1)
    x[:, 1] = line.view(1, -1, 1)
    x[:, 2] = 128
    return x.round().to(torch.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    images, _ = builtin.render(STORED, seed=0, per_class=max(1, args.batch // len(builtin.CLASSES)))
    x = torch.from_numpy(images[:args.batch]).permute(0, 3, 1, 2).contiguous().to(device)
    kinds = ("crop", "flip", "color")
    print(f"{len(x)} images {STORED} px -> {SIZE} px on {device} ({torch.get_num_threads()} threads), "
          f"crop + flip + colour + normalise, median of {args.repeats}:")
    mine = timed(ours(kinds, device), x, args.repeats)
    print(f"  engine/augment.py             {mine * 1e3:8.1f} ms/batch")
    kornia = {}
    for mode in ("resample", "slice"):
        kornia[mode] = timed(theirs(kinds, mode, device), x, args.repeats)
        print(f"  kornia (cropping {mode:<8})    {kornia[mode] * 1e3:8.1f} ms/batch")
    mode = min(kornia, key=kornia.get)
    print(f"  ratio kornia ({mode}) / ours: {kornia[mode] / mine:.2f}")

    rounds = max(1, 2048 // len(x))
    compare("geometry (crop + flip) on ramps", geometry, ours(("crop", "flip"), device),
            theirs(("crop", "flip"), mode, device), ramps(len(x), device), rounds)
    compare("colour (jitter) on the built-in images", colour, ours(("color",), device),
            theirs(("color",), mode, device), x[..., 16:16 + SIZE, 16:16 + SIZE].contiguous(), rounds)


if __name__ == "__main__":
    main()
