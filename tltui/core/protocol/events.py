"""Run events: the lines of a run's ``events.jsonl``, of ``tltui train --json`` and of ``event`` messages."""

from __future__ import annotations

import msgspec

from tltui.core.backbones import Preprocessing
from tltui.core.protocol.config import RunConfig


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
    deterministic: bool = False
    """Whether torch's deterministic algorithms were on as the run trained (``--deterministic``)."""


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
