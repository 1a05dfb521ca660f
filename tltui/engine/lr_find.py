"""The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks", sec. 3.3).

A few batches of real training, the LR raised exponentially from tiny to huge, one step each: the loss
first barely moves, then falls, then blows up. ``find`` sweeps the head's LR over the setting's
trainable groups (frozen groups stay frozen; the lower groups keep their ratio to the head, so
discriminative LRs are swept as a whole) and suggests an LR from the smoothed curve by one of fastai's
two rules:

- ``steepest`` (the suggestion): where the smoothed loss falls fastest against log LR.
- ``valley`` (reported alongside; fastai's default since its PR #3377): the longest stretch over which the
  loss keeps falling, and a point half way down it. Less moved by one noisy dip, but cautious: measured
  with the tiny backbone (benchmarks/defaults.py, the README's table), AdamW runs at the valley LR
  (median 6.3e-4) reached 76.1 % mean validation accuracy, at the steepest (median 1.0e-2) 81.0 %, near
  the best fixed LR's 82.0 %. So ``--lr auto`` takes the steepest.

With flips among the augmentations, it first checks that a mirror image means the same here
(engine/mirror.py) and warns if not. The sweep is a side trip: the weights, the optimizer state and the RNG
are put back as they were (``restored``), so a finder run mid-training changes nothing.
"""

from __future__ import annotations

import contextlib
import copy
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from tltui.core.errors import BadInput
from tltui.core.protocol.events import Note
from tltui.core.protocol.replies import LrFound
from tltui.core.protocol.requests import FindLr
from tltui.engine import mirror, model as net, optim, train
from tltui.engine.step import TrainStep

SMOOTHING = 0.98
"""Exponential moving average of the loss, bias-corrected (fastai's ``SmoothenValue``)."""
DIVERGED = 4.0
"""The sweep stops once the smoothed loss passes this many times its lowest (fastai's ``stop_div``)."""

Report = Callable[[int, int, float, float], None]
"""``report(step, steps, lr, smoothed_loss)`` after each step."""


@contextlib.contextmanager
def restored(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> Iterator[None]:
    """Run the block, then put back ``model``'s weights and buffers, ``optimizer``'s state and LRs, the RNG."""
    weights = copy.deepcopy(model.state_dict())
    state = copy.deepcopy(optimizer.state_dict())
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    try:
        yield
    finally:
        model.load_state_dict(weights)
        optimizer.load_state_dict(state)
        torch.set_rng_state(rng)
        if cuda_rng:
            torch.cuda.set_rng_state_all(cuda_rng)


def sweep(trainer: train.Trainer, step: TrainStep, *, steps: int, start_lr: float, end_lr: float,
          report: Report, should_stop: Callable[[], bool]) -> tuple[list[tuple[float, float]], str]:
    """Train ``steps`` batches at head LRs from ``start_lr`` to ``end_lr`` (geometric); ((LR, smoothed loss)
    pairs, why it stopped early or ''). Changes the model and optimizer: wrap it in ``restored``."""
    cfg = trainer.cfg
    n, bs = len(trainer.data.train_y), min(cfg.batch_size, len(trainer.data.train_y))
    generator = torch.Generator().manual_seed(cfg.seed)
    order, at = torch.randperm(n, generator=generator), 0
    net.set_trainable(trainer.model, set(trainer.trainable), cfg.bn)
    curve: list[tuple[float, float]] = []
    average, lowest = 0.0, math.inf
    for i in range(steps):
        if should_stop():
            return curve, "cancelled"
        lr = start_lr * (end_lr / start_lr) ** (i / max(steps - 1, 1))
        optim.set_scale(trainer.optimizer, lr / cfg.lr)  # each group's base LR is its share of cfg.lr
        if at + bs > n:
            order, at = torch.randperm(n, generator=generator), 0
        x, y = trainer.train_batch(order[at:at + bs].to(trainer.device))
        at += bs
        loss = step(x, y)[0].item()
        if not math.isfinite(loss):
            return curve, f"the loss became {'NaN' if math.isnan(loss) else 'infinite'} at LR {lr:.2g}"
        average = SMOOTHING * average + (1 - SMOOTHING) * loss
        smoothed = average / (1 - SMOOTHING ** (i + 1))
        curve.append((lr, smoothed))
        report(i + 1, steps, lr, smoothed)
        lowest = min(lowest, smoothed)
        if smoothed > DIVERGED * lowest:
            return curve, f"the loss diverged at LR {lr:.2g} ({DIVERGED:g}x its lowest)"
    return curve, ""


def _trimmed(curve: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The curve without its first tenth (the average is still settling) and last five steps (it blows up),
    as fastai trims it; the whole curve if that leaves too little."""
    kept = curve[len(curve) // 10:-5]
    return kept if len(kept) >= 5 else curve


def valley(curve: list[tuple[float, float]]) -> float:
    """fastai's ``valley``: the longest decreasing run of the loss (not necessarily contiguous), and the LR
    a half of the way down it."""
    points = _trimmed(curve)
    losses = [loss for _, loss in points]
    longest = [1] * len(losses)
    start = end = 0
    for i in range(1, len(losses)):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
        if longest[i] > longest[end]:
            end = i
            start = end - longest[end]
    third = (end - start) / 3
    return points[max(0, start + int(third) + int(third / 2))][0]


def steepest(curve: list[tuple[float, float]]) -> float:
    """The LR where the smoothed loss falls fastest against log LR (central differences)."""
    points = _trimmed(curve)
    if len(points) < 3:
        return points[0][0]
    x = [math.log10(lr) for lr, _ in points]
    y = [loss for _, loss in points]
    slopes = [(y[i + 1] - y[i - 1]) / (x[i + 1] - x[i - 1]) for i in range(1, len(points) - 1)]
    return points[1 + min(range(len(slopes)), key=slopes.__getitem__)][0]


def find(request: FindLr, report: Report = lambda *_: None,
         should_stop: Callable[[], bool] = lambda: False) -> LrFound:
    """Build the setting of ``request.config`` (data, model, frozen groups, optimizer), sweep, suggest.
    BadInput (one line) for a setting that cannot run or a sweep too short to read."""
    if not 10 <= request.steps <= 1000:
        raise BadInput(f"the sweep needs 10 to 1000 steps, not {request.steps}")
    if not 0 < request.start_lr < request.end_lr <= 1e3:
        raise BadInput(f"the sweep needs 0 < start LR < end LR <= 1000, not {request.start_lr:g}..{request.end_lr:g}")
    started = time.monotonic()
    prep = train.prepare(request.config)
    notes = list(prep.notes)

    def emit(cls: type, **fields: Any) -> None:
        if cls is Note:
            notes.append(fields["message"])

    with tempfile.TemporaryDirectory() as nowhere:  # a Trainer wants a run dir; the sweep saves nothing
        trainer = train.Trainer(prep, Path(nowhere), emit, should_stop)
        data = prep.data
        flips = mirror.warning(prep.model, trainer.transform, data.train_x, data.train_y, data.val_x,
                               data.val_y) if "flip" in prep.config.augment else ""
        trainer.start_optimizer()
        if trainer.cut and not trainer.build_cache():
            raise BadInput("the LR finder was cancelled")
        step = trainer.make_step()
        with restored(trainer.model, trainer.optimizer):
            curve, stopped = sweep(trainer, step, steps=request.steps, start_lr=request.start_lr,
                                   end_lr=request.end_lr, report=report, should_stop=should_stop)
    if stopped == "cancelled":
        raise BadInput("the LR finder was cancelled")
    if len(curve) < 10:
        raise BadInput(f"the sweep stopped after {len(curve)} steps ({stopped}): start it lower (--start-lr)")
    fastest, longest = steepest(curve), valley(curve)
    return LrFound(suggested_lr=fastest, rule="steepest", steepest_lr=fastest, valley_lr=longest, curve=curve,
                   stopped=stopped, config=prep.config, notes=notes, warnings=[flips] if flips else [],
                   seconds=time.monotonic() - started)
