"""Pretrain the tiny backbone on generated fractals: how ``weights/tiny.pt`` was made, from its seed.

``tltui pretrain-tiny`` runs ``RECIPE`` (``weights/tiny.md`` records what it reached). Every epoch sees
fresh images of the same classes (``fractals.render`` with stream = epoch), rendered in a thread while
the previous epoch trains; the held-out batch is the ``fractals.HELD_OUT`` stream. One torch thread (the
fastest setting for this network), SGD with Nesterov momentum (weight decay on every parameter, as when the
shipped weights were made), a cosine schedule per step, label smoothing and +-``shift`` px random
translations; each step is the engine's ``TrainStep``. Same seed, same machine: the same bytes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from tltui.core import files
from tltui.engine import fractals, tiny
from tltui.engine.augment import BatchTransform
from tltui.engine.step import TrainStep

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Recipe:
    seed: int = 0
    classes: int = 100
    per_class: int = 500
    """Training images per class and epoch (fresh every epoch)."""
    epochs: int = 12
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    shift: int = 3
    held_out_per_class: int = 20


RECIPE = Recipe()
RECORDED_ACCURACY = 0.9405
"""Held-out accuracy of the shipped weights (``held_out(RECIPE)``), as ``weights/tiny.md`` records it."""


@dataclass
class Result:
    accuracy: float
    seconds: float
    fingerprint: str


def held_out(recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out batch: ``held_out_per_class`` unseen instances of every source class."""
    ifs = fractals.systems(recipe.classes, recipe.seed)
    return _tensors(*fractals.render(tiny.IMAGE_SIZE, recipe.seed, recipe.classes, recipe.held_out_per_class,
                                     stream=fractals.HELD_OUT, ifs=ifs))


@torch.inference_mode()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``model`` (put in eval mode) on uint8 ``images``."""
    model.eval()
    normalise = BatchTransform(tiny.IMAGE_SIZE, (), CPU, channels_last=True)
    hits = sum(int((model(normalise(images[i:i + batch_size], train=False)).argmax(1)
                    == labels[i:i + batch_size]).sum())
               for i in range(0, len(labels), batch_size))
    return hits / len(labels)


def pretrain(recipe: Recipe, out: Path, report: Callable[[str], None] = print) -> Result:
    """Train a TinyResNet with ``recipe`` and write its state_dict (head included) to ``out``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _pretrain(recipe, out, report)
    finally:
        torch.set_num_threads(threads)


def _pretrain(recipe: Recipe, out: Path, report: Callable[[str], None]) -> Result:
    started = time.monotonic()
    torch.manual_seed(recipe.seed)
    model = tiny.TinyResNet(recipe.classes).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=True,
                                weight_decay=recipe.weight_decay)
    normalise = BatchTransform(tiny.IMAGE_SIZE, (), CPU, channels_last=True)
    step = TrainStep(model, optimizer, CPU, recipe.label_smoothing)
    generator = torch.Generator().manual_seed(recipe.seed)
    ifs = fractals.systems(recipe.classes, recipe.seed)
    test_x, test_y = held_out(recipe)
    steps_per_epoch = max(1, recipe.classes * recipe.per_class // recipe.batch_size)
    total = steps_per_epoch * recipe.epochs

    def epoch_data(epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        return _tensors(*fractals.render(tiny.IMAGE_SIZE, recipe.seed, recipe.classes, recipe.per_class,
                                         stream=epoch, ifs=ifs))

    with ThreadPoolExecutor(1) as pool:
        upcoming = pool.submit(epoch_data, 0)
        for epoch in range(recipe.epochs):
            x, y = upcoming.result()
            if epoch + 1 < recipe.epochs:
                upcoming = pool.submit(epoch_data, epoch + 1)
            model.train()
            order = torch.randperm(len(y), generator=generator)
            loss_sum = torch.zeros(())
            for s in range(steps_per_epoch):
                idx = order[s * recipe.batch_size:(s + 1) * recipe.batch_size]
                batch = _shift(normalise(x[idx], train=False), recipe.shift, generator)
                lr = recipe.lr * 0.5 * (1 + math.cos(math.pi * (epoch * steps_per_epoch + s) / total))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss, _ = step(batch, y[idx])
                loss_sum += loss
            acc = accuracy(model, test_x, test_y)
            report(f"epoch {epoch + 1}/{recipe.epochs}  loss {loss_sum.item() / steps_per_epoch:.3f}  "
                   f"held-out accuracy {acc:.1%}  {time.monotonic() - started:.0f} s")
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(out, lambda file: torch.save(state, file))
    return Result(accuracy=acc, seconds=time.monotonic() - started, fingerprint=fingerprint(state))


def fingerprint(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state_dict's names and tensor bytes (a file's own bytes also depend on its name)."""
    digest = hashlib.sha256()
    for key in sorted(state):
        digest.update(key.encode())
        digest.update(state[key].contiguous().numpy().tobytes())
    return digest.hexdigest()


def main(out: Path, recipe: Recipe = RECIPE) -> int:
    """``tltui pretrain-tiny``: pretrain, then say whether the result is the shipped weights, bit for bit."""
    shipped = None
    if recipe == RECIPE and tiny.WEIGHTS_FILE.is_file():
        shipped = fingerprint(torch.load(tiny.WEIGHTS_FILE, map_location="cpu", weights_only=True))
    print(f"pretraining the tiny backbone on {recipe.classes} fractal classes x {recipe.per_class} fresh images "
          f"an epoch, {recipe.epochs} epochs, seed {recipe.seed} -> {out}", flush=True)
    result = pretrain(recipe, out, lambda line: print(line, flush=True))
    print(f"held-out accuracy {result.accuracy:.1%} in {result.seconds:.0f} s; fingerprint {result.fingerprint}")
    if shipped:
        print("identical to the shipped weights" if result.fingerprint == shipped else
              f"not bit-identical to the shipped weights (another CPU or torch build rounds differently); "
              f"they reached {RECORDED_ACCURACY:.1%}")
    return 0


def command(argv: list[str]) -> int:
    """``python -m tltui.engine.pretrain OUT [CHANGES]``, which ``tltui pretrain-tiny`` becomes once it has
    checked its flags: ``main`` with ``CHANGES`` to the recipe (a JSON object); a disk that fills while it
    trains is one line, exit 2."""
    changes = json.loads(argv[1]) if len(argv) > 1 else {}
    try:
        return main(Path(argv[0]), dataclasses.replace(RECIPE, **changes))
    except OSError as error:
        print(f"tltui: {files.full_disk(error)}", file=sys.stderr)
        return 2


def _tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels)


def _shift(x: torch.Tensor, pixels: int, generator: torch.Generator) -> torch.Tensor:
    """Each image translated by up to ``pixels`` in x and y, edges repeated (torchvision's RandomAffine
    draws one translation per call, so a batch would need a loop)."""
    if not pixels:
        return x
    n, side = x.shape[0], x.shape[-1]
    padded = F.pad(x, (pixels,) * 4, mode="replicate")
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, n, 1), generator=generator)
    rows = (dy + torch.arange(side))[:, :, None]
    cols = (dx + torch.arange(side))[:, None, :]
    out = padded[torch.arange(n)[:, None, None], :, rows, cols]  # (n, side, side, C)
    return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


if __name__ == "__main__":
    sys.exit(command(sys.argv[1:]))
