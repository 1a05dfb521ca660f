"""Replies: what each request is answered with (the pictures' are computed by engine/pictures.py)."""

from __future__ import annotations

from typing import Literal

import msgspec

from tltui.core.protocol.config import RunConfig


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


class BuiltinWritten(msgspec.Struct, kw_only=True):
    """The ImageFolder written: where, its classes, images per split and their side in pixels."""

    folder: str
    classes: list[str]
    n_train: int
    n_val: int
    side: int


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
