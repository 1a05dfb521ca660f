"""``tltui diagnose``: measure the strategies on repeated splits of the learner's data, in a time budget.

The data (train and validation pooled: it is all the learner has) is loaded once and split into folds
(core/diagnosis.py). The frozen backbone runs once over every image (the boundary cache at the head,
``cache.build``): k-NN and the linear probe of every fold read those features. Then per fold: head then
unfreeze (LP-FT, Kumar et al. 2022: the fold's probe is its first stage), fine-tune everything from a
new head, and from scratch where the budget allows, each for the same epochs at one learning rate, no
augmentation, judged on the fold's held-out images after the last epoch (picking the best epoch on them
would flatter). A short timed step sizes the plan; folds that would run past the budget are not started.

``run`` calls ``emit(EventClass, **fields)`` as training does: Started, Notes, one Measured per strategy
and fold, then Diagnosis (or Cancelled).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import msgspec
import torch
import torch.nn.functional as F
from torch import nn

from tltui.core import diagnosis, schedule
from tltui.core.errors import BadInput
from tltui.core.groups import GROUPS
from tltui.core.protocol import (
    MAX_FILES, Cancelled, Diagnosis, Measured, Note, RunConfig, Started, StrategyResult,
)
from tltui.engine import cache, data as datasets, device as devices, model as net, optim, train
from tltui.engine.augment import BatchTransform
from tltui.engine.step import TrainStep

Emit = Callable[..., object]

BATCH = 32
TARGET_STEPS = 300
"""Optimizer steps a training strategy aims at per fold; its epochs follow from the fold's size."""
MAX_EPOCHS = 30
TUNE_LR = {"tiny": 2e-3, "resnet50": 1e-4}
"""AdamW's LR for every group when the network trains from pretrained weights (LP-FT's second stage and
fine-tune everything alike, so they differ in the head's start only)."""
SCRATCH_LR = {"tiny": 2e-3, "resnet50": 1e-3}
PROBE_LR = 1e-2
PROBE_STEPS = 300
KNN_K = 5
WEIGHT_DECAY = 1e-4


def default_budget(device: torch.device, model: str) -> float:
    """Seconds: 2 min for the tiny backbone, 5 min for ResNet-50 on a GPU, 10 on a CPU."""
    if model == "tiny":
        return 120.0
    return 300.0 if device.type == "cuda" else 600.0


def check(config: RunConfig) -> RunConfig:
    """``config`` as ``train.check`` checks it (BadInput in one line), without the training settings that
    diagnose sets itself."""
    return train.check(msgspec.structs.replace(config, augment=(), frozen=(), unfreeze={}))


@dataclass
class Pool:
    """Every image of the data, train and validation together, uint8 ``(N, 3, S, S)``, and labels."""

    classes: list[str]
    x: torch.Tensor
    y: torch.Tensor
    notes: list[str]


def load(config: RunConfig) -> Pool:
    """The learner's images in one pool, at most ``limit_per_class`` per class (the same subset every time)."""
    data = datasets.load(config.data, image_size=config.image_size, augment=(), val_fraction=config.val_fraction,
                         limit_per_class=0, seed=config.seed, max_files=config.max_files or MAX_FILES)
    x, y = torch.cat([data.train_x, data.val_x]), torch.cat([data.train_y, data.val_y])
    if config.limit_per_class:
        generator = torch.Generator().manual_seed(datasets.SPLIT_SEED + 1)
        keep = torch.cat([idx[torch.randperm(len(idx), generator=generator)[:config.limit_per_class]]
                          for idx in (torch.nonzero(y == c).flatten() for c in range(len(data.classes)))])
        keep = keep.sort().values
        x, y = x[keep], y[keep]
    skipped = sum(data.skipped.values())
    notes = list(data.notes) + ([f"{skipped} files skipped (unreadable or not images)"] if skipped else [])
    return Pool(data.classes, x, y, notes)


def run(config: RunConfig, budget_s: float, run_dir: Path, emit: Emit, should_stop: Callable[[], bool]) -> None:
    """Diagnose ``config.data`` in about ``budget_s`` seconds (0: ``default_budget``)."""
    Diagnoser(config, budget_s, Path(run_dir), emit, should_stop).run()


class Diagnoser:
    def __init__(self, config: RunConfig, budget_s: float, run_dir: Path, emit: Emit,
                 should_stop: Callable[[], bool]) -> None:
        self.config = check(config)
        self.device = devices.resolve(self.config.device)
        self.budget = budget_s or default_budget(self.device, self.config.model)
        self.run_dir, self.emit, self.should_stop = run_dir, emit, should_stop
        self.started = time.monotonic()
        self.channels_last = devices.channels_last(self.device, self.config.image_size, self.config.model)
        self.transform = BatchTransform(self.config.image_size, (), self.device, channels_last=self.channels_last)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def run(self) -> None:
        cfg = self.config
        devices.configure(self.device, cfg.model)
        pool = load(cfg)
        try:
            folds = diagnosis.splits(pool.y.tolist(), cfg.seed)
        except ValueError as error:
            raise BadInput(str(error)) from None
        classes = len(pool.classes)
        torch.manual_seed(cfg.seed)
        model, weights, notes = net.build(cfg.model, classes, cfg.weights)
        model.to(self.device)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.x = pool.x.to(self.device) if self.device.type != "cpu" else pool.x
        self.y = pool.y.to(self.device)
        self.base = copy.deepcopy(model.state_dict())
        torch.manual_seed(cfg.seed)
        self.scratch = net.new(cfg.model, classes).state_dict()
        self.model = model
        n = len(pool.y)
        self.emit(Started, config=cfg, device=str(self.device), device_name=devices.name(self.device),
                  model=cfg.model, weights=weights, classes=pool.classes, n_train=n, n_val=0, path="diagnose",
                  params=net.parameter_counts(model), trainable=sum(net.parameter_counts(model).values()))
        scheme = (f"{len(folds)}-fold stratified cross-validation" if n <= diagnosis.HOLDOUT_ABOVE else
                  f"{len(folds)} stratified holdouts of {diagnosis.HOLDOUT_SHARE:.0%}")
        for note in (*notes, *pool.notes,
                     f"{n} images in {classes} classes, {scheme}; budget {self.budget:.0f} s"):
            self.emit(Note, message=note)

        clock = time.monotonic()
        model.eval()
        features = cache.build(model, "head", self.x, lambda b: self.transform(b, train=False),
                               batch_size=2 * BATCH, dtype=torch.float32, device=self.device,
                               should_stop=self.should_stop)
        if features is None:
            return self._cancel()
        self.features = features
        self.model.load_state_dict(self.scratch)
        self.model.eval()
        random = cache.build(model, "head", self.x, lambda b: self.transform(b, train=False), batch_size=2 * BATCH,
                             dtype=torch.float32, device=self.device, should_stop=self.should_stop)
        if random is None:
            return self._cancel()
        self.emit(Note, message=f"ran the frozen backbone once over the {n} images, pretrained and random "
                                f"({time.monotonic() - clock:.1f} s): k-NN and the probe of every fold read these "
                                "cached features")

        train_n = len(folds[0][0])
        steps = max(1, train_n // BATCH + (train_n % BATCH > 1))
        epochs = max(diagnosis.MIN_EPOCHS, min(MAX_EPOCHS, math.ceil(TARGET_STEPS / steps)))
        frozen_s, step_s, eval_s = self._time(folds[0])
        epoch_s = steps * step_s + len(folds[0][1]) * eval_s
        plan = diagnosis.plan(self.budget, self.elapsed(), len(folds), epochs, frozen_s, epoch_s)
        strategies = [s for s in diagnosis.STRATEGIES if s != "scratch" or plan.scratch]
        self.emit(Note, message=f"plan: {plan.folds} of {len(folds)} folds, {plan.epochs} epochs of {steps} steps "
                                f"each, {', '.join(strategies)}; about {plan.estimate_s:.0f} s in all")
        for cut in plan.trimmed:
            self.emit(Note, message=f"budget {self.budget:.0f} s: {cut}")

        accs: dict[str, list[float]] = {s: [] for s in strategies}
        hits = {s: 0 for s in strategies}
        seen = {s: 0 for s in strategies}
        fold_started = time.monotonic()
        random_hits = random_seen = 0
        for f, (tr, va) in enumerate(folds[:plan.folds], 1):
            if f > diagnosis.MIN_FOLDS and self.elapsed() + (time.monotonic() - fold_started) / (f - 1) > self.budget:
                self.emit(Note, message=f"budget {self.budget:.0f} s: stopped after fold {f - 1} of {plan.folds}, "
                                        "the next would run past it")
                break
            tr_i = torch.tensor(tr, device=self.device)
            va_i = torch.tensor(va, device=self.device)
            random_hits += int((knn(random[tr_i], self.y[tr_i], random[va_i], KNN_K) == self.y[va_i]).sum())
            random_seen += len(va)
            for strategy in strategies:
                predicted = self._measure(strategy, tr_i, va_i, plan.epochs)
                if predicted is None:
                    return self._cancel()
                correct = int((predicted == self.y[va_i]).sum())
                accs[strategy].append(correct / len(va))
                hits[strategy] += correct
                seen[strategy] += len(va)
                done = f - 1 + (strategies.index(strategy) + 1) / len(strategies)
                per_fold = (time.monotonic() - fold_started) / done
                self.emit(Measured, strategy=strategy, fold=f, folds=plan.folds, acc=correct / len(va),
                          elapsed=self.elapsed(), eta=max(0.0, per_fold * (plan.folds - done)))
        results = {s: diagnosis.summarise(accs[s], hits[s], seen[s]) for s in strategies}
        for s, r in results.items():
            self.emit(Note, message=(
                f"{diagnosis.LABELS[s]}: {r.acc:.1%}; over {r.folds} folds {r.fold_interval[0]:.1%}-"
                f"{r.fold_interval[1]:.1%}, pooled {r.correct}/{r.total} {r.pooled_interval[0]:.1%}-"
                f"{r.pooled_interval[1]:.1%} (95%)"))
        knn_random = random_hits / random_seen
        self.emit(Note, message=f"k-NN on the same network's random features (what the data gives without "
                                f"pretraining): {knn_random:.1%}")
        decision = diagnosis.decide(results, n, classes, knn_random)
        self.emit(Diagnosis, results={s: StrategyResult(acc=r.acc, low=r.low, high=r.high, folds=r.folds)
                                      for s, r in results.items()},
                  quadrant=decision.quadrant, recommend=decision.recommend, because=decision.because)

    # -- the strategies --------------------------------------------------------------------------

    def _measure(self, strategy: str, tr: torch.Tensor, va: torch.Tensor, epochs: int) -> torch.Tensor | None:
        """Predictions for the fold's held-out images; None if cancelled."""
        if strategy == "knn":
            return knn(self.features[tr], self.y[tr], self.features[va], KNN_K)
        if strategy == "probe":
            self.head = self._probe(tr)
            with torch.inference_mode():
                return self.head(self.features[va]).argmax(1)
        cfg = self.config
        self.model.load_state_dict(self.scratch if strategy == "scratch" else self.base)
        if strategy == "lp-ft":
            self.model.fc.load_state_dict(self.head.state_dict())
        lr = (SCRATCH_LR if strategy == "scratch" else TUNE_LR)[cfg.model]
        if not self._fit(tr, epochs, lr):
            return None
        return self._predict(va)

    def _probe(self, tr: torch.Tensor) -> nn.Linear:
        """A linear head on the fold's cached features: full-batch AdamW, cosine to zero."""
        torch.manual_seed(self.config.seed)
        head = copy.deepcopy(self.model.fc)
        head.load_state_dict({k.removeprefix("fc."): v for k, v in self.base.items() if k.startswith("fc.")})
        head.train()
        opt = torch.optim.AdamW(head.parameters(), lr=PROBE_LR, weight_decay=WEIGHT_DECAY)
        x, y = self.features[tr], self.y[tr]
        for step in range(PROBE_STEPS):
            for group in opt.param_groups:
                group["lr"] = PROBE_LR * schedule.factor("cosine", step, PROBE_STEPS)
            loss = F.cross_entropy(head(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return head.eval()

    def _fit(self, tr: torch.Tensor, epochs: int, lr: float) -> bool:
        """Train every group on the fold's images; False if cancelled."""
        model = self.model
        opt = optim.build("adamw", [(g, net.group_parameters(model, g), lr) for g in GROUPS],
                          momentum=0.9, weight_decay=WEIGHT_DECAY)
        step = TrainStep(model, opt, self.device)
        net.set_trainable(model, set(GROUPS), "freeze")
        n = len(tr)
        steps = max(1, n // BATCH + (n % BATCH > 1))
        total = steps * epochs
        generator = torch.Generator().manual_seed(self.config.seed)
        done = 0
        for _ in range(epochs):
            order = tr[torch.randperm(n, generator=generator).to(self.device)]
            for s in range(steps):
                if self.should_stop():
                    return False
                idx = order[s * BATCH:(s + 1) * BATCH]
                optim.set_scale(opt, schedule.factor("cosine", done, total))
                step(self.transform(self._images(idx), train=False), self.y[idx])
                done += 1
        return True

    def _predict(self, va: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        step = TrainStep(self.model, None, self.device)
        out = []
        for start in range(0, len(va), 2 * BATCH):
            idx = va[start:start + 2 * BATCH]
            out.append(step.evaluate(self.transform(self._images(idx), train=False), self.y[idx])[1])
        return torch.cat(out)

    def _images(self, idx: torch.Tensor) -> torch.Tensor:
        return self.x[idx] if self.x.device == self.device else self.x[idx.cpu()].to(self.device, non_blocking=True)

    def _time(self, fold: tuple[list[int], list[int]]) -> tuple[float, float, float]:
        """Seconds for k-NN and a probe, one training step of the whole network, and predicting one image:
        timed on the first fold, on a copy (the model's weights stay as they are)."""
        tr = torch.tensor(fold[0], device=self.device)
        clock = time.monotonic()
        knn(self.features[tr], self.y[tr], self.features[tr], KNN_K)
        self._probe(tr)
        frozen_s = time.monotonic() - clock
        model = copy.deepcopy(self.model)
        opt = optim.build("adamw", [(g, net.group_parameters(model, g), 1e-4) for g in GROUPS],
                          momentum=0.9, weight_decay=WEIGHT_DECAY)
        step = TrainStep(model, opt, self.device)
        net.set_trainable(model, set(GROUPS), "freeze")
        x = self.transform(self._images(tr[:BATCH]), train=False)
        y = self.y[tr[:BATCH]]
        step(x, y)  # warm-up: allocations, cuDNN autotuning
        self._sync()
        clock = time.monotonic()
        for _ in range(3):
            step(x, y)
        self._sync()
        step_s = (time.monotonic() - clock) / 3
        model.eval()
        clock = time.monotonic()
        step.evaluate(x, y)
        self._sync()
        return frozen_s, step_s, (time.monotonic() - clock) / len(y)

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _cancel(self) -> None:
        self.emit(Cancelled, epoch=0, run_dir=str(self.run_dir))


def knn(train_f: torch.Tensor, train_y: torch.Tensor, query: torch.Tensor, k: int) -> torch.Tensor:
    """Predicted labels: the ``k`` most cosine-similar training images vote, each with its similarity."""
    train_f, query = F.normalize(train_f.float(), dim=1), F.normalize(query.float(), dim=1)
    sims, nearest = (query @ train_f.T).topk(min(k, len(train_f)), dim=1)
    classes = int(train_y.max()) + 1
    votes = torch.zeros(len(query), classes, device=query.device)
    votes.scatter_add_(1, train_y[nearest], sims.clamp(min=0) + 1e-6)
    return votes.argmax(1)
