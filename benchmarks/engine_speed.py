"""The engine against the plain tutorial loop, on the same images and the same frozen ResNet-50.

Data: the built-in set (10 classes) written to disk as an ImageFolder of PNGs, ``train/`` and ``val/``
(30 + 50 images per class by default: 300 + 500 at 64 px). Both sides start from the same random
initialisation (``--weights none``: no ImageNet weights here; the cost is the same), train with the same
batch size, SGD (momentum 0.9, no weight decay), a constant LR and the same epochs, on the CPU.

(a) The plain loop, as the source lesson writes it:
    - ``torchvision.datasets.ImageFolder`` with per-image transforms: Resize(73) + CenterCrop(64) (or
      RandomResizedCrop(64, scale=(0.25, 1)) + RandomHorizontalFlip() when augmenting), ToTensor,
      Normalize(ImageNet);
    - ``DataLoader(batch_size, shuffle=True, num_workers=W)`` for training and ``shuffle=False`` for
      validation, W = ``--workers`` (default 0: on 2 cores, loader processes compete with the compute
      threads, and 0 was the fastest setting measured here); pin_memory off (CPU);
    - frozen groups get ``requires_grad=False``; the optimizer takes the parameters that require grad;
    - each epoch: ``model.train()``, forward, loss, backward, step over the training set, then
      ``model.eval()`` under ``torch.no_grad()`` over the validation set.
(b) The engine: ``prepare`` + ``train`` on the same folder with the same settings, timed from the start of
    ``prepare`` (decoding the PNGs, building the model) to Finished (checkpoints written).

Run: ``python benchmarks/engine_speed.py`` (``--quick`` for a smaller, shorter version).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision import transforms as T

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tltui.core.groups import BACKBONE, GROUPS  # noqa: E402
from tltui.core.protocol.config import RunConfig  # noqa: E402
from tltui.core.protocol.events import Epoch, Finished  # noqa: E402
from tltui.engine import (
    builtin,  # noqa: E402
    model as net,
)
from tltui.engine.augment import MEAN, STD  # noqa: E402
from tltui.engine.train import prepare, train  # noqa: E402

SIZE = 64
CASES = [
    # name, frozen groups, augmentation, epochs (full run), epochs (--quick), target speed-up
    ("feature extraction", BACKBONE, (), 10, 5, 5.0),
    ("layer4 + head, no augmentation", ("stem", "layer1", "layer2", "layer3"), (), 5, 3, 1.8),
    ("full fine-tune, crop + flip", (), ("crop", "flip"), 2, 1, 1.0),
]


def write_folder(root: Path, train_per_class: int, val_per_class: int, seed: int) -> None:
    images, labels = builtin.render(SIZE, seed, per_class=train_per_class + val_per_class)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        split = "train" if i % (train_per_class + val_per_class) < train_per_class else "val"
        folder = root / split / builtin.CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:05d}.png")


def plain_loop(root: Path, frozen: tuple[str, ...], augment: tuple[str, ...], epochs: int, args) -> float:
    """The tutorial loop; returns seconds from building the datasets to the last validation pass."""
    started = time.perf_counter()
    resize = round(SIZE / 0.875)
    normalize = [T.ToTensor(), T.Normalize(MEAN, STD)]
    evaluation = T.Compose([T.Resize(resize), T.CenterCrop(SIZE), *normalize])
    training = T.Compose([T.RandomResizedCrop(SIZE, scale=(0.25, 1.0)), T.RandomHorizontalFlip(), *normalize]) \
        if augment else evaluation
    train_set = torchvision.datasets.ImageFolder(root / "train", training)
    val_set = torchvision.datasets.ImageFolder(root / "val", evaluation)
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=args.batch_size, shuffle=True,
                                               num_workers=args.workers)
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=args.batch_size, shuffle=False,
                                             num_workers=args.workers)
    torch.manual_seed(0)
    model = torchvision.models.resnet50(num_classes=len(train_set.classes))
    for group in frozen:
        for p in net.group_parameters(model, group):
            p.requires_grad = False
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=args.lr, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        for x, y in train_loader:
            loss = criterion(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in val_loader:
                correct += (model(x).argmax(1) == y).sum().item()
    print(f"    plain: last val acc {correct / len(val_set):.3f}")
    return time.perf_counter() - started


def engine(root: Path, frozen: tuple[str, ...], augment: tuple[str, ...], epochs: int, args) -> tuple[float, str]:
    """prepare + train; returns (seconds, path)."""
    config = RunConfig(data=str(root), weights="none", device="cpu", image_size=SIZE, frozen=frozen,
                       augment=augment, epochs=epochs, batch_size=args.batch_size, lr=args.lr, momentum=0.9,
                       weight_decay=0.0, schedule="constant")
    finished: dict = {}
    last: dict = {}

    def emit(cls, **fields):
        if cls is Epoch:
            last.update(fields)
        if cls is Finished:
            finished.update(fields)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        train(prepare(config), Path(run_dir), emit, lambda: False)
        seconds = time.perf_counter() - started
    print(f"    engine: last val acc {last['val_acc']:.3f}, path {finished['path']}")
    return seconds, finished["path"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer images and epochs")
    parser.add_argument("--workers", type=int, default=0, help="the plain loop's DataLoader num_workers")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--cases", default="1,2,3", help="which cases to run, e.g. 1,3")
    args = parser.parse_args()
    train_n, val_n = (15, 25) if args.quick else (30, 50)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {10 * train_n} train + "
          f"{10 * val_n} val images at {SIZE} px; batch {args.batch_size}; plain DataLoader workers {args.workers}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "builtin"
        write_folder(root, train_n, val_n, seed=0)
        for number, (name, frozen, augment, epochs, quick_epochs, target) in enumerate(CASES, 1):
            if str(number) not in args.cases.split(","):
                continue
            epochs = quick_epochs if args.quick else epochs
            print(f"{number}. {name}, {epochs} epochs, trains {', '.join(g for g in GROUPS if g not in frozen)}")
            plain = plain_loop(root, frozen, augment, epochs, args)
            fast, path = engine(root, frozen, augment, epochs, args)
            rows.append((name, epochs, plain, fast, path, target))
    print()
    print(f"{'case':34} {'epochs':>6} {'plain s':>8} {'engine s':>9} {'speed-up':>9} {'target':>7}  path")
    for name, epochs, plain, fast, path, target in rows:
        ratio = plain / fast
        verdict = "met" if ratio >= target else "MISSED"
        print(f"{name:34} {epochs:>6} {plain:>8.1f} {fast:>9.1f} {ratio:>8.2f}x {target:>6.1f}x  {path}  {verdict}")


if __name__ == "__main__":
    main()
