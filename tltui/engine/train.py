"""A fine-tuning run: ``prepare`` checks and loads everything, ``train`` runs it and reports events.

``train`` calls ``emit(EventClass, **fields)`` for every event (the caller adds run_id, seq and time):
Started, then Progress / Epoch / Unfrozen / Note as it goes, and exactly one of Finished or Cancelled;
a run that breaks raises RunFailure. A checkpoint is ``resume.pt`` (a ``checkpoint.Checkpoint``: the
weights, optimizer, schedule position, best so far and RNG, all a resume reads), then
``last.pt`` and ``best.pt`` (plain state_dicts of the backbone with the new head, for the user). One is
written at the end of every epoch, less often only when saving would cost more than a tenth of the
training time (``CHECKPOINT_COST``), and at the end and on cancel.

``--preset probe`` is a run of one epoch without SGD: the frozen backbone's features once (the boundary cache
at the head, fp32), the head fitted by ``probe.fit_cv`` on the training images alone, then validated and
saved as an epoch is, with k-NN on the same features beside it in a Note.

Over several processes (``Prepared.world``, see ``engine/world.py``) the same code runs in each: the
global batch is shared out by a DistributedSampler, DDP averages the gradients, metrics and validation
are summed over the processes (each validates its shard), and rank 0 alone emits and saves. A stop is
agreed at each progress report (a tenth of an epoch), since every process must take the same steps.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import torch
from torch import nn
from torch.utils.data import DistributedSampler

from tltui.core import analysis, presets, schedule
from tltui.core.backbones import Preprocessing
from tltui.core.errors import BadInput, RunFailure
from tltui.core.groups import BACKBONE, GROUPS
from tltui.core.protocol.config import MAX_FILES, ConfigError, RunConfig
from tltui.core.protocol.events import (
    Cancelled,
    Epoch,
    ErrorAnalysis,
    Finished,
    HeadFitted,
    Note,
    Progress,
    Started,
    Unfrozen,
)
from tltui.engine import (
    cache,
    checkpoint,
    data as datasets,
    determinism,
    device as devices,
    knn,
    model as net,
    optim,
    preprocess,
    probe,
)
from tltui.engine.augment import BatchTransform
from tltui.engine.checkpoint import Best, Checkpoint, EpochSums
from tltui.engine.step import TrainStep
from tltui.engine.world import World, sync_batchnorm

CHECKPOINT_COST = 0.1
"""Checkpoints take at most this share of the time: after an epoch, one is written if the last save took
at most this share of the time since it (so at every epoch end unless epochs are far shorter than a save)."""
CHECKPOINT_NOTE = ("checkpoints: at the end of every epoch (less often only if saving takes over "
                   f"{CHECKPOINT_COST:.0%} of the time); a stopped run resumes from the last")
PROGRESS_PER_EPOCH = 10
PROGRESS_MIN_INTERVAL_S = 0.25
GPU_DATA_SHARE = 0.25
"""Decoded images are held on the GPU when they take at most this share of its free memory."""
CACHE_DTYPE = torch.float16

Emit = Callable[..., object]


@dataclass
class Prepared:
    """A checked config (image size resolved) with its device, data and model, ready to train."""

    config: RunConfig
    device: torch.device
    device_name: str
    data: datasets.ImageData
    model: nn.Module
    weights: str
    cut: str | None
    """The group whose input the boundary cache holds, or None for the full path."""
    notes: list[str] = field(default_factory=list)
    cache_dtype: torch.dtype = CACHE_DTYPE
    """fp16 halves the cache; tests set fp32 to compare with the full path tightly."""
    world: World = World()
    preprocessing: Preprocessing = Preprocessing()
    """The backbone's mean, std, image side and interpolation, as the images were prepared."""
    channels_last: bool = False

    @property
    def path(self) -> str:
        """Where the run is planned to train: see :func:`path_name`."""
        return path_name(self.cut)


def path_name(cut: str | None) -> str:
    """``"cached:<group>"`` (the groups below ``cut`` computed once, from the boundary cache) or ``"full"``."""
    return f"cached:{cut}" if cut else "full"


def check(config: RunConfig) -> RunConfig:
    """``config`` checked as ``prepare`` checks it, its image size resolved, without decoding an image or
    building the model: a queued run holds this and nothing more. BadInput with one line if it cannot work."""
    config, _, _ = _resolve(config)
    datasets.check(config.data, max_files=config.max_files or MAX_FILES)
    net.check_weights(config.model, config.weights, config.image_size)
    return config


def _resolve(config: RunConfig, world: World = World()) -> tuple[RunConfig, torch.device, Preprocessing]:
    try:
        config.check()
        presets.check(config)
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    trains_batchnorm = config.bn == "train" or any(g in config.trainable_at(config.epochs) for g in BACKBONE)
    processes = max(config.nproc, 1)
    if config.batch_size // processes < 2 and trains_batchnorm:
        raise BadInput(f"--batch-size {config.batch_size} cannot train BatchNorm layers: use 2 or more"
                       if processes == 1 else
                       f"--batch-size {config.batch_size} over --nproc {processes} leaves each process "
                       f"{config.batch_size // processes} image a step, too few to train BatchNorm layers: use "
                       f"{2 * processes} or more")
    device = devices.resolve(config.device)
    if world.size > 1 and device.type == "cuda":
        device = torch.device("cuda", world.local_rank)
    pre = preprocess.resolve(config.model, config.image_size, device)
    return msgspec.structs.replace(config, image_size=pre.image_size), device, pre


def prepare(config: RunConfig, world: World = World(), data: datasets.ImageData | None = None) -> Prepared:
    """Check ``config``, resolve device and image size, load the data, build the model with its weights.
    ``world``: this process's place when several train the run (each calls this alike). ``data``: images
    already decoded, as ``datasets.load`` stores them for ``config`` (diagnose's folds), instead of loading
    ``config.data``.

    Raises BadInput, with one line for the user, for every input that cannot work.
    """
    config, device, pre = _resolve(config, world)
    devices.configure(device, config.model, world.local_size)
    if data is None:
        data = datasets.load(
            config.data, image_size=config.image_size, augment=config.augment, val_fraction=config.val_fraction,
            limit_per_class=config.limit_per_class, seed=config.seed, max_files=config.max_files or MAX_FILES,
            interpolation=pre.interpolation, val_resize=pre.resize,
        )
    if config.shuffle_labels:
        datasets.shuffle_labels(data, config.seed)
    torch.manual_seed(config.seed)
    model, weights, notes = net.build(config.model, len(data.classes), config.weights, config.image_size)
    notes += data.notes
    if pre.model_size:
        notes.append(preprocess.describe(pre))
    if config.shuffle_labels:
        notes.append(f"labels shuffled with seed {config.seed}, train and val alike: validation can only be chance")
    model.to(device)
    channels_last = devices.channels_last(device, config.image_size, config.model) and net.convolutional(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if world.size > 1:
        notes += _world_notes(config, world, device)
        if config.sync_bn:
            model = sync_batchnorm(model, device)
        torch.manual_seed(config.seed + 1 + world.rank)  # each process its own augmentations
    _place_data(data, device)
    cut = cache.boundary(config)
    if cut:
        need = cache.needed_bytes(model, cut, config.image_size, len(data.train_y) + len(data.val_y), CACHE_DTYPE)
        budget = cache.budget_bytes(device)
        if need > budget:
            notes.append(
                f"the outputs below {cut} need {need / 2**20:.0f} MiB, more than the cache budget of "
                f"{budget / 2**20:.0f} MiB (${cache.ENV_BUDGET}): training on the full path, every epoch "
                f"through the frozen groups"
            )
            cut = None
    return Prepared(config=config, device=device, device_name=devices.name(device), data=data, model=model,
                    weights=weights, cut=cut, notes=notes, world=world, preprocessing=pre, channels_last=channels_last,
                    cache_dtype=torch.float32 if config.preset == presets.PROBE else CACHE_DTYPE)


def _world_notes(config: RunConfig, world: World, device: torch.device) -> list[str]:
    backend = "NCCL, one GPU each" if device.type == "cuda" else "gloo, on the CPU"
    notes = [f"{world.size} processes with torch.distributed ({backend}): each takes "
             f"{config.batch_size // world.size} images of the global batch of {config.batch_size}; DDP averages "
             "the gradients, the loss and accuracy shown are summed over all, rank 0 saves the checkpoints"]
    trains_bn = config.bn == "train" or any(g in config.trainable_at(config.epochs) for g in BACKBONE)
    if trains_bn:
        notes.append("trainable BatchNorm normalises over the global batch (--sync-bn)" if config.sync_bn else
                     f"trainable BatchNorm normalises each process's {config.batch_size // world.size} images "
                     "(--sync-bn: the global batch's); rank 0's running statistics are kept")
    return notes


def train(prep: Prepared, run_dir: Path, emit: Emit, should_stop: Callable[[], bool], *,
          resume: bool = False) -> None:
    """Run the prepared fine-tune; with ``resume``, go on from ``run_dir``'s last checkpoint. A deterministic
    run's settings hold while it trains, and this whole process's (engine/determinism.py)."""
    with determinism.enforced(prep.config.deterministic):
        Trainer(prep, Path(run_dir), emit, should_stop).run(resume)


def check_resume(config: RunConfig, run_dir: Path) -> None:
    """BadInput (one line) unless ``run_dir`` holds a checkpoint a run of ``config`` can resume from."""
    checkpoint.read(config, Path(run_dir), mmap=True)


def _place_data(data: datasets.ImageData, device: torch.device) -> None:
    """Labels on the device; images too when they fit (CUDA: a share of free memory), else pinned."""
    data.train_y, data.val_y = data.train_y.to(device), data.val_y.to(device)
    if device.type == "cpu":
        return
    size = data.train_x.numel() + data.val_x.numel()
    fits = device.type != "cuda" or size <= GPU_DATA_SHARE * torch.cuda.mem_get_info(device)[0]
    if fits:
        data.train_x, data.val_x = data.train_x.to(device), data.val_x.to(device)
    else:
        data.train_x, data.val_x = data.train_x.pin_memory(), data.val_x.pin_memory()


class Trainer:
    """The state of one run; ``run`` drives it epoch by epoch. Tests drive the pieces directly.
    ``checkpoints=False``: nothing is written (diagnose's folds, which are never resumed or kept)."""

    def __init__(self, prep: Prepared, run_dir: Path, emit: Emit, should_stop: Callable[[], bool], *,
                 checkpoints: bool = True) -> None:
        self.prep, self.cfg, self.model, self.device = prep, prep.config, prep.model, prep.device
        self.data, self.world = prep.data, prep.world
        self.run_dir, self.emit, self.should_stop = run_dir, emit, should_stop
        self.checkpoints = checkpoints
        self.batch = self.cfg.batch_size // self.world.size
        """This process's share of the global batch."""
        # Each epoch's order: the permutation of the run's seed and the epoch (DistributedSampler's, as
        # DDP scripts shuffle), every world.size-th index for this process.
        self.sampler: DistributedSampler[int] = DistributedSampler(
            range(len(self.data.train_y)),  # type: ignore[arg-type]  # typed a Dataset, but only its len() is read
            num_replicas=self.world.size, rank=self.world.rank, shuffle=True, seed=self.cfg.seed * 100_003)
        n, bs = self.sampler.num_samples, self.batch
        # A last batch of one image is dropped: BatchNorm cannot train on it.
        self.steps_per_epoch = max(1, n // bs + (n % bs > 1))
        self.total_steps = self.steps_per_epoch * self.cfg.epochs
        self.warmup_steps = schedule.warmup_steps(self.cfg.warmup_epochs, self.steps_per_epoch)
        self.eval_batch = 2 * bs
        self.wrapped: torch.nn.Module | None = None
        """What a training step runs: the model from the cut up, in DDP when several processes train."""
        self.channels_last = prep.channels_last
        self.transform = BatchTransform(self.cfg.image_size, self.cfg.augment, self.device,
                                        channels_last=self.channels_last, mean=prep.preprocessing.mean,
                                        std=prep.preprocessing.std)
        self.cut = prep.cut
        self.features: tuple[torch.Tensor, torch.Tensor] | None = None
        self.trainable: list[str] = []  # the optimizer's groups, in the order they joined
        self._optimizer: torch.optim.Optimizer | None = None
        self._step: TrainStep | None = None
        self.global_step = 0
        self.epochs_done = 0
        self.step_in_epoch = 0
        self.partial = EpochSums()
        self.best = Best()
        self.elapsed_before = 0.0
        self.started = time.monotonic()
        self.last_save = time.monotonic()
        self.save_seconds = 0.0
        # When the last Progress went out: the interval runs across epochs, so epochs shorter than it
        # (the tiny backbone's) still report progress now and then.
        self.last_report = time.monotonic()
        self.val_seconds = 0.0
        self.notes = list(prep.notes)
        self.scaler_state: dict = {}
        self.probe = self.cfg.preset == presets.PROBE
        """A probe run: its one epoch is the head's fit (``fit_head``), validated; no SGD step."""

    # -- the run -----------------------------------------------------------------------------

    def run(self, resume: bool = False) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        resumed_from = self.restore() if resume else 0
        if self._optimizer is None:
            self.start_optimizer()
        self.emit(Started, **self._started_fields(resumed_from))
        for note in (*self.notes, *([CHECKPOINT_NOTE] if self.checkpoints else [])):
            self.emit(Note, message=note)
        try:
            if self.cut and not self.build_cache():
                return self._cancel()
            if self.cfg.head_first and self.global_step == 0 and not self.fit_head():
                return self._cancel()
            self.step = self.make_step()
            if self.step.scaler is not None and self.scaler_state:
                self.step.scaler.load_state_dict(self.scaler_state)
            if self.probe and self.epochs_done == 0 and not self.finish_epoch(1):
                return self._cancel()
            for epoch in range(self.epochs_done + 1, self.cfg.epochs + 1):
                self.begin_epoch(epoch)
                if not self.train_epoch(epoch):
                    return self._cancel()
                if not self.finish_epoch(epoch):
                    return self._cancel()
            self.save()
        except torch.cuda.OutOfMemoryError:  # torch.OutOfMemoryError since torch 2.5, which it names
            raise RunFailure(
                f"out of GPU memory at epoch {self.epochs_done + 1}",
                f"lower --batch-size (now {self.cfg.batch_size}) or --image-size (now {self.cfg.image_size})",
            ) from None
        self.emit(Finished, best_val_acc=self.best.acc, best_epoch=self.best.epoch, classes=self.data.classes,
                  per_class_acc=self.best.per_class, confusion=self.best.confusion, run_dir=str(self.run_dir),
                  elapsed=self.elapsed(), path=path_name(self.cut), skipped=self.data.skipped,
                  world_size=self.world.size,
                  analysis=self.error_analysis())
        if self.world.main:  # a finished run cannot resume: its weights and optimizer state only take disk
            (self.run_dir / "resume.pt").unlink(missing_ok=True)

    def error_analysis(self) -> ErrorAnalysis | None:
        """The best epoch's errors on the validation set, from its kept predictions (None if none were kept)."""
        samples = self.best.samples
        if len(samples.get("predicted", ())) != len(self.data.val_y):
            return None
        return analysis.analyse(self.data.classes, self.data.val_y.tolist(), samples["predicted"], samples["p_true"],
                                samples["p_predicted"], self.data.val_paths)

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer, once ``start_optimizer`` or ``restore`` has made it."""
        if self._optimizer is None:
            raise RuntimeError("no optimizer yet: start_optimizer or restore makes it")
        return self._optimizer

    @property
    def step(self) -> TrainStep:
        """The training step, once ``make_step``'s is set here."""
        if self._step is None:
            raise RuntimeError("no training step yet: set one from make_step")
        return self._step

    @step.setter
    def step(self, step: TrainStep) -> None:
        self._step = step

    def start_optimizer(self) -> None:
        self.trainable = list(self.cfg.trainable_at(1))
        self._optimizer = self._make_optimizer(self.trainable)
        net.set_trainable(self.model, set(self.trainable), self.cfg.bn)

    def build_cache(self) -> bool:
        """Run the groups below the cut once; False if cancelled. Falls back to the full path (with a
        Note) when the outputs do not fit in fp16 or in memory."""
        cut = self.cut
        assert cut is not None, "the cache is built only for a run with a cut"
        started = time.monotonic()
        self.model.eval()
        sets = (self.data.train_x, self.data.val_x)
        try:  # each process its shard of the images, then every process all of them
            parts = [self._cache_shard(images, cut) for images in sets]
            full = False
        except torch.cuda.OutOfMemoryError:
            parts, full = [], True
        built = [p for p in parts if p is not None]
        if len(built) < len(parts):  # cancelled
            return False
        if self.world.any(full, self.device):
            return self._full_path("they did not fit in GPU memory")
        train_f, val_f = (self.world.gather(f, len(images)) for f, images in zip(built, sets, strict=True))
        features = (train_f, val_f)
        if not all(torch.isfinite(f).all() for f in features):
            return self._full_path("they overflow fp16")
        self.features = features
        n = sum(len(f) for f in features)
        mib = sum(f.numel() * f.element_size() for f in features) / 2**20
        shards = f" ({self.world.size} processes, a shard each)" if self.world.size > 1 else ""
        self.emit(Note, message=f"ran the frozen groups below {self.cut} once over {n} images and cached their "
                                f"outputs ({mib:.0f} MiB) in {time.monotonic() - started:.1f} s{shards}: each epoch "
                                f"now runs only {self.cut} and above")
        return True

    def _full_path(self, reason: str) -> bool:
        """Give up the boundary cache (``reason`` says why, in a Note) and train on the full path; True."""
        self.emit(Note, message=f"cannot cache the outputs below {self.cut} ({reason}): "
                                "training on the full path instead")
        self.cut = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        return True

    def _cache_shard(self, images: torch.Tensor, cut: str) -> torch.Tensor | None:
        """The outputs of the groups below ``cut`` for this process's shard of ``images`` (all of them when
        alone)."""
        shard = self.world.shard(len(images))
        return cache.build(self.model, cut, images[shard.start:shard.stop],
                           lambda x: self.transform(x, train=False), batch_size=self.eval_batch,
                           dtype=self.prep.cache_dtype, device=self.device, should_stop=self._local_stop)

    def fit_head(self) -> bool:
        """LP-FT's first stage: the head fitted alone, to convergence, on the pretrained features of the
        training images (``probe.fit_cv``), before any group trains; emits HeadFitted. False if cancelled.

        First the BatchNorm layers that will train re-estimate their statistics on the training images
        (``refresh_batchnorm``): fine-tuning normalises by the batch, and a head fitted to features normalised
        by the source data's statistics no longer fits them (on the UCI digits, 5 per class, validation fell
        from the probe's 60% to 39% after 30 epochs without this, and rose to 78% with it). The features are
        the boundary cache's when it cuts at the head, else one pass without augmentation. A probe run notes
        the fit with k-NN's accuracy on the same features, and makes it epoch 1's training sums (its loss and
        accuracy at the solution), instead."""
        started = time.monotonic()
        refreshed = self.refresh_batchnorm()
        if refreshed is None:
            return False
        if self.cut == "head" and self.features is not None:
            train_f, val_f = self.features
        else:
            self.model.eval()  # training images stored larger for random crops: their centre, as validation's
            sets = (datasets.centre(self.data.train_x, self.cfg.image_size), self.data.val_x)
            shards = [self._cache_shard(images, "head") for images in sets]
            built = [s for s in shards if s is not None]
            if len(built) < len(shards):  # cancelled
                return False
            train_f, val_f = (self.world.gather(s, len(images)) for s, images in zip(built, sets, strict=True))
        try:
            fitted = probe.fit_cv(train_f, self.data.train_y, len(self.data.classes), self.cfg.seed,
                                  should_stop=self._local_stop)
        except probe.Stopped:
            return False
        head = net.head(self.model)
        assert head.bias is not None, "every head tltui builds has a bias"
        with torch.no_grad():
            head.weight.copy_(fitted.weight.view_as(head.weight))
            head.bias.copy_(fitted.bias)
        self.world.share([head.weight.data, head.bias.data])
        if self.probe:
            n = len(train_f)
            self.partial = EpochSums(fitted.loss * n, round(fitted.accuracy * n), n, time.monotonic() - started)
            nearest = knn.predict(train_f, self.data.train_y, val_f) if len(val_f) else self.data.val_y
            knn_acc = float((nearest == self.data.val_y).float().mean()) if len(val_f) else 0.0
            self.emit(Note, message=(
                f"linear probe: L2 {fitted.l2:g} chosen by {probe.CV_FOLDS}-fold cross-validation on the {n} training "
                f"images alone (not the {len(val_f)} validation ones), {fitted.iterations} L-BFGS iterations to a "
                f"plateau ({time.monotonic() - started:.1f} s), train acc {fitted.accuracy:.1%}; beside it, k-NN on "
                f"the same features ({knn.K} nearest, cosine): val acc {knn_acc:.1%}"))
            return True
        val_acc = float((fitted.predict(val_f) == self.data.val_y).float().mean()) if len(val_f) else 0.0
        self.emit(HeadFitted, l2=fitted.l2, iterations=fitted.iterations, train_loss=fitted.loss,
                  train_acc=fitted.accuracy, val_acc=val_acc, seconds=time.monotonic() - started,
                  batchnorm_refreshed=refreshed)
        return True

    def refresh_batchnorm(self) -> list[str] | None:
        """The running statistics of the BatchNorm layers that train in epoch 1 (every group's with
        ``bn="train"``), computed afresh over the training images in batches of the run's size, as
        ``torch.optim.swa_utils.update_bn`` does (AdaBN, Li et al. 2016); the groups refreshed, or None if
        cancelled. Every process goes over all the images, so each gets the same statistics."""
        groups = [g for g in GROUPS if g in self.trainable or self.cfg.bn == "train"]
        layers = net.batchnorms(self.model, groups)
        if not layers:
            return []
        momenta = [m.momentum for m in layers]
        self.model.eval()
        for m in layers:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the batches
            m.train()
        images = datasets.centre(self.data.train_x, self.cfg.image_size)
        try:
            with torch.no_grad():
                for start in range(0, len(images), self.batch):
                    if self._local_stop():
                        return None
                    batch = images[start:start + self.batch].to(self.device, non_blocking=True)
                    self.model(self.transform(batch, train=False))
        finally:
            for m, momentum in zip(layers, momenta, strict=True):
                m.momentum = momentum
            self.model.eval()
        return [g for g in groups if net.batchnorms(self.model, [g])]

    def begin_epoch(self, epoch: int) -> list[str]:
        """Add the groups that join at ``epoch`` to the optimizer (with add_param_group); emits Unfrozen."""
        joining = [g for g in self.cfg.trainable_at(epoch) if g not in self.trainable]
        if joining:
            scale = self._scale()
            for group in joining:
                optim.add(self.optimizer, group, net.group_parameters(self.model, group),
                          self.cfg.group_lr(group), scale, self.cfg.weight_decay)
            self.trainable += joining
        net.set_trainable(self.model, set(self.trainable), self.cfg.bn)
        if joining:
            self._wrap()
            self.emit(Unfrozen, epoch=epoch, groups=joining,
                      lrs={g: self.cfg.group_lr(g) * scale for g in joining})
        return joining

    def train_epoch(self, epoch: int) -> bool:
        """The epoch's training steps (from where a resumed run stopped); False if cancelled.

        Every ``every`` steps (a tenth of the epoch) the sums since the last such point are added over the
        processes, and with them whether any process met a NaN or was told to stop: all of them go on, fail
        or stop at the same step. Alone, a stop is also seen at every step.
        """
        net.set_trainable(self.model, set(self.trainable), self.cfg.bn)
        bs, steps = self.batch, self.steps_per_epoch
        self.sampler.set_epoch(epoch)
        order = torch.tensor(list(self.sampler), dtype=torch.int64, device=self.device)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        seen = 0
        every = max(1, steps // PROGRESS_PER_EPOCH)
        pending: list[tuple[int, torch.Tensor]] = []
        clock = time.monotonic()
        seconds = self.partial.seconds
        for s in range(self.step_in_epoch, steps):
            if self.world.size == 1 and self.should_stop():
                self._add_partial(loss_sum, correct, seen, seconds + time.monotonic() - clock)
                return False
            idx = order[s * bs:(s + 1) * bs]
            x, y = self.train_batch(idx)
            optim.set_scale(self.optimizer, self._scale())
            loss, hits = self.step(x, y)
            loss_sum += loss * len(idx)
            correct += hits
            seen += len(idx)
            pending.append((s + 1, loss))
            self.global_step += 1
            self.step_in_epoch = s + 1
            if (s + 1) % every and s + 1 < steps:
                continue
            bad = self._first_bad(pending)
            stop = self.should_stop() if self.world.size > 1 else False
            dtype = torch.float32 if self.device.type == "mps" else torch.float64  # MPS has no float64
            agreed = self.world.sum(torch.cat([
                torch.stack([loss_sum, correct]).to(dtype),
                torch.tensor([seen, float(stop)], dtype=dtype, device=self.device),
            ]))
            first_bad = int(self.world.min(torch.tensor([bad or steps + 1], device=self.device))[0])
            if first_bad <= steps:
                kind = ("NaN" if torch.isnan(dict(pending)[bad]) else "infinite") if bad == first_bad else "not finite"
                raise RunFailure(f"loss became {kind} at epoch {epoch}, step {first_bad}", self._lr_hint())
            pending = []
            total_loss, total_correct, total_seen, stops = agreed.tolist()
            loss_sum.zero_()
            correct.zero_()
            seen = 0
            self._add_partial(total_loss, total_correct, int(total_seen), seconds + time.monotonic() - clock,
                              summed=True)
            if stops:
                return False
            now = time.monotonic()
            if now - self.last_report >= PROGRESS_MIN_INTERVAL_S:
                self.last_report = now
                p = self.partial
                per_step = p.seconds / (s + 1)
                self.emit(Progress, epoch=epoch, step=s + 1, steps=steps, train_loss=p.loss / p.seen,
                          train_acc=p.correct / p.seen, images_per_s=p.seen / max(p.seconds, 1e-9),
                          elapsed=self.elapsed(), eta=self._eta(per_step, epoch))
        return True

    def finish_epoch(self, epoch: int) -> bool:
        """Validate, track the best, emit Epoch, checkpoint when due; False if cancelled."""
        started = time.monotonic()
        result = self.validate()
        if result is None:
            return False
        self.val_seconds = time.monotonic() - started
        val_loss, val_acc, per_class, confusion, samples = result
        if not math.isfinite(val_loss):
            raise RunFailure(f"validation loss became infinite at epoch {epoch}", self._lr_hint())
        improved = val_acc > self.best.acc
        if improved:
            state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self.best = Best(val_acc, epoch, per_class, confusion, state, saved=False, samples=samples)
        p = self.partial
        self.epochs_done, self.step_in_epoch = epoch, 0
        per_step = p.seconds / max(self.steps_per_epoch, 1)
        self.emit(Epoch, epoch=epoch, train_loss=p.loss / max(p.seen, 1), train_acc=p.correct / max(p.seen, 1),
                  val_loss=val_loss, val_acc=val_acc, lrs={} if self.probe else optim.lrs(self.optimizer),
                  images_per_s=p.seen / max(p.seconds, 1e-9), elapsed=self.elapsed(),
                  eta=self._eta(per_step, epoch + 1), best=improved, world_size=self.world.size)
        self.partial = EpochSums()
        if epoch < self.cfg.epochs and time.monotonic() - self.last_save >= self.save_seconds / CHECKPOINT_COST:
            self.save()
        return True

    def validate(self) -> tuple[float, float, dict[str, float], list[list[int]], dict[str, list]] | None:
        """(loss, accuracy, per-class accuracy, confusion matrix with rows = true class, per-image
        predictions and probabilities as ``Best.samples`` keeps them); None if cancelled. Over several
        processes each validates its shard with rank 0's BatchNorm statistics (the model rank 0 saves): the
        sums are added and the per-image results gathered in order."""
        self.model.eval()
        self.world.share_buffers(self.model)
        classes = len(self.data.classes)
        n = len(self.data.val_y)
        confusion = torch.zeros(classes * classes, dtype=torch.int64, device=self.device)
        loss_sum = torch.zeros((), device=self.device)
        predictions, probabilities = [], []
        shard = self.world.shard(n)
        for start in range(shard.start, shard.stop, self.eval_batch):
            if self._local_stop():
                return None
            x, y = self._val_batch(start, min(start + self.eval_batch, shard.stop))
            loss, predicted, pair = self.step.evaluate_each(x, y)
            loss_sum += loss
            confusion += torch.bincount(y * classes + predicted, minlength=classes * classes)
            predictions.append(predicted)
            probabilities.append(pair)
        confusion = self.world.sum(confusion)
        loss_sum = self.world.sum(loss_sum)
        predicted = torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.int64, device=self.device)
        pairs = torch.cat(probabilities) if probabilities else torch.zeros((0, 2), device=self.device)
        predicted, pairs = self.world.gather(predicted, n), self.world.gather(pairs, n)
        matrix = confusion.view(classes, classes).cpu()
        totals = matrix.sum(1)
        per_class = {name: matrix[i, i].item() / totals[i].item()
                     for i, name in enumerate(self.data.classes) if totals[i] > 0}
        pairs = pairs.cpu().double()
        samples = {"predicted": predicted.tolist(), "p_true": pairs[:, 0].tolist(),
                   "p_predicted": pairs[:, 1].tolist()}
        return loss_sum.item() / n, matrix.diagonal().sum().item() / n, per_class, matrix.tolist(), samples

    # -- checkpoints -------------------------------------------------------------------------

    def save(self) -> None:
        """Write the checkpoint: resume.pt (all a resume needs, weights included), then last.pt and best.pt
        (when it changed), each atomically. Over several processes rank 0 alone writes (the weights are the
        same in each)."""
        if not (self.world.main and self.checkpoints):
            return
        started = time.monotonic()
        weights = checkpoint.plain(self.model.state_dict())
        state = Checkpoint(
            classes=self.data.classes, epochs_done=self.epochs_done, step_in_epoch=self.step_in_epoch,
            global_step=self.global_step, partial=self.partial, groups=self.trainable,
            optimizer=self.optimizer.state_dict(), best=self.best, elapsed=self.elapsed(),
            rng_cpu=torch.get_rng_state(), model=weights,
            rng_cuda=torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else torch.empty(0),
            scaler=self._step.scaler.state_dict() if self._step and self._step.scaler else {},
        )
        checkpoint.save(state.to_dict(), self.run_dir / "resume.pt")
        checkpoint.save(weights, self.run_dir / "last.pt")
        if self.best.state is not None and not self.best.saved:
            now = self.best.epoch == self.epochs_done and self.step_in_epoch == 0  # the best is the model now
            checkpoint.save(weights if now else checkpoint.plain(self.best.state), self.run_dir / "best.pt")
            self.best.saved = True
        self.last_save = time.monotonic()
        self.save_seconds = self.last_save - started

    def restore(self) -> int:
        """Load resume.pt from the run directory; the epochs already done (0 if none)."""
        if not (self.run_dir / "resume.pt").is_file():
            self.notes.insert(0, "no checkpoint to resume from yet: starting at epoch 1")
            return 0
        state = checkpoint.read(self.cfg, self.run_dir)
        if state.classes != self.data.classes:
            raise RunFailure("the checkpoint was trained on other classes than this data has",
                             "resume with the run's own data, or start a new run")
        self.model.load_state_dict(state.model)
        self.trainable = list(state.groups)
        self._optimizer = self._make_optimizer(self.trainable)
        saved = state.optimizer if state.version >= 2 else optim.split_legacy(
            state.optimizer, lambda group: net.group_parameters(self.model, group))
        self._optimizer.load_state_dict(saved)
        net.set_trainable(self.model, set(self.trainable), self.cfg.bn)
        self.epochs_done, self.step_in_epoch = state.epochs_done, state.step_in_epoch
        self.global_step, self.partial = state.global_step, state.partial
        self.best = state.best
        self.elapsed_before = state.elapsed
        torch.set_rng_state(state.rng_cpu)
        if self.device.type == "cuda" and state.rng_cuda.numel():
            torch.cuda.set_rng_state(state.rng_cuda, self.device)
        self.scaler_state = state.scaler
        if self.world.size > 1:  # rank 0's generator was saved: each process its own augmentations again
            torch.manual_seed(self.cfg.seed + 1 + self.world.rank + 7919 * self.global_step)
        return self.epochs_done

    def make_step(self) -> TrainStep:
        """The training step over the model from the cut up (in DDP over several processes), with the
        optimizer as it is now; the boundary cache, if any, must be built first."""
        self._wrap()
        return TrainStep(self._forward, self.optimizer, self.device, self.cfg.label_smoothing,
                         eval_forward=self._eval_forward)

    # -- helpers -----------------------------------------------------------------------------

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.wrapped is not None, "make_step wraps the model before the first step"
        return self.wrapped(x)

    def _eval_forward(self, x: torch.Tensor) -> torch.Tensor:
        return net.forward_from(self.model, self.cut, x) if self.cut else self.model(x)

    def _wrap(self) -> None:
        """What a training step runs: the model from the cut up, in DistributedDataParallel over several
        processes. DDP takes the parameters that require grad when it is made, so when groups join (gradual
        unfreezing) the wrapper is made again: the old one is dropped first, and with it its gradient hooks."""
        module = net.FromGroup(self.model, self.cut) if self.cut else self.model
        self.wrapped = None
        self.wrapped = self.world.wrap(module, self.device)

    def _local_stop(self) -> bool:
        """A stop this process may act on alone: any time when it trains alone, never inside a loop that
        every process must finish together (they agree on stopping in ``train_epoch``)."""
        return self.world.size == 1 and self.should_stop()

    def _make_optimizer(self, groups: list[str]) -> torch.optim.Optimizer:
        return optim.build(
            self.cfg.optimizer,
            [(g, net.group_parameters(self.model, g), self.cfg.group_lr(g)) for g in groups],
            momentum=self.cfg.momentum, weight_decay=self.cfg.weight_decay, scale=self._scale(),
        )

    def _scale(self) -> float:
        return optim.factor(self.cfg.schedule, self.global_step, self.total_steps, self.warmup_steps)

    def train_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.data.train_y[idx]
        if self.features is not None:
            return self._feature_input(self.features[0][idx]), y
        return self.transform(self._gather(self.data.train_x, idx), train=True), y

    def _val_batch(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.data.val_y[start:stop]
        if self.features is not None:
            return self._feature_input(self.features[1][start:stop]), y
        return self.transform(self.data.val_x[start:stop].to(self.device, non_blocking=True), train=False), y

    def _gather(self, images: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if images.device == self.device:
            return images[idx]
        return images[idx.cpu()].pin_memory().to(self.device, non_blocking=True)

    def _feature_input(self, features: torch.Tensor) -> torch.Tensor:
        x = features.float()
        if x.dim() == 4 and self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def _add_partial(self, loss: torch.Tensor | float, correct: torch.Tensor | float, seen: int, seconds: float,
                     summed: bool = False) -> None:
        """Add sums since the last point to the epoch's (``summed``: already over every process)."""
        if not summed:
            loss, correct = float(loss), int(correct)
        p = self.partial
        self.partial = EpochSums(p.loss + float(loss), p.correct + int(correct), p.seen + seen, seconds)

    @staticmethod
    def _first_bad(pending: list[tuple[int, torch.Tensor]]) -> int:
        """The step of the first loss in ``pending`` that is not finite, or 0."""
        finite = torch.isfinite(torch.stack([loss for _, loss in pending]))
        if bool(finite.all()):
            return 0
        return pending[int((~finite).nonzero()[0])][0]

    def _lr_hint(self) -> str:
        return (f"lower --lr (now {self.cfg.lr:g}): a tenth is a good next try; "
                f"a gentler --schedule or --optimizer may help too")

    def _eta(self, per_step: float, next_epoch: int) -> float:
        remaining_steps = self.total_steps - self.global_step
        remaining_vals = self.cfg.epochs - next_epoch + 1
        return max(0.0, per_step * remaining_steps + self.val_seconds * remaining_vals)

    def _started_fields(self, resumed_from: int) -> dict[str, Any]:
        counts = net.parameter_counts(self.model)
        return dict(
            config=self.cfg, device=str(self.device), device_name=self.prep.device_name, model=self.cfg.model,
            weights=self.prep.weights, classes=self.data.classes, n_train=len(self.data.train_y),
            n_val=len(self.data.val_y), path=path_name(self.cut), params=counts,
            trainable=sum(counts[g] for g in self.trainable), skipped=self.data.skipped,
            converted=self.data.converted, resumed_from=resumed_from, world_size=self.world.size,
            preprocessing=self.prep.preprocessing, deterministic=determinism.enabled(),
        )

    def _cancel(self) -> None:
        self.save()
        self.emit(Cancelled, epoch=self.epochs_done, run_dir=str(self.run_dir))
