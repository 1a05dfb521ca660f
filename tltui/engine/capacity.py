"""How many shuffled labels a linear probe memorises: the capacity of a linear classifier, measured.

A linear classifier on d features can fit any labelling of n <= d + 1 points in general position
(Cover 1965; Zhang et al. 2017, "Understanding deep learning requires rethinking generalization", sec. 5).
That is the worst labelling; a random one of K classes often fits further (two classes: half of them up to
n = 2(d + 1), Cover 1965), and then training accuracy falls towards chance.

``measure`` shows it on real features: the frozen backbone's pooled features (the input of ``fc``, through
``cache.build`` as ``pictures.fitted_head`` computes them) of a pool of images (a data source's training
and validation images together), their labels shuffled with the seed (``data.shuffle_labels``), the
images in a seeded random order. For each n of a grid around d + 1, a probe (``probe.fit``: L-BFGS to a
plateau, penalty ``L2``, nearly none) is fitted on the first n images and its training accuracy kept; the
same on standard Gaussian features of the same dimension, with the same labels (points in general
position: the reference). Real features are far from general position: many of their directions carry
almost no variance (``effective_rank``), so they memorise less. Measured here (the widget's ``r``: the tiny
backbone, d = 128, ``builtin``, seed 0, 10 classes), both were memorised up to n = 258 = 2(d + 1); the
real features then fell to 97 % at 387 and 82 % at 516 = 4(d + 1), where the Gaussian ones still fitted
every label; both fell to about 40 % at n = 8(d + 1); 67 of the 128 directions held 99 % of the real
features' variance (Gaussian: 126).

Everything runs on the CPU, as the pictures do; nothing is stored. Bad input raises BadInput (one line).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from tltui.core.errors import BadInput
from tltui.core.protocol.config import MAX_SEED
from tltui.core.protocol.replies import CapacityPoint, CapacityReply
from tltui.core.protocol.requests import Capacity
from tltui.engine import cache, data as datasets, device as devices, model as net, pictures, probe
from tltui.engine.augment import BatchTransform

CPU = torch.device("cpu")
FRACTIONS = (0.25, 0.5, 1, 2, 3, 4, 6, 8)
"""The default grid, in multiples of d + 1: below the guarantee, at it, and on to where random labels stop."""
MAX_SIZES = 20
L2 = probe.L2_GRID[0]
"""The probe's penalty: the smallest its cross-validation tries (on the scaled features: nearly none)."""
VARIANCE = 0.99
RANK_RULE = f"principal components holding {VARIANCE:.0%} of the variance of the centred features"

Report = Callable[[int, int, str], None]
"""``report(done, total, text)`` after each step."""


def measure(request: Capacity, report: Report = lambda *_: None,
            should_stop: Callable[[], bool] = lambda: False) -> CapacityReply:
    """The sweep ``request`` asks for; BadInput (one line) for bad input, or once ``should_stop`` says so."""
    started = time.monotonic()
    if not 0 <= request.seed <= MAX_SEED:
        raise BadInput(f"the seed must be 0 to {MAX_SEED}, not {request.seed}")
    model, weights = pictures.backbone(request.model, request.weights)
    size = devices.default_image_size(CPU, request.model)
    images = datasets.load(request.data, image_size=size, augment=(), val_fraction=pictures.SPLIT,
                           limit_per_class=0, seed=0)
    datasets.shuffle_labels(images, request.seed)
    pool, labels = torch.cat([images.train_x, images.val_x]), torch.cat([images.train_y, images.val_y])
    dim = net.feature_dim(model)
    sizes, notes = _sizes(request.sizes, dim, len(labels))
    generator = torch.Generator().manual_seed(request.seed)
    order = torch.randperm(len(labels), generator=generator)[:sizes[-1]]
    labels = labels[order]
    total = 1 + 2 * len(sizes)
    report(0, total, f"{net.LABELS[request.model]}'s features of {len(order)} images")
    transform = BatchTransform(size, (), CPU)
    real = cache.build(model, "head", pool[order], lambda b: transform(b, train=False), batch_size=64,
                       dtype=torch.float32, device=CPU, should_stop=should_stop)
    if real is None:
        raise BadInput("the capacity sweep was cancelled")
    report(1, total, f"{real.shape[1]} features of each image")
    gaussian = torch.randn(real.shape, generator=generator)
    classes = len(images.classes)
    try:
        points = sweep(real, gaussian, labels, classes, sizes,
                       lambda done, text: report(1 + done, total, text), should_stop)
    except probe.Stopped:
        raise BadInput("the capacity sweep was cancelled") from None
    return CapacityReply(
        model=net.LABELS[request.model], weights=weights,
        source=f"{request.data}: {len(order)} images, labels shuffled (seed {request.seed})", dim=dim,
        classes=classes, chance=round(float(labels.bincount().max()) / len(labels), 4), l2=L2, points=points,
        effective_rank=effective_rank(real), gaussian_rank=effective_rank(gaussian), rank_rule=RANK_RULE,
        notes=notes, seconds=round(time.monotonic() - started, 1),
    )


def sweep(real: torch.Tensor, gaussian: torch.Tensor, labels: torch.Tensor, classes: int, sizes: list[int],
          report: Callable[[int, str], None] = lambda *_: None,
          should_stop: Callable[[], bool] = lambda: False) -> list[CapacityPoint]:
    """For each n of ``sizes``, the training accuracy of a probe fitted on the first n rows of ``real``, and of
    one on the first n of ``gaussian``, with the same labels; ``report(fits done, text)`` after each fit.
    probe.Stopped once ``should_stop`` says so."""
    points = []
    for i, n in enumerate(sizes):
        fitted = []
        for j, (name, features) in enumerate((("real", real), ("Gaussian", gaussian))):
            accuracy = probe.fit(features[:n], labels[:n], classes, L2, should_stop=should_stop).accuracy
            fitted.append(round(accuracy, 4))
            report(2 * i + j + 1, f"n = {n}: {name} features {accuracy:.1%}")
        points.append(CapacityPoint(n=n, real=fitted[0], gaussian=fitted[1]))
    return points


def grid(dim: int) -> list[int]:
    """The default sizes: ``FRACTIONS`` of ``dim + 1``."""
    return sorted({max(2, round(f * (dim + 1))) for f in FRACTIONS})


def _sizes(asked: tuple[int, ...], dim: int, pool: int) -> tuple[list[int], list[str]]:
    """The sizes to fit (increasing), and a note where the pool is too small for the default grid."""
    if asked:
        if len(asked) > MAX_SIZES:
            raise BadInput(f"a sweep takes at most {MAX_SIZES} sizes, not {len(asked)}")
        for n in asked:
            if not 2 <= n <= pool:
                raise BadInput(f"each size must be 2 to {pool} (the images of the pool), not {n}")
        return sorted(set(asked)), []
    sizes = [n for n in grid(dim) if n <= pool]
    if len(sizes) == len(grid(dim)):
        return sizes, []
    note = (f"the pool has {pool} images, so n stops at {pool} = {pool / (dim + 1):.2g} (d + 1); "
            "a folder with more images goes further")
    return sorted({*sizes, pool}), [note]


def effective_rank(features: torch.Tensor) -> int:
    """The number of principal components holding ``VARIANCE`` of the variance of ``features`` centred and
    divided by one common scale, as the probe fits them."""
    mean, scale = probe._moments(features.float())
    z = (features.float() - mean) / scale
    variances = torch.linalg.eigvalsh(z.T @ z / len(z)).flip(0).clamp_min(0)
    held = variances.cumsum(0) / variances.sum()
    return int((held < VARIANCE).sum()) + 1
