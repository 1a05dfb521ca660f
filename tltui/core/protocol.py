"""The messages between the UI and the worker: one JSON object per line, typed and validated.

Pure Python (msgspec only): imported by the UI, the worker and the headless CLI alike.

Client to worker: requests, each with an ``id``. Worker to client: one ``hello`` when the
connection opens, a ``reply`` or ``error`` per request, and ``event`` messages that wrap one run
event each. Run events carry the run id and a per-run sequence number; the same event objects are
the lines of a run's ``events.jsonl`` and of ``tltui train --json``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Generic, Literal, TypeVar, get_args

import msgspec

from tltui.core import backbones
from tltui.core.backbones import BackboneInfo, Preprocessing
from tltui.core.groups import GROUPS, depth_from_top

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
"""The reply type of a Request, covariant: a request answered with a RunStarted is one answered with a RunStarted
or a Replayed."""

PROTOCOL_VERSION = 4
#: Longest line either side accepts, in bytes; longer ones get an error reply.
MAX_LINE = 4 * 1024 * 1024
#: Longest run event: a longer one (a confusion matrix of thousands of classes) is summarised by ``fit``.
MAX_EVENT = MAX_LINE // 4
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


# ----------------------------------------------------------------------------------------------
# Run configuration


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


# ----------------------------------------------------------------------------------------------
# Run events (the lines of events.jsonl)


class Event(msgspec.Struct, kw_only=True, tag_field="event"):
    """Base of every run event."""

    run_id: str = ""
    seq: int = 0
    time: float = 0.0


class Started(Event, tag="started"):
    config: RunConfig
    device: str
    device_name: str
    model: str
    weights: str
    classes: list[str]
    n_train: int
    n_val: int
    path: str
    """``"full"`` or ``"cached:<group>"``: where the boundary cache cut the network."""
    params: dict[str, int] = {}
    trainable: int = 0
    skipped: dict[str, int] = {}
    converted: dict[str, int] = {}
    resumed_from: int = 0
    world_size: int = 1
    """Processes training the run (torch.distributed); 1 when it trains alone."""
    preprocessing: Preprocessing | None = None
    """How the images were normalised and resized (the timm model's own data config, or ImageNet's)."""


class Progress(Event, tag="progress"):
    epoch: int
    step: int
    steps: int
    train_loss: float
    train_acc: float
    images_per_s: float
    elapsed: float
    eta: float


class Epoch(Event, tag="epoch"):
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lrs: dict[str, float]
    images_per_s: float
    elapsed: float
    eta: float
    best: bool = False
    world_size: int = 1


class Unfrozen(Event, tag="unfrozen"):
    epoch: int
    groups: list[str]
    lrs: dict[str, float]


class HeadFitted(Event, tag="head_fitted"):
    """The head fitted alone before epoch 1 (``head_first``): a linear probe on the frozen features."""

    l2: float
    """The penalty cross-validation chose."""
    iterations: int
    """L-BFGS iterations until the loss plateaued."""
    train_loss: float
    train_acc: float
    val_acc: float
    """The probe alone on the validation images: feature extraction's score, before any fine-tuning."""
    seconds: float
    batchnorm_refreshed: list[str] = []
    """Groups whose BatchNorm statistics were re-estimated on the training images first (those that train)."""


class Note(Event, tag="note"):
    message: str


class ClassRecall(msgspec.Struct, kw_only=True):
    """One class on the validation set: the share of its images predicted right, and how many it has."""

    name: str
    recall: float
    support: int


class ConfusedPair(msgspec.Struct, kw_only=True):
    """``count`` validation images of class ``true`` predicted as ``predicted``."""

    true: str
    predicted: str
    count: int


class TopLoss(msgspec.Struct, kw_only=True):
    """A validation image the model got most wrong: its cross-entropy ``loss`` is ``-ln true_probability``."""

    index: int
    """Its position in the validation set (the worker draws it from there)."""
    path: str
    """Its file; ``builtin:val/N`` or ``NAME:val/N`` for an image that is not a file of the user's."""
    true: str
    predicted: str
    probability: float
    """The softmax probability of the predicted class."""
    true_probability: float
    loss: float


class ErrorAnalysis(msgspec.Struct, kw_only=True):
    """What the model of the best epoch gets wrong on the validation set (computed by core/analysis.py)."""

    correct: int
    total: int
    low: float
    high: float
    """The accuracy's 95% interval: Wilson's score interval for ``correct`` of ``total``."""
    per_class: list[ClassRecall]
    confused: list[ConfusedPair]
    """The most frequent off-diagonal cells of the confusion matrix, most first."""
    top_losses: list[TopLoss]
    """The validation images with the highest loss, highest first."""
    balanced_accuracy: float | None = None
    """The mean of the per-class recalls, given when the classes' supports are imbalanced."""

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


class Finished(Event, tag="finished"):
    best_val_acc: float
    best_epoch: int
    classes: list[str]
    per_class_acc: dict[str, float]
    confusion: list[list[int]]
    run_dir: str
    elapsed: float
    path: str = "full"
    skipped: dict[str, int] = {}
    analysis: ErrorAnalysis | None = None
    """The best epoch's errors; None from a run whose best epoch's predictions were not kept."""
    world_size: int = 1


class Failed(Event, tag="failed"):
    reason: str
    hint: str = ""
    epoch: int = 0


class Cancelled(Event, tag="cancelled"):
    epoch: int
    run_dir: str


class Measured(Event, tag="measured"):
    """``tltui diagnose``: one strategy measured on one fold (its validation accuracy)."""

    strategy: str
    fold: int
    folds: int
    acc: float
    elapsed: float
    eta: float


class StrategyResult(msgspec.Struct, kw_only=True):
    """A strategy's accuracy: the mean over ``folds``, and its 95% interval."""

    acc: float
    low: float
    high: float
    folds: int


class HeldOut(msgspec.Struct, kw_only=True):
    """The recommended strategy trained on all of ``train/`` and scored once on ``val/``, which no fold saw:
    whether following the advice gives what the folds estimated."""

    strategy: str
    acc: float
    """After the last epoch (the best epoch on ``val/`` would flatter)."""
    low: float
    high: float
    """Wilson's 95% interval of the ``images`` predictions."""
    images: int


class Diagnosis(Event, tag="diagnosis"):
    """The end of a ``tltui diagnose`` run: each strategy's result (names from core/diagnosis.STRATEGIES),
    the quadrant (1 small similar, 2 large similar, 3 small different, 4 large different), the preset to
    start from and the evidence in one sentence."""

    results: dict[str, StrategyResult]
    quadrant: int
    recommend: str
    because: str
    command: list[str] = []
    """The arguments of ``tltui train`` that train the recommended strategy as it was measured: DATA,
    ``--preset``, ``--epochs`` and every setting the learner gave."""
    held_out: HeldOut | None = None
    """With ``train/`` and ``val/``: the recommended command's score on ``val/``; None when the data was pooled."""


RunEvent = (Started | Progress | Epoch | Unfrozen | HeadFitted | Note | Finished | Failed | Cancelled | Measured
            | Diagnosis)
TERMINAL_EVENTS = (Finished, Failed, Cancelled, Diagnosis)


class RankReport(msgspec.Struct, kw_only=True):
    """What one process of a several-process run tells the worker on its stderr, as a line of its own after
    ``RANK_LINE``: its pid when it starts, its reason (and what to change) when it fails. ``peer``: it failed
    only because another process had gone (a collective broke), so its reason is not the run's."""

    rank: int
    pid: int = 0
    reason: str = ""
    hint: str = ""
    peer: bool = False


RANK_LINE = "tltui-rank "


# ----------------------------------------------------------------------------------------------
# Replies: what each request is answered with (the pictures' are computed by engine/pictures.py)


class Capabilities(msgspec.Struct, kw_only=True):
    host: str
    tltui_version: str
    torch_version: str
    devices: list[str]
    gpu_name: str = ""
    gpu_memory_gb: float = 0.0
    cached_weights: list[str] = []
    weights_dir: str = ""
    models: dict[str, list[str]] = {}
    """Per model, the named ``--weights`` that work on this worker now without a download, e.g.
    ``{"resnet50": ["none"], "tiny": ["pretrained", "none"]}`` offline with no ImageNet weights cached."""


RunStatus = Literal["running", "finished", "failed", "cancelled", "interrupted", "damaged"]


class RunSummary(msgspec.Struct, kw_only=True):
    run_id: str
    status: RunStatus
    config: RunConfig | None
    """None when the run is damaged (its config unreadable); ``reason`` then says what is wrong."""
    created: float
    last_seq: int
    epochs_done: int = 0
    best_val_acc: float | None = None
    reason: str = ""
    devices: list[str] = []
    """What the run holds while it trains (its GPUs, or ``cpu x2`` for CPU processes); empty otherwise."""
    folds_done: int = 0
    folds: int = 0
    """A diagnosis: the fold it has reached, of how many (0 of 0 before its first measurement)."""
    recommend: str = ""
    """A diagnosis that ended: the preset it recommends (its ``best_val_acc``: its best strategy's mean)."""

    @property
    def progress(self) -> str:
        """How far the run got: its epochs, or a diagnosis's folds."""
        if self.config is None:
            return "-"
        if self.config.preset == "diagnose":
            return f"fold {self.folds_done}/{self.folds}" if self.folds else "fold -"
        return f"{self.epochs_done}/{self.config.epochs}"


class RunStarted(msgspec.Struct, kw_only=True):
    """A run was queued (started or resumed)."""

    run_id: str
    run_dir: str
    queued_behind: int = 0
    devices: list[str] = []
    """The GPUs reserved for the run when it started at once; empty while it waits (its Started event and
    the run list say them then) and on a host with one device."""


class Cancelling(msgspec.Struct, kw_only=True):
    """The run stops at the end of its batch."""

    run_id: str


class Replayed(msgspec.Struct, kw_only=True):
    """The events asked for were sent; ``following``: new ones follow as they happen."""

    run_id: str
    replayed: int
    following: bool


class Picture(msgspec.Struct, kw_only=True):
    """A small RGB image: ``width * height * 3`` bytes, row by row (base64 in JSON), and its caption."""

    width: int
    height: int
    rgb: bytes
    label: str = ""


class ChannelStats(msgspec.Struct, kw_only=True):
    """Per channel (R, G, B) mean and standard deviation of an image."""

    mean: list[float]
    std: list[float]


class GalleryReply(msgspec.Struct, kw_only=True):
    source: str
    label: str
    index: int
    augment: list[str]
    image_size: int
    original: Picture
    """The validation transform's output (no augmentation), before Normalize."""
    variants: list[Picture]
    """The training transform's outputs, Normalize undone for display."""
    normalised: Picture
    """``original`` after Normalize, each channel's [-2.7, 2.7] shown as [0, 255]."""
    before: ChannelStats
    after: ChannelStats
    digit: Picture
    digit_flipped: Picture
    """``digit`` flipped top to bottom: a transform no run uses, because it breaks labels."""


class FiltersReply(msgspec.Struct, kw_only=True):
    model: str
    weights: str
    kernel: int
    filters: list[Picture]
    """Each filter scaled to its own min..max; RGB are its three input channels."""


class GroupMaps(msgspec.Struct, kw_only=True):
    group: str
    channels: int
    height: int
    width: int
    maps: list[Picture]
    """The most active channels' maps, each scaled to its own maximum; labels ``ch N``."""


class ImageReply(msgspec.Struct, kw_only=True):
    """One image through a backbone: which backbone and weights, the image and where it came from."""

    model: str
    weights: str
    image_size: int
    index: int
    source: str
    label: str
    image: Picture


class ActivationsReply(ImageReply, kw_only=True):
    groups: list[GroupMaps]


class WalkReply(ImageReply, kw_only=True):
    features: list[float]
    classes: list[str]
    scores: list[float]
    """Softmax probabilities of the head, one per class."""
    head: str
    train_acc: float
    val_acc: float


class LossPicturesReply(msgspec.Struct, kw_only=True):
    run_id: str
    pictures: list[Picture]
    """One per top loss of the run's error analysis, in its order, as validation saw it (no augmentation),
    captioned ``true → predicted p``; a file that can no longer be read is a grey square saying so."""
class LrFound(msgspec.Struct, kw_only=True, tag_field="event", tag="lr_find"):
    """The learning-rate range test (Smith 2017, "Cyclical Learning Rates for Training Neural Networks"):
    the head's LR swept exponentially, the lower trainable groups at their ratio to it, one batch a step.
    ``curve``: (head LR, smoothed training loss) pairs; ``suggested_lr``: by ``rule``. Printed as one
    ``lr_find`` event by ``tltui lr-find --json``."""

    suggested_lr: float
    rule: Literal["valley", "steepest"]
    steepest_lr: float
    """The LR where the smoothed loss falls fastest."""
    valley_lr: float
    """Half way down the longest stretch where the loss keeps falling (fastai's default rule)."""
    curve: list[tuple[float, float]]
    stopped: str
    """Why the sweep ended before its last step (the loss diverged or became NaN), or ''."""
    config: RunConfig
    """The setting swept (image size resolved): its trainable groups, optimizer and LR ratios."""
    notes: list[str] = []
    warnings: list[str] = []
    """Where the setting looks wrong for this data: horizontal flips on data whose mirror image means
    something else (engine/mirror.py)."""
    seconds: float = 0.0


# ----------------------------------------------------------------------------------------------
# Requests (client to worker)


class Request(msgspec.Struct, Generic[R_co], kw_only=True, tag_field="type"):
    """A request; ``Request[R]`` is answered with an ``R`` (``reply``). The client numbers it (``id``)."""

    id: int = 0
    reply: ClassVar[Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if get_args(base):
                cls.reply = get_args(base)[0]


class GetCapabilities(Request[Capabilities], tag="capabilities"):
    pass


class StartRun(Request[RunStarted], tag="start_run"):
    config: RunConfig


class ResumeRun(Request[RunStarted], tag="resume_run"):
    """Continue a stopped run from its last checkpoint, with its own config."""

    run_id: str


class CancelRun(Request[Cancelling], tag="cancel_run"):
    run_id: str


class ListRuns(Request[list[RunSummary]], tag="list_runs"):
    pass


class GetEvents(Request[Replayed], tag="events"):
    """Every event of ``run_id`` after ``after_seq``; with ``follow``, then each new one as it happens."""

    run_id: str
    after_seq: int = 0
    follow: bool = False


class Gallery(Request[GalleryReply], tag="gallery"):
    """``count`` variants of one training image made by the training transforms; ``data`` is ``builtin``,
    ``builtin-shifted`` or a folder; ``index`` counts modulo the training images; pictures ``display`` px."""

    data: str = "builtin"
    index: int = 0
    augment: tuple[str, ...] = AUGMENTS
    image_size: int = 64
    count: int = 3
    seed: int = 0
    display: int = 16


class Filters(Request[FiltersReply], tag="filters"):
    """conv1's filters of a backbone with the given weights (``none``: random, seed 0)."""

    model: str = "resnet50"
    weights: str = "pretrained"


class Activations(Request[ActivationsReply], tag="activations"):
    """The ``channels`` most active maps of each backbone group for image ``index`` of ``data``: the
    built-in validation images, or the training split of ``builtin-shifted`` or a folder."""

    model: str = "resnet50"
    weights: str = "pretrained"
    data: str = "builtin"
    index: int = 0
    channels: int = 2
    display: int = 10


class FeatureWalk(Request[WalkReply], tag="feature_walk"):
    """Built-in validation image ``index`` through the frozen backbone: its pooled features, and the class
    scores of a linear head the worker fits on the built-in training images' features."""

    model: str = "resnet50"
    weights: str = "pretrained"
    index: int = 0
    display: int = 24


class DescribeBackbone(Request[BackboneInfo], tag="describe_backbone"):
    """``model``'s six groups (parameters with a 10-class head, MACs per image at ``image_size``, what each
    holds), its preprocessing and the weights there for it; ``image_size`` 0: the side a run on the worker
    would take (a timm model's own; tiny 32; resnet50 224 on a GPU, 64 on a CPU)."""

    model: str
    image_size: int = 0


class StartDiagnosis(Request[RunStarted], tag="start_diagnosis"):
    """Queue ``tltui diagnose``: a run in the store that measures the strategies on repeated splits of
    ``config.data`` (with ``config``'s model, weights, image size, device, seed and limit per class) in
    ``budget_s`` seconds (0: the default for the device); it ends with a Diagnosis event."""

    config: RunConfig
    budget_s: float = 0.0


PICTURE_REQUESTS = (Gallery, Filters, Activations, FeatureWalk)


class LossPictures(Request[LossPicturesReply], tag="loss_pictures"):
    """The top-loss validation images of finished run ``run_id`` (its id or a unique prefix), ``display``
    px square; the worker reads which from its run store."""

    run_id: str
    display: int = 32
class FindLr(Request[LrFound], tag="find_lr"):
    """A short job: the LR range test on ``config``'s data and trainable groups, ``steps`` batches from
    ``start_lr`` to ``end_lr`` (the head's LR); ``Working`` messages report it as it goes. The model is
    built for it and dropped after: no run is stored."""

    config: RunConfig
    steps: int = 100
    start_lr: float = 1e-7
    end_lr: float = 10.0


class BuiltinWritten(msgspec.Struct, kw_only=True):
    """The ImageFolder written: where, its classes, images per split and their side in pixels."""

    folder: str
    classes: list[str]
    n_train: int
    n_val: int
    side: int


class WriteBuiltin(Request[BuiltinWritten], tag="write_builtin"):
    """Write built-in set ``data`` (``builtin`` or ``builtin-shifted``) as an ImageFolder in ``folder`` (an
    absolute path on the worker's host), for a script of ``tltui export``: the images a run with ``seed``
    renders, split by ``val_fraction`` as a run splits them, at the side a run at ``image_size`` resizes to."""

    data: str
    folder: str
    image_size: int
    seed: int = 0
    val_fraction: float = 0.2


class CapacityPoint(msgspec.Struct, kw_only=True):
    """Training accuracy of a linear probe fitted on the first ``n`` images of a capacity sweep."""

    n: int
    real: float
    """On the backbone's pooled features."""
    gaussian: float
    """On standard Gaussian features of the same dimension (points in general position)."""


class CapacityReply(msgspec.Struct, kw_only=True):
    """How many shuffled labels a linear probe memorises (engine/capacity.py): one point per ``n``, real
    features against Gaussian ones, both ``dim``-dimensional; any labelling of ``dim + 1`` points in
    general position can be fitted (Cover 1965)."""

    model: str
    weights: str
    source: str
    dim: int
    classes: int
    chance: float
    """The share of the most common label: what predicting one class gets."""
    l2: float
    points: list[CapacityPoint]
    effective_rank: int
    gaussian_rank: int
    rank_rule: str
    """How the two ranks are counted."""
    notes: list[str] = []
    seconds: float = 0.0


class Capacity(Request[CapacityReply], tag="capacity"):
    """A short job: the frozen ``model``'s pooled features of ``data`` (``builtin`` or a folder), its labels
    shuffled with ``seed``, and a linear probe's training accuracy on the first n images for each n of
    ``sizes`` (empty: a grid around the features' dimension + 1), beside Gaussian features; ``Working``
    messages report it fit by fit. Nothing is stored."""

    model: str = "tiny"
    weights: str = "pretrained"
    data: str = "builtin"
    sizes: tuple[int, ...] = ()
    seed: int = 0


AnyRequest = (
    GetCapabilities | StartRun | ResumeRun | CancelRun | ListRuns | GetEvents | Gallery | Filters | Activations
    | FeatureWalk | LossPictures | StartDiagnosis | FindLr | WriteBuiltin | Capacity | DescribeBackbone
)


# ----------------------------------------------------------------------------------------------
# Worker to client


class Message(msgspec.Struct, kw_only=True, tag_field="type"):
    pass


class Hello(Message, tag="hello"):
    """The worker's first line, once it can train."""

    protocol: int
    capabilities: Capabilities


class Reply(Message, tag="reply"):
    """The answer to request ``id``: its reply struct as JSON, decoded by whoever knows which it is."""

    id: int
    result: msgspec.Raw = msgspec.Raw(b"null")


class Error(Message, tag="error"):
    id: int | None
    message: str


class EventMessage(Message, tag="event"):
    event: RunEvent


class Working(Message, tag="working"):
    """Progress of a short job (request ``id``) before its reply: ``done`` of ``total`` steps."""

    id: int
    done: int
    total: int
    text: str = ""


AnyMessage = Hello | Reply | Error | EventMessage | Working

_encoder = msgspec.json.Encoder()
_request_decoder = msgspec.json.Decoder(AnyRequest)
_message_decoder = msgspec.json.Decoder(AnyMessage)
_event_decoder = msgspec.json.Decoder(RunEvent)


def encode(obj: msgspec.Struct) -> bytes:
    """One protocol line, newline included."""
    return _encoder.encode(obj) + b"\n"


def decode_request(line: bytes) -> AnyRequest:
    """Raises msgspec.ValidationError / DecodeError on a bad line."""
    return _request_decoder.decode(line)


def decode_message(line: bytes) -> AnyMessage:
    return _message_decoder.decode(line)


def decode_event(line: bytes) -> RunEvent:
    return _event_decoder.decode(line)


def reply(request_id: int, result: msgspec.Struct | list) -> Reply:
    """The reply to request ``request_id``."""
    return Reply(id=request_id, result=msgspec.Raw(_encoder.encode(result)))


def decode_reply(request: Request[R], message: Reply) -> R:
    """``message``'s result as ``request``'s reply type; msgspec.ValidationError if it is not one."""
    return msgspec.json.decode(message.result, type=request.reply)


def rank_line(report: RankReport) -> str:
    return RANK_LINE + _encoder.encode(report).decode() + "\n"


def read_rank_line(line: str) -> RankReport | None:
    """The report in a line of a rank's stderr, or None if the line is not one."""
    _, found, text = line.partition(RANK_LINE)
    if not found:
        return None
    try:
        return msgspec.json.decode(text.strip(), type=RankReport)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def to_builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


def fit(event: RunEvent, limit: int = MAX_EVENT) -> RunEvent:
    """``event``, or if its line would pass ``limit`` bytes, the same event without its per-class detail
    (first the confusion matrix, then the error analysis, then per-class accuracies and class names): it
    still says how the run went."""
    cuts: tuple[dict[str, Any], ...] = ({"confusion": []}, {"analysis": None}, {"per_class_acc": {}, "classes": []})
    for cut in cuts:
        if len(_encoder.encode(event)) <= limit:
            break
        event = msgspec.structs.replace(event, **{k: v for k, v in cut.items() if hasattr(event, k)})
    return event


def current(events: list[RunEvent]) -> list[RunEvent]:
    """A run's events as the run now stands: a resumed run trains again the epochs after its checkpoint,
    so its Started drops the epochs, progress and unfreezing after ``resumed_from`` that came before it."""
    kept: list[RunEvent] = []
    for event in events:
        if isinstance(event, Started) and kept:
            kept = [e for e in kept
                    if not (isinstance(e, (Epoch, Progress, Unfrozen)) and e.epoch > event.resumed_from)]
        kept.append(event)
    return kept
