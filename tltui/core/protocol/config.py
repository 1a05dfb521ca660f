"""The run configuration: every setting of a fine-tuning run, its limits, and its validation."""

from __future__ import annotations

import math
from typing import Literal

import msgspec

from tltui.core import backbones
from tltui.core.groups import GROUPS, depth_from_top

MAX_EPOCHS = 1000
MAX_LR = 1000.0
MAX_SEED = 2**31 - 1
#: A data folder with more files than this is refused unless ``max_files`` says how many to allow.
MAX_FILES = 200_000
#: The most processes one run may take (``--nproc``): GPUs of one host, or CPU processes.
MAX_NPROC = 64

AUGMENTS: tuple[str, ...] = ("crop", "flip", "color")
OPTIMIZERS: tuple[str, ...] = ("sgd", "adamw")
SCHEDULES: tuple[str, ...] = ("constant", "cosine", "onecycle")
MODELS = backbones.BUILTIN
"""The built-in backbones; any timm model is ``timm:NAME`` besides (core/backbones.py)."""
MODEL_WEIGHTS = backbones.NAMED_WEIGHTS


class ConfigError(ValueError):
    """A run configuration that cannot run; the message is one line for the user."""


class RunConfig(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Everything that defines a fine-tuning run. Epochs are counted from 1."""

    data: str = "builtin"
    model: str = "resnet50"
    weights: str = "pretrained"
    frozen: tuple[str, ...] = ()
    bn: Literal["freeze", "train"] = "freeze"
    epochs: int = 5
    batch_size: int = 32
    """The global batch: with ``nproc`` processes each takes ``batch_size / nproc`` images a step."""
    lr: float = 2e-3
    """AdamW at 2e-3, crops only: the best of the recipes measured on the tiny backbone (benchmarks/defaults.py,
    the README's table); each preset has its own, measured for its strategy (benchmarks/presets.py)."""
    lr_found: str = ""
    """How ``lr`` was chosen: '' by hand, else by the LR finder (``--lr auto``), e.g. ``steepest of a 100-step LR
    range test``."""
    lr_decay: float = 1.0
    group_lrs: dict[str, float] = {}
    unfreeze: dict[str, int] = {}
    head_first: bool = False
    """Before epoch 1, fit the new head alone on the frozen network's features (no augmentation) until its loss
    plateaus: an L2-regularised logistic regression, the penalty chosen by cross-validation on the training
    images (engine/probe.py). LP-FT's linear probe (Kumar et al. 2022); then training goes on as configured."""
    optimizer: Literal["sgd", "adamw"] = "adamw"
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: Literal["constant", "cosine", "onecycle"] = "cosine"
    warmup_epochs: float = 0.0
    """A linear LR warm-up over this many epochs' steps (a fraction allowed; 0: none), multiplying the schedule:
    every group's LR rises from 1/W of its value to all of it over the first W steps (core/schedule.py). Off by
    default: it did not measurably help the tiny backbone (README, "Warm-up, measured")."""
    label_smoothing: float = 0.0
    image_size: int = 0
    augment: tuple[str, ...] = ("crop",)
    """Random crops only by default: flips broke digits (measured: benchmarks/defaults.py, README) and colour
    jitter did not help; ``crop,flip,color`` for photos where left and right do not matter."""
    limit_per_class: int = 0
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    preset: str = ""
    max_files: int = 0
    """The most files a data folder may hold (0: ``MAX_FILES``); a bigger one is refused, not walked."""
    shuffle_labels: bool = False
    """Labels permuted once with ``seed``, train and val alike: a control that no feature can fit."""
    nproc: int = 1
    """Processes of one run (torch.distributed, launched by torchrun): one per GPU with NCCL, or CPU
    processes with gloo when the device is the CPU. 0: every GPU the worker has free when the run starts."""
    sync_bn: bool = False
    """With several processes, trainable BatchNorm normalises over the global batch (SyncBatchNorm), not
    each process's share of it."""
    deterministic: bool = False
    """Train with torch's deterministic algorithms (cuDNN's too, no autotuning): the same config on the same
    machine gives the same weights, bit for bit. The worker trains such a run in a process of its own
    (engine/determinism.py says why)."""

    def group_lr(self, group: str) -> float:
        """The learning rate of ``group``: explicit, or the head's LR times ``lr_decay`` per step down."""
        if group in self.group_lrs:
            return self.group_lrs[group]
        return self.lr * self.lr_decay ** depth_from_top(group)

    def trainable_at(self, epoch: int) -> tuple[str, ...]:
        """Groups that train during ``epoch`` (1-based), gradual unfreezing included."""
        return tuple(
            g for g in GROUPS if g not in self.frozen or 0 < self.unfreeze.get(g, 0) <= epoch
        )

    def lowest_ever_trainable(self) -> str | None:
        """The lowest group that trains at any epoch of the run, or None if nothing trains."""
        trainable = self.trainable_at(self.epochs)
        return trainable[0] if trainable else None

    def caveats(self) -> list[str]:
        """Settings that run, but probably not as meant: one line each."""
        notes = []
        if self.weights == "none" and self.frozen:
            notes.append(f"--freeze {','.join(self.frozen)} with --weights none: frozen random weights compute "
                         "random features that never improve; freeze only pretrained groups")
        if self.weights == "none" and self.head_first:
            notes.append("--head-first with --weights none: the head is fitted to random features first, which "
                         "gives the fine-tune no better start than a new head")
        return notes

    def check(self) -> None:
        """Raise ConfigError with one line for the first problem found."""
        for group in (*self.frozen, *self.group_lrs, *self.unfreeze):
            if group not in GROUPS:
                raise ConfigError(f"unknown group {group!r}: choose from {', '.join(GROUPS)}")
        problem = backbones.problem(self.model) or backbones.weights_problem(self.model, self.weights)
        if problem:
            raise ConfigError(problem)
        if not 1 <= self.epochs <= MAX_EPOCHS:
            raise ConfigError(f"--epochs must be between 1 and {MAX_EPOCHS}, not {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError("--batch-size must be at least 1")
        for name, value in (("--lr", self.lr), *((f"LR of {g}", v) for g, v in self.group_lrs.items())):
            if not 0 < value <= MAX_LR:
                raise ConfigError(f"{name} must be a positive number up to {MAX_LR:g}, not {value}")
        if not (math.isfinite(self.lr_decay) and 0 < self.lr_decay <= 10):
            raise ConfigError(f"--lr-decay must be in (0, 10], not {self.lr_decay}")
        if not (math.isfinite(self.warmup_epochs) and 0 <= self.warmup_epochs <= self.epochs):
            raise ConfigError(f"--warmup-epochs must be between 0 and --epochs ({self.epochs}), "
                              f"not {self.warmup_epochs}")
        if self.warmup_epochs and self.schedule == "onecycle":
            raise ConfigError("--warmup-epochs with --schedule onecycle: one cycle warms up already (its first 30% "
                              "of the steps); use cosine or constant with a warm-up")
        for group, epoch in self.unfreeze.items():
            if group not in self.frozen:
                raise ConfigError(f"--unfreeze {epoch}:{group}: {group} is not frozen, so it trains from epoch 1")
            if not 2 <= epoch <= self.epochs:
                raise ConfigError(
                    f"--unfreeze {epoch}:{group}: the epoch must be between 2 and --epochs ({self.epochs})"
                )
        if not self.trainable_at(self.epochs):
            raise ConfigError("every group is frozen and none is unfrozen later: nothing would train")
        if not self.trainable_at(1):
            raise ConfigError("nothing trains in epoch 1: let a group (the head, at least) train from the start")
        for aug in self.augment:
            if aug not in AUGMENTS:
                raise ConfigError(f"unknown augmentation {aug!r}: choose from {', '.join(AUGMENTS)}")
        if self.image_size and not 16 <= self.image_size <= 1024:
            raise ConfigError(f"--image-size must be between 16 and 1024, not {self.image_size}")
        if self.limit_per_class < 0:
            raise ConfigError("--limit-per-class must be 0 (no limit) or more")
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"--val-fraction must be between 0 and 1, not {self.val_fraction}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"--label-smoothing must be in [0, 1), not {self.label_smoothing}")
        if not 0 <= self.weight_decay <= 1:
            raise ConfigError(f"--weight-decay must be in [0, 1], not {self.weight_decay}")
        if not 0 <= self.momentum < 1:
            raise ConfigError(f"--momentum must be in [0, 1), not {self.momentum}")
        if not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"--seed must be between 0 and {MAX_SEED}, not {self.seed}")
        if self.max_files < 0:
            raise ConfigError("--max-files must be 0 (the default limit) or more")
        self._check_processes()

    def _check_processes(self) -> None:
        if not 0 <= self.nproc <= MAX_NPROC:
            raise ConfigError(f"--nproc must be all or a number from 1 to {MAX_NPROC}, not {self.nproc}")
        if self.nproc == 1:
            return
        if self.device.startswith(("cuda:", "mps")):
            raise ConfigError(f"--nproc {self.nproc or 'all'} takes whole GPUs, one process each: use --device "
                              f"auto, cuda or cpu, not {self.device}")
        if self.nproc == 0 and self.device == "cpu":
            raise ConfigError("--nproc all takes every free GPU: with --device cpu give a number of processes")
        if self.nproc > 1 and self.batch_size % self.nproc:
            raise ConfigError(f"--batch-size {self.batch_size} is the global batch: it must divide by "
                              f"--nproc {self.nproc}, each process taking an equal share")
