"""The measurements the lessons quote that are not a single ``tltui train`` run, each reproducible.

    python benchmarks/lesson_numbers.py noise-probe   # lesson 3: a linear head memorises random labels
    python benchmarks/lesson_numbers.py knn           # lesson 3: k-NN on frozen features vs the probe
    python benchmarks/lesson_numbers.py lr-range      # lesson 6: an LR range test (Smith 2015)
    python benchmarks/lesson_numbers.py bitfit        # lesson 12: biases and norms only
    python benchmarks/lesson_numbers.py greyscale     # lesson 12: one grey channel into conv1

All run on a CPU in seconds to a minute, with the tiny backbone and its shipped weights (no download),
on tltui's built-in generated sets. Each prints what it measured and the seed it used.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tltui.engine import data as datasets  # noqa: E402
from tltui.engine import model as net  # noqa: E402
from tltui.engine.augment import BatchTransform  # noqa: E402

torch.set_num_threads(1)


def tiny_and_data(data: str, per_class: int, seed: int = 0):
    """The tiny backbone with its pretrained weights (a new 10-class head) and ``data`` at 32 px."""
    images = datasets.load(data, image_size=32, augment=(), val_fraction=0.2, limit_per_class=per_class, seed=seed)
    torch.manual_seed(seed)
    model, _, _ = net.build("tiny", len(images.classes), "pretrained")
    to_input = BatchTransform(32, (), torch.device("cpu"))
    return model, images, lambda x: to_input(x, train=False)


@torch.no_grad()
def features(model, prepare, x: torch.Tensor) -> torch.Tensor:
    """Pooled layer4 features of every image (the input of ``fc``), in eval mode."""
    model.eval()
    out = []
    for chunk in x.split(256):
        h = net.forward_until(model, "head", prepare(chunk))
        out.append(torch.flatten(h, 1))
    return torch.cat(out)


def noise_probe(args) -> None:
    """Lesson 3's snippet: a Linear(2048, 10) head on random features with random labels."""
    for n in (200, 2000, 20000):
        torch.manual_seed(args.seed)
        feats = torch.randn(n, 2048)
        labels = torch.randint(0, 10, (n,))
        head = torch.nn.Linear(2048, 10)
        opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-2)
        for _ in range(300):
            loss = F.cross_entropy(head(feats), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
        acc = (head(feats).argmax(1) == labels).float().mean().item()
        print(f"n={n:>6} random 2048-d features, random labels of 10 classes: training accuracy {acc:.1%} "
              f"after 300 full-batch AdamW steps (chance 10%)")


def knn(args) -> None:
    """k-NN on the tiny backbone's frozen features against the validation set, mean over seeds."""
    for data in ("builtin", "builtin-shifted"):
        for per_class in (10, 20):
            found: dict[int, list[float]] = {1: [], 5: []}
            for seed in range(args.seeds):
                model, images, prepare = tiny_and_data(data, per_class, seed)
                train = F.normalize(features(model, prepare, images.train_x), dim=1)
                val = F.normalize(features(model, prepare, images.val_x), dim=1)
                similarity = val @ train.T
                for k in found:
                    top = similarity.topk(k, dim=1).indices
                    votes = F.one_hot(images.train_y[top], len(images.classes)).sum(1)
                    found[k].append((votes.argmax(1) == images.val_y).float().mean().item())
            for k, accs in found.items():
                print(f"{data:>15}, {per_class} per class: {k}-NN (cosine) on frozen features, val accuracy "
                      f"{sum(accs) / len(accs):.1%} (mean of seeds 0..{args.seeds - 1}: "
                      f"{', '.join(f'{a:.1%}' for a in accs)})")


def lr_range(args) -> None:
    """Smith's range test: one pass with the LR growing exponentially per step; the loss at each LR."""
    model, images, prepare = tiny_and_data("builtin", 20, args.seed)
    results = {}
    for name, make in (("sgd", lambda p: torch.optim.SGD(p, lr=1e-7, momentum=0.9)),
                       ("adamw", lambda p: torch.optim.AdamW(p, lr=1e-7))):
        torch.manual_seed(args.seed)
        model, _, _ = net.build("tiny", len(images.classes), "pretrained")
        model.train()
        optimizer = make(model.parameters())
        start, end, steps = 1e-6, 10.0, 100
        factor = (end / start) ** (1 / (steps - 1))
        generator = torch.Generator().manual_seed(args.seed)
        smooth, best, curve = 0.0, math.inf, []
        for step in range(steps):
            lr = start * factor ** step
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = torch.randint(0, len(images.train_y), (32,), generator=generator)
            loss = F.cross_entropy(model(prepare(images.train_x[idx])), images.train_y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            smooth = 0.9 * smooth + 0.1 * loss.item()
            value = smooth / (1 - 0.9 ** (step + 1))  # bias-corrected moving average
            curve.append((lr, value))
            best = min(best, value)
            if not math.isfinite(value) or value > 4 * best:
                break
        lowest = min(curve, key=lambda p: p[1])
        slopes = [(curve[i][0], curve[i + 1][1] - curve[i - 1][1]) for i in range(1, len(curve) - 1)]
        steepest = min(slopes, key=lambda p: p[1])[0]
        results[name] = curve
        print(f"{name}: loss lowest at LR {lowest[0]:.1e}; falls fastest at {steepest:.1e}; "
              f"the rule of thumb (a tenth of the lowest point) gives {lowest[0] / 10:.1e}")
        for lr, value in curve[::10]:
            print(f"   LR {lr:8.1e}  smoothed loss {value:.3f}")


def bitfit(args) -> None:
    """Three ways to adapt the tiny backbone on the shifted set: head only, norms + biases + head, all."""
    for per_class in (10, 20):
        for arm in ("head only", "norms and biases + head", "every weight"):
            accs = []
            for seed in range(args.seeds):
                model, images, prepare = tiny_and_data("builtin-shifted", per_class, seed)
                for name, p in model.named_parameters():
                    if arm == "head only":
                        p.requires_grad = name.startswith("fc.")
                    elif arm.startswith("norms"):
                        p.requires_grad = name.startswith("fc.") or "bn" in name or "downsample.1" in name \
                            or name.endswith(".bias")
                trainable = [p for p in model.parameters() if p.requires_grad]
                optimizer = torch.optim.AdamW(trainable, lr=2e-3, weight_decay=0.05)
                steps, generator = 300, torch.Generator().manual_seed(seed)
                for step in range(steps):
                    for group in optimizer.param_groups:
                        group["lr"] = 2e-3 * 0.5 * (1 + math.cos(math.pi * step / steps))
                    model.train()
                    if arm == "head only":
                        model.eval()  # frozen BatchNorm keeps its statistics
                    idx = torch.randint(0, len(images.train_y), (32,), generator=generator)
                    loss = F.cross_entropy(model(prepare(images.train_x[idx])), images.train_y[idx])
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
                model.eval()
                with torch.no_grad():
                    acc = (model(prepare(images.val_x)).argmax(1) == images.val_y).float().mean().item()
                accs.append(acc)
            count = sum(p.numel() for p in trainable)
            mean = sum(accs) / len(accs)
            spread = (sum((a - mean) ** 2 for a in accs) / max(len(accs) - 1, 1)) ** 0.5
            print(f"builtin-shifted, {per_class} per class, {arm:>24} ({count:>6} weights train): val accuracy "
                  f"{mean:.1%} ± {spread:.1%} over seeds 0..{args.seeds - 1} (300 steps, AdamW 2e-3, cosine)")


def greyscale(args) -> None:
    """A grey image repeated into three channels gives exactly what conv1 with its weights summed over
    the colour channels gives on the one grey channel."""
    torch.manual_seed(args.seed)
    conv = torch.nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
    grey = torch.rand(2, 1, 64, 64)
    one = torch.nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
    with torch.no_grad():
        one.weight.copy_(conv.weight.sum(dim=1, keepdim=True))
        diff = (conv(grey.expand(-1, 3, -1, -1)) - one(grey)).abs().max().item()
    print(f"conv1 on a grey image copied to 3 channels vs conv1 with summed weights on 1 channel: "
          f"largest difference {diff:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("noise-probe", "knn", "lr-range", "bitfit", "greyscale"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3, help="knn, bitfit: seeds to average")
    args = parser.parse_args()
    started = time.perf_counter()
    {"noise-probe": noise_probe, "knn": knn, "lr-range": lr_range, "bitfit": bitfit,
     "greyscale": greyscale}[args.what](args)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
