"""``tltui diagnose``: measure the strategies on repeated splits of the learner's data, in a time budget.

Each trained strategy is its preset (core/diagnosis.TRAINED), and from scratch the default recipe with
``--weights none``: the fold's run is ``presets.configure(preset, **the learner's settings, epochs=E)``
trained by the engine's own ``Trainer`` on the fold's images, so diagnosing and then running the
recommended command are the same computation. Each is judged on the fold's held-out images after its
last epoch (picking the best epoch on them would flatter). k-NN on the frozen features is the untrained
reference, and k-NN on the same network's random features tells what pretraining adds.

The probe (``--preset probe``) needs no run per fold: the frozen features are computed once for all the
folds, and each fold fits ``probe.fit_cv`` on its training part alone (the L2 penalty chosen by
cross-validation inside it) and scores its held-out part, as ``tltui train --preset probe`` fits its
training images and scores ``val/``. The same probe on the random features gives its lift beside k-NN's.

The folds: with ``train/`` and ``val/``, from ``train/`` alone, and at the end the recommended command
trains on all of ``train/`` and is scored once on ``val/``; otherwise train and validation pooled. Either
way near-duplicates (engine/duplicates.py) stay together on one side of every fold.

The data is decoded once, at the side a cropping recipe stores (``size / 0.875``): each run cuts its
images from it. A timm model whose ``crop_pct`` is not 0.875 is evaluated on images resized to its own side
(``Preprocessing.resize``) before the centre crop, as ``tltui train`` validates it: its images are decoded
a second time so, and every held-out part (each run's validation, k-NN's and the probe's queries) is
scored on those. The frozen backbone runs once over every image (twice for such a model: each view) for
k-NN and the probe. A short timed step sizes the plan; folds that would run past the budget are not started.

``run`` calls ``emit(EventClass, **fields)`` as training does: Started, Notes, one Measured per strategy
and fold, then Diagnosis (or Cancelled).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import torch

from tltui.core import diagnosis
from tltui.core.errors import BadInput, RunFailure
from tltui.core.presets import PROBE, configure
from tltui.core.protocol.config import MAX_FILES, ConfigError, RunConfig
from tltui.core.protocol.events import Cancelled, Diagnosis, Epoch, HeldOut, Measured, Note, Started, StrategyResult
from tltui.engine import (
    cache,
    data as datasets,
    device as devices,
    duplicates,
    knn,
    model as net,
    preprocess,
    probe,
    train,
)
from tltui.engine.augment import BatchTransform

Emit = Callable[..., object]

BATCH = RunConfig().batch_size
TARGET_STEPS = 300
"""Optimizer steps a training strategy aims at per fold; its epochs follow from the fold's size."""
MAX_EPOCHS = 30


def default_budget(device: torch.device, model: str) -> float:
    """Seconds: 2 min for the tiny backbone, 5 min for ResNet-50 (or a timm model) on a GPU, 10 on a CPU."""
    if model == "tiny":
        return 120.0
    return 300.0 if device.type == "cuda" else 600.0


def check(config: RunConfig) -> RunConfig:
    """``config`` as ``train.check`` checks it (BadInput in one line), without the training settings that
    diagnose sets itself."""
    return train.check(msgspec.structs.replace(config, augment=(), frozen=(), unfreeze={}))


def strategy_config(config: RunConfig, strategy: str, epochs: int) -> RunConfig:
    """The RunConfig a trained strategy runs: its preset (scratch: the defaults, ``--weights none``) with the
    learner's settings of ``config`` and ``epochs``; BadInput if it cannot run."""
    fields = {name: getattr(config, name) for name in diagnosis.GIVEN}
    try:
        if strategy == PROBE:  # one fit, no epochs
            return configure(strategy, **fields)
        if strategy == "scratch":
            return configure(**{**fields, "weights": "none"}, epochs=epochs)
        return configure(strategy, **fields, epochs=epochs)
    except ConfigError as error:
        raise BadInput(f"{strategy}: {error}") from None


@dataclass
class Pool:
    """The images the folds split, uint8 ``(N, 3, S, S)`` at the side a cropping recipe stores, with labels
    and a group per image (near-duplicates share one)."""

    classes: list[str]
    x: torch.Tensor
    y: torch.Tensor
    groups: list[int]
    notes: list[str]
    val_images: int
    """Images in ``val/``, scored once at the end; 0 when train and validation are pooled."""
    x_eval: torch.Tensor | None = None
    """The same images as the model is evaluated on them, ``(N, 3, size, size)``: resized to its own side
    (``Preprocessing.resize``), then centre-cropped, where that side is not the training images'; None: the
    centre of ``x`` is."""

    def evaluated(self, size: int, index: list[int] | None = None) -> torch.Tensor:
        """Images ``index`` (None: all) as the model is evaluated on them, ``(n, 3, size, size)`` uint8."""
        if self.x_eval is not None:
            return self.x_eval if index is None else self.x_eval[index]
        return datasets.centre(self.x if index is None else self.x[index], size)


class Views(NamedTuple):
    """The head's input for every image of the pool: as a fold's training part sees it (the centre of the
    stored square) and as its held-out part is evaluated (``Pool.evaluated``; the same tensor where alike)."""

    train: torch.Tensor
    held: torch.Tensor


def load(config: RunConfig, interpolation: str = "bilinear", resize: int = 0) -> Pool:
    """With ``train/`` and ``val/``: ``train/``, at most ``limit_per_class`` per class as ``tltui train``
    takes them. Otherwise every image, train and validation together, at most ``limit_per_class`` per
    class (the same subset every time). ``interpolation``: the backbone's resize filter; ``resize``: the
    side its validation images are resized to (``Preprocessing.resize``; 0: the training images')."""
    own_val = datasets.has_val_folder(config.data)

    def images(**how: Any) -> tuple[datasets.ImageData, torch.Tensor, torch.Tensor]:
        data = datasets.load(config.data, image_size=config.image_size, val_fraction=config.val_fraction,
                             limit_per_class=config.limit_per_class if own_val else 0, seed=config.seed,
                             max_files=config.max_files or MAX_FILES, pooled=not own_val, interpolation=interpolation,
                             **how)
        if own_val:
            return data, data.train_x, data.train_y
        return data, torch.cat([data.train_x, data.val_x]), torch.cat([data.train_y, data.val_y])

    data, x, y = images(augment=("crop",))
    x_eval = None
    if resize and resize != datasets.sides(config.image_size, ())[0]:
        x_eval = images(augment=(), train_resize=resize)[1]
    if config.limit_per_class and not own_val:
        generator = torch.Generator().manual_seed(datasets.SPLIT_SEED + 1)
        keep = torch.cat([idx[torch.randperm(len(idx), generator=generator)[:config.limit_per_class]]
                          for idx in (torch.nonzero(y == c).flatten() for c in range(len(data.classes)))])
        keep = keep.sort().values
        x, y = x[keep], y[keep]
        x_eval = None if x_eval is None else x_eval[keep]
    skipped = sum(data.skipped.values())
    notes = list(data.notes) + ([f"{skipped} files skipped (unreadable or not images)"] if skipped else [])
    groups = diagnosis.join(len(y), duplicates.near_pairs(x))
    return Pool(data.classes, x, y, groups, notes, len(data.val_y) if own_val else 0, x_eval)


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
        self.size = self.config.image_size
        self.pre = preprocess.resolve(self.config.model, self.size, self.device)
        self.channels_last = devices.channels_last(self.device, self.size, self.config.model)
        self.transform = BatchTransform(self.size, (), self.device, channels_last=self.channels_last,
                                        mean=self.pre.mean, std=self.pre.std)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def run(self) -> None:
        cfg = self.config
        devices.configure(self.device, cfg.model)
        pool = load(cfg, self.pre.interpolation, self.pre.resize)
        self.pool = pool
        try:
            folds = diagnosis.splits(pool.y.tolist(), cfg.seed, groups=pool.groups)
        except ValueError as error:
            raise BadInput(str(error)) from None
        classes = len(pool.classes)
        torch.manual_seed(cfg.seed)
        model, weights, notes = net.build(cfg.model, classes, cfg.weights, self.size)
        model.to(self.device)
        self.channels_last = self.transform.channels_last = self.channels_last and net.convolutional(model)
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        self.y = pool.y.to(self.device)
        n = len(pool.y)
        self.emit(Started, config=cfg, device=str(self.device), device_name=devices.name(self.device),
                  model=cfg.model, weights=weights, classes=pool.classes, n_train=n, n_val=pool.val_images,
                  path="diagnose", params=net.parameter_counts(model),
                  trainable=sum(net.parameter_counts(model).values()), preprocessing=self.pre)
        scheme = (f"{len(folds)}-fold stratified cross-validation" if n <= diagnosis.HOLDOUT_ABOVE else
                  f"{len(folds)} stratified holdouts of {diagnosis.HOLDOUT_SHARE:.0%}")
        source = (f"folds from train/ alone ({n} images in {classes} classes); val/ ({pool.val_images} images) is "
                  "scored once at the end, by the recommended command" if pool.val_images else
                  f"{n} images in {classes} classes, train and validation pooled")
        groups = len(set(pool.groups))
        duplicates_note = (f"{groups} groups: {n - groups} near-duplicate images kept with their originals, on one "
                           "side of every fold" if groups < n else f"{groups} groups: no near-duplicates")
        described = [preprocess.describe(self.pre)] if self.pre.model_size else []
        for note in (*notes, *described, *pool.notes,
                     f"{source}; {duplicates_note}; {scheme}; budget {self.budget:.0f} s"):
            self.emit(Note, message=note)

        clock = time.monotonic()
        features = self._features(model)
        if features is None:
            return self._cancel()
        features_s = time.monotonic() - clock
        torch.manual_seed(cfg.seed)
        model.load_state_dict(net.new(cfg.model, classes, self.size).state_dict())
        random = self._features(model)
        if random is None:
            return self._cancel()
        self.emit(Note, message=f"ran the frozen backbone over the {n} images, pretrained and random "
                                f"({time.monotonic() - clock:.1f} s): k-NN and the probe read these features")
        del model

        train_n = len(folds[0][0])
        steps = max(1, train_n // BATCH + (train_n % BATCH > 1))
        epochs = max(diagnosis.MIN_EPOCHS, min(MAX_EPOCHS, math.ceil(TARGET_STEPS / steps)))
        clock = time.monotonic()
        knn.predict(features.train[folds[0][0]], self.y[folds[0][0]], features.held[folds[0][1]])
        knn_s = time.monotonic() - clock
        first = self._probe(features, folds[0])
        if first is None:
            return self._cancel()
        probe_s = time.monotonic() - clock - knn_s
        epoch_s, setup_s, eval_s, overhead_s = self._time(folds[0], epochs)
        # per fold besides the epochs of the strategies that train the network: k-NN and the probe on the
        # pretrained and the random features, each run's setup, and feature extraction (its pass over the
        # images, then epochs that cost about their bookkeeping)
        frozen_s = 2 * (knn_s + probe_s) + (len(diagnosis.TRAINED) + 1) * setup_s + features_s + epochs * overhead_s
        final = (n / train_n + pool.val_images * eval_s / epoch_s) if pool.val_images else 0.0
        plan = diagnosis.plan(self.budget, self.elapsed(), len(folds), epochs, frozen_s, epoch_s, final)
        strategies = [s for s in diagnosis.TRAINED + ("scratch",) if s != "scratch" or plan.scratch]
        for strategy in (PROBE, *strategies):  # a preset that cannot run with these settings is said now
            strategy_config(cfg, strategy, plan.epochs)
        self.emit(Note, message=f"plan: {plan.folds} of {len(folds)} folds, {plan.epochs} epochs of {steps} steps "
                                f"each, k-NN, probe, {', '.join(strategies)}; the probe and each trained strategy "
                                f"are their preset as tltui train trains it; about {plan.estimate_s:.0f} s in all")
        for cut in plan.trimmed:
            self.emit(Note, message=f"budget {self.budget:.0f} s: {cut}")

        names = ["knn", PROBE, *strategies]
        accs: dict[str, list[float]] = {s: [] for s in names}
        hits = {s: 0 for s in names}
        seen = {s: 0 for s in names}
        fold_started = time.monotonic()
        random_hits = {"knn": 0, PROBE: 0}
        random_seen = 0
        for f, (tr, va) in enumerate(folds[:plan.folds], 1):
            if f > diagnosis.MIN_FOLDS and self.elapsed() + (time.monotonic() - fold_started) / (f - 1) > self.budget:
                self.emit(Note, message=f"budget {self.budget:.0f} s: stopped after fold {f - 1} of {plan.folds}, "
                                        "the next would run past it")
                break
            tr_i = torch.tensor(tr, device=self.device)
            va_i = torch.tensor(va, device=self.device)
            random_hits["knn"] += int((knn.predict(random.train[tr_i], self.y[tr_i], random.held[va_i])
                                       == self.y[va_i]).sum())
            random_correct = self._probe(random, (tr, va))
            if random_correct is None:
                return self._cancel()
            random_hits[PROBE] += random_correct
            random_seen += len(va)
            for strategy in names:
                correct: int | None
                if strategy == "knn":
                    correct = int((knn.predict(features.train[tr_i], self.y[tr_i], features.held[va_i])
                                   == self.y[va_i]).sum())
                elif strategy == PROBE:
                    correct = first if f == 1 else self._probe(features, (tr, va))
                    if correct is None:
                        return self._cancel()
                else:
                    correct = self._fold(strategy, f, tr, va, plan.epochs)
                    if correct is None:
                        return self._cancel()
                accs[strategy].append(correct / len(va))
                hits[strategy] += correct
                seen[strategy] += len(va)
                done = f - 1 + (names.index(strategy) + 1) / len(names)
                per_fold = (time.monotonic() - fold_started) / done
                self.emit(Measured, strategy=strategy, fold=f, folds=plan.folds, acc=correct / len(va),
                          elapsed=self.elapsed(), eta=max(0.0, per_fold * (plan.folds - done)))
        results = {s: diagnosis.summarise(accs[s], hits[s], seen[s]) for s in names}
        for s, r in results.items():
            self.emit(Note, message=(
                f"{diagnosis.label(s)}: {r.acc:.1%}; over {r.folds} folds {r.fold_interval[0]:.1%}-"
                f"{r.fold_interval[1]:.1%}, pooled {r.correct}/{r.total} {r.pooled_interval[0]:.1%}-"
                f"{r.pooled_interval[1]:.1%} (95%)"))
        on_random = {s: random_hits[s] / random_seen for s in random_hits}
        self.emit(Note, message=f"k-NN on the same network's random features (what the data gives without "
                                f"pretraining): {on_random['knn']:.1%}; k-NN's lift over them "
                                f"{diagnosis.lift(results['knn'].acc, on_random['knn']):.2f}")
        self.emit(Note, message=f"the probe on the same random features: {on_random[PROBE]:.1%}; the probe's lift "
                                f"over them {diagnosis.lift(results[PROBE].acc, on_random[PROBE]):.2f}")
        decision = diagnosis.decide(results, n, classes, on_random["knn"], on_random[PROBE])
        command = diagnosis.command(cfg, decision.recommend, plan.epochs)
        held_out = None
        if pool.val_images:
            held_out = self._held_out(decision.recommend, plan.epochs)
            if held_out is None:
                return self._cancel()
            estimate = results[decision.recommend]
            self.emit(Note, message=f"{diagnosis.line(command)}: {held_out.acc:.1%} on val/ ({held_out.low:.1%}-"
                                    f"{held_out.high:.1%}, {held_out.images} images), against {estimate.acc:.1%} "
                                    f"({estimate.low:.1%}-{estimate.high:.1%}) estimated on the folds")
        self.emit(Diagnosis, results={s: StrategyResult(acc=r.acc, low=r.low, high=r.high, folds=r.folds)
                                      for s, r in results.items()},
                  quadrant=decision.quadrant, recommend=decision.recommend, because=decision.because,
                  command=command, held_out=held_out)

    # -- the runs ----------------------------------------------------------------------------------

    def _probe(self, features: Views, fold: tuple[list[int], list[int]]) -> int | None:
        """Images of the fold's held-out part that the probe fitted on its training part alone predicts right
        (the penalty chosen by cross-validation within that part); None if stopped."""
        tr, va = (torch.tensor(idx, device=self.device) for idx in fold)
        try:
            fitted = probe.fit_cv(features.train[tr], self.y[tr], len(self.pool.classes), self.config.seed,
                                  should_stop=self.should_stop)
        except probe.Stopped:
            return None
        return int((fitted.predict(features.held[va]) == self.y[va]).sum())

    def _fold(self, strategy: str, fold: int, tr: list[int], va: list[int], epochs: int) -> int | None:
        """Images of ``va`` the strategy's run, trained on ``tr``, predicts right after its last epoch; None
        if cancelled."""
        config = strategy_config(self.config, strategy, epochs)
        x, y = self.pool.x, self.pool.y
        data = datasets.ImageData(
            classes=self.pool.classes, train_x=datasets.centre(x[tr], datasets.sides(self.size, config.augment)[1]),
            train_y=y[tr], val_x=self.pool.evaluated(self.size, va), val_y=y[va],
            val_paths=[f"diagnose:{i}" for i in va])
        try:
            acc = self._train(train.prepare(config, data=data))
        except RunFailure as failure:
            raise RunFailure(f"{diagnosis.label(strategy)}, fold {fold}: {failure.reason}", failure.hint) from None
        return None if acc is None else round(acc * len(va))

    def _held_out(self, strategy: str, epochs: int) -> HeldOut | None:
        """The recommended command run as ``tltui train`` runs it (its data loaded anew): all of ``train/``,
        scored on ``val/`` after its last epoch; None if cancelled."""
        prep = train.prepare(strategy_config(self.config, strategy, epochs))
        try:
            acc = self._train(prep)
        except RunFailure as failure:
            raise RunFailure(f"{diagnosis.label(strategy)} on all of train/: {failure.reason}", failure.hint) from None
        if acc is None:
            return None
        images = len(prep.data.val_y)
        low, high = diagnosis.wilson(round(acc * images), images)
        return HeldOut(strategy=strategy, acc=acc, low=low, high=high, images=images)

    def _train(self, prep: train.Prepared) -> float | None:
        """The validation accuracy after the last epoch of the prepared run; None if cancelled. It writes no
        checkpoint, and its events stay here."""
        last: list[float] = []

        def collect(kind: type, **fields: Any) -> None:
            if kind is Epoch:
                last.append(float(fields["val_acc"]))
            elif kind is Cancelled:
                last.clear()

        trainer = train.Trainer(prep, self.run_dir, collect, self.should_stop, checkpoints=False)
        trainer.run()
        return last[-1] if len(last) == prep.config.epochs else None

    def _features(self, model: torch.nn.Module) -> Views | None:
        """The head's input for every image of the pool, in each view; None if stopped."""
        model.eval()
        views = [datasets.centre(self.pool.x, self.size)]
        if self.pool.x_eval is not None:
            views.append(self.pool.x_eval)
        built = []
        for x in views:
            features = cache.build(model, "head", x, lambda b: self.transform(b, train=False), batch_size=2 * BATCH,
                                   dtype=torch.float32, device=self.device, should_stop=self.should_stop)
            if features is None:
                return None
            built.append(features)
        return Views(built[0], built[-1])

    def _time(self, fold: tuple[list[int], list[int]], epochs: int) -> tuple[float, float, float, float]:
        """Seconds, on the first fold, of one epoch and of the setup of a run of fine-tune everything as its
        preset trains (augmentation, validation and the epoch's bookkeeping included), of predicting one
        image, and of an epoch's bookkeeping alone. A Trainer of its own times one epoch of a batch, three
        more steps and one validation; it is dropped."""
        tr, va = fold
        batch, held = tr[:BATCH], va[:2 * BATCH]
        config = strategy_config(self.config, "fine-tune-all", epochs)
        clock = time.monotonic()
        data = datasets.ImageData(
            classes=self.pool.classes, train_y=self.pool.y[batch], val_y=self.pool.y[held],
            train_x=datasets.centre(self.pool.x[batch], datasets.sides(self.size, config.augment)[1]),
            val_x=self.pool.evaluated(self.size, held), val_paths=[""] * len(held))
        trainer = train.Trainer(train.prepare(config, data=data), self.run_dir, lambda *_, **__: None,
                                self.should_stop, checkpoints=False)
        setup_s = time.monotonic() - clock
        trainer.start_optimizer()
        trainer.step = trainer.make_step()
        seconds = []
        for epoch in (1, 2):  # the first warms up: allocations, cuDNN autotuning
            clock = time.monotonic()
            trainer.begin_epoch(epoch)
            trainer.train_epoch(epoch)
            trainer.finish_epoch(epoch)
            self._sync()
            seconds.append(time.monotonic() - clock)
        idx = torch.arange(len(batch), device=self.device)
        clock = time.monotonic()
        for _ in range(3):
            trainer.step(*trainer.train_batch(idx))
        self._sync()
        step_s = (time.monotonic() - clock) / 3
        clock = time.monotonic()
        trainer.validate()
        eval_s = (time.monotonic() - clock) / len(held)
        steps = max(1, len(tr) // BATCH + (len(tr) % BATCH > 1))
        overhead_s = max(0.0, seconds[1] - step_s - len(held) * eval_s)
        return seconds[1] + (steps - 1) * step_s + (len(va) - len(held)) * eval_s, setup_s, eval_s, overhead_s

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _cancel(self) -> None:
        self.emit(Cancelled, epoch=0, run_dir=str(self.run_dir))

