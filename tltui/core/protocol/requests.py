"""Requests, client to worker: each is answered with its reply type (``Request[R]``: an ``R``)."""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar, get_args

import msgspec

from tltui.core.backbones import BackboneInfo
from tltui.core.protocol.config import AUGMENTS, RunConfig
from tltui.core.protocol.replies import (
    ActivationsReply,
    BuiltinWritten,
    Cancelling,
    Capabilities,
    CapacityReply,
    FiltersReply,
    GalleryReply,
    LossPicturesReply,
    LrFound,
    Replayed,
    RunStarted,
    RunSummary,
    WalkReply,
)

R_co = TypeVar("R_co", covariant=True)
"""The reply type of a Request, covariant: a request answered with a RunStarted is one answered with a RunStarted
or a Replayed."""


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


class WriteBuiltin(Request[BuiltinWritten], tag="write_builtin"):
    """Write built-in set ``data`` (``builtin`` or ``builtin-shifted``) as an ImageFolder in ``folder`` (an
    absolute path on the worker's host), for a script of ``tltui export``: the images a run with ``seed``
    renders, split by ``val_fraction`` as a run splits them, at the side a run at ``image_size`` resizes to."""

    data: str
    folder: str
    image_size: int
    seed: int = 0
    val_fraction: float = 0.2


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
