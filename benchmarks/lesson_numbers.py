"""The measurements the lessons quote that are not a single ``tltui train`` run, each reproducible.

    python benchmarks/lesson_numbers.py noise-probe   # lesson 3: a linear head memorises random labels
    python benchmarks/lesson_numbers.py capacity      # lessons 3, 11: shuffled labels a probe can fit
    python benchmarks/lesson_numbers.py knn           # lesson 3: k-NN on frozen features vs the probe
    python benchmarks/lesson_numbers.py lr-range      # lesson 7: an LR finder (fastai's exponential sweep)
    python benchmarks/lesson_numbers.py schedulers    # lesson 9: torch's LR schedulers after add_param_group
    python benchmarks/lesson_numbers.py lp-ft-batchnorm --digits digits.csv.gz  # lesson 9: LP-FT without AdaBN
    python benchmarks/lesson_numbers.py bitfit        # lesson 12: biases and norms only
    python benchmarks/lesson_numbers.py greyscale     # lesson 12: one grey channel into conv1

All run on a CPU in seconds to a few minutes, with the tiny backbone and its shipped weights (no download),
on tltui's built-in generated sets (``capacity --digits digits.csv.gz`` adds the UCI digits, the file that
ships inside scikit-learn's wheel; ``lp-ft-batchnorm`` needs them). Each prints what it measured and the seed it used.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tltui.engine import (
    data as datasets,  # noqa: E402
    model as net,  # noqa: E402
)
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


def fit_shuffled(feats: torch.Tensor, labels: torch.Tensor, steps: int = 2000) -> float:
    """Training accuracy of a linear head solved to convergence on ``feats``: each feature standardised
    (so low-variance directions are reachable in few steps), full batch, Adam, no weight decay."""
    x = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    head = torch.nn.Linear(x.shape[1], int(labels.max()) + 1)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = F.cross_entropy(head(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (head(x).argmax(1) == labels).float().mean().item()


def capacity(args) -> None:
    """Shuffled labels against the number of images, on the tiny backbone's 128 features and on Gaussian
    features of the same shape (points in general position), with how many dimensions the real ones use."""
    with tempfile.TemporaryDirectory() as tmp:
        sets = ["builtin"]
        if args.digits:
            from defaults import digits_folder  # benchmarks/defaults.py

            sets.append(digits_folder(args.digits, Path(tmp) / "digits"))
        for data in sets:
            for per_class in (10, 20, 50, 0):
                model, images, prepare = tiny_and_data(data, per_class, args.seed)
                feats = features(model, prepare, images.train_x)
                n, d = feats.shape
                labels = images.train_y[torch.randperm(n, generator=torch.Generator().manual_seed(args.seed))]
                spectrum = torch.linalg.svdvals(feats - feats.mean(0)) ** 2
                share = spectrum.cumsum(0) / spectrum.sum()
                rank = int((spectrum > spectrum[0] * 1e-10).sum())
                silent = int((feats.abs().amax(0) == 0).sum())
                real = fit_shuffled(feats, labels)
                torch.manual_seed(args.seed)
                gaussian = fit_shuffled(torch.randn(n, d), labels)
                print(f"{'digits' if data != 'builtin' else data:>7}, n={n:>4} images, d={d}: rank {rank}, "
                      f"{silent} channels never fire, 99% of the variance in {int((share < 0.99).sum()) + 1} "
                      f"directions; shuffled labels fitted: {real:.1%} (Gaussian features: {gaussian:.1%})")


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
    """An LR finder as fastai's (after Smith's range test): one pass with the LR growing exponentially per
    step; the smoothed loss at each LR."""
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


def schedulers(args) -> None:
    """What torch's LR schedulers do when a param group joins after they were made, and whether rebuilding
    them (``last_epoch`` and an ``initial_lr`` per group) puts every group back on the schedule's curve."""
    print(f"torch {torch.__version__}")
    total, joined = 100, 10
    curve = lambda step: 0.5 * (1 + math.cos(math.pi * step / total))  # noqa: E731
    makers = {
        "OneCycleLR": lambda opt, last=-1: torch.optim.lr_scheduler.OneCycleLR(opt, 1e-2, total_steps=total),
        "LambdaLR": lambda opt, last=-1: torch.optim.lr_scheduler.LambdaLR(opt, curve, last_epoch=last),
        "CosineAnnealingLR": lambda opt, last=-1: torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=total, last_epoch=last),
    }
    for name, make in makers.items():
        old, new = torch.nn.Linear(4, 2), torch.nn.Linear(4, 4)
        optimizer = torch.optim.SGD(old.parameters(), lr=1e-2, momentum=0.9)
        scheduler = make(optimizer)
        for _ in range(joined):
            optimizer.step()
            scheduler.step()
        optimizer.add_param_group({"params": new.parameters(), "lr": 3e-3})
        try:
            for _ in range(3):
                optimizer.step()
                scheduler.step()
            said = f"ran on; its base_lrs: {scheduler.base_lrs}"
        except (KeyError, ValueError) as error:
            said = f"{type(error).__name__}: {error}"
        print(f"{name}, stepped after add_param_group: {said}")
    for name in ("LambdaLR", "CosineAnnealingLR"):
        old, new = torch.nn.Linear(4, 2), torch.nn.Linear(4, 4)
        optimizer = torch.optim.SGD(old.parameters(), lr=1e-2, momentum=0.9)
        scheduler = makers[name](optimizer)
        for _ in range(joined):
            optimizer.step()
            scheduler.step()
        optimizer.add_param_group({"params": new.parameters(), "lr": 3e-3, "initial_lr": 3e-3})
        scheduler = makers[name](optimizer, joined - 1)  # making it takes a step: back on step `joined`
        for _ in range(5):
            optimizer.step()
            scheduler.step()
        want = [base * curve(joined + 5) for base in (1e-2, 3e-3)]
        got = [group["lr"] for group in optimizer.param_groups]
        print(f"{name} rebuilt at step {joined}, five steps later: LRs {got[0]:.6f}, {got[1]:.6f}; "
              f"the curve says {want[0]:.6f}, {want[1]:.6f}")


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


def lp_ft_batchnorm(args) -> None:
    """LP-FT (``--head-first``) on the UCI digits at 5 per class, 30 epochs, as ``tltui train`` runs it, and
    again with the engine's BatchNorm re-estimation before the probe switched off (the head then fitted to
    features normalised by the pretraining statistics)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import sets

    from tltui.core.protocol.config import RunConfig
    from tltui.core.protocol.events import Epoch, HeadFitted
    from tltui.engine import train as engine

    if args.digits is None:
        sys.exit("lp-ft-batchnorm needs --digits digits.csv.gz")
    refresh = engine.Trainer.refresh_batchnorm
    digits = sets.split(sets.digits(args.digits), 54)
    with tempfile.TemporaryDirectory() as tmp:
        for lr in (2e-3, 5e-3):
            for arm in ("re-estimated", "as pretrained"):
                probes, finals = [], []
                for seed in range(args.seeds):
                    folder = sets.write(Path(tmp) / f"digits5-{seed}", *digits, 5, seed)
                    engine.Trainer.refresh_batchnorm = refresh if arm == "re-estimated" else lambda self: []
                    seen: dict = {"val": []}

                    def emit(cls, **fields) -> None:  # called within this iteration: its seen is this seed's
                        if cls is HeadFitted:
                            seen["probe"] = fields["val_acc"]  # noqa: B023
                        elif cls is Epoch:
                            seen["val"].append(fields["val_acc"])  # noqa: B023

                    config = RunConfig(data=folder, model="tiny", weights="pretrained", head_first=True, lr=lr,
                                       epochs=30, seed=seed)
                    with tempfile.TemporaryDirectory() as run_dir:
                        engine.train(engine.prepare(config), Path(run_dir), emit, lambda: False)
                    probes.append(seen["probe"])
                    finals.append(seen["val"][-1])
                engine.Trainer.refresh_batchnorm = refresh
                listed = ["; ".join(f"{a:.1%}" for a in accs) for accs in (probes, finals)]
                print(f"digits, 5 per class, AdamW {lr:g}, BatchNorm {arm:>13}: probe {listed[0]}; after 30 epochs "
                      f"{listed[1]} (seeds 0..{args.seeds - 1}; mean {sum(finals) / len(finals):.1%})", flush=True)


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
    parser.add_argument("what", choices=("noise-probe", "capacity", "knn", "lr-range", "schedulers", "bitfit",
                                         "greyscale", "lp-ft-batchnorm"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, default=3, help="knn, bitfit, lp-ft-batchnorm: seeds to average")
    parser.add_argument("--digits", type=Path,
                        help="capacity, lp-ft-batchnorm: digits.csv.gz from scikit-learn's wheel")
    args = parser.parse_args()
    started = time.perf_counter()
    {"noise-probe": noise_probe, "capacity": capacity, "knn": knn, "lr-range": lr_range,
     "schedulers": schedulers, "bitfit": bitfit, "greyscale": greyscale,
     "lp-ft-batchnorm": lp_ft_batchnorm}[args.what](args)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
