"""The UI's picture of one run, rebuilt from its events (live, or replayed from the run store)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tltui.core.formatting import head_fitted
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import (
    TERMINAL_EVENTS,
    Cancelled,
    Diagnosis,
    Epoch,
    Failed,
    Finished,
    HeadFitted,
    Measured,
    Note,
    Progress,
    RunEvent,
    Started,
    Unfrozen,
)
from tltui.core.protocol.replies import RunSummary

#: Longest series a chart gets; longer curves are thinned evenly (first and last points kept).
MAX_POINTS = 200


@dataclass
class Curves:
    """Points (x = epochs done, fractional within an epoch) of one run's curves."""

    train_loss: list[tuple[float, float]] = field(default_factory=list)
    train_acc: list[tuple[float, float]] = field(default_factory=list)
    val_loss: list[tuple[float, float]] = field(default_factory=list)
    val_acc: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class RunModel:
    """Everything a view shows about a run; ``apply`` each event in seq order."""

    run_id: str
    config: RunConfig | None = None
    started: Started | None = None
    progress: Progress | None = None
    epochs: list[Epoch] = field(default_factory=list)
    train_points: list[tuple[float, float, float]] = field(default_factory=list)
    """(x, running train loss, running train accuracy) from progress events and epoch ends."""
    unfrozen: list[Unfrozen] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    end: Finished | Failed | Cancelled | Diagnosis | None = None
    measured: list[Measured] = field(default_factory=list)
    """A diagnose run's measurements so far, one per strategy and fold."""
    lost: str = ""
    """Why the worker stopped answering while this run was going (the run may be interrupted)."""
    last_seq: int = 0
    status: str = "starting"
    summary: RunSummary | None = None
    """What the run store said of the run: stands in for the events until they are loaded."""

    @classmethod
    def from_summary(cls, summary: RunSummary) -> RunModel:
        model = cls(summary.run_id, config=summary.config, status=summary.status, summary=summary)
        if summary.reason and summary.status in ("failed", "interrupted"):
            model.lost = summary.reason if summary.status == "interrupted" else ""
        if summary.status == "damaged":
            model.notes.append(summary.reason)
        return model

    def apply(self, event: RunEvent) -> bool:
        """Take one event; False if it was already seen (a replay overlapping live events)."""
        if event.seq <= self.last_seq:
            return False
        self.last_seq = event.seq
        if isinstance(event, Started):
            self.started, self.config, self.status, self.lost = event, event.config, "running", ""
            self.end = None
            # A resumed run starts again after its last epoch: drop what came after it.
            self.epochs = [e for e in self.epochs if e.epoch <= event.resumed_from]
            self.train_points = [p for p in self.train_points if p[0] <= event.resumed_from]
        elif isinstance(event, Progress):
            self.progress = event
            x = event.epoch - 1 + event.step / max(event.steps, 1)
            self.train_points.append((x, event.train_loss, event.train_acc))
        elif isinstance(event, Epoch):
            self.epochs.append(event)
            self.train_points.append((float(event.epoch), event.train_loss, event.train_acc))
            self.progress = None
        elif isinstance(event, Unfrozen):
            self.unfrozen.append(event)
        elif isinstance(event, Note):
            self.notes.append(event.message)
        elif isinstance(event, HeadFitted):
            self.notes.append(head_fitted(event))
        elif isinstance(event, Measured):
            self.measured.append(event)
        elif isinstance(event, TERMINAL_EVENTS):
            self.end, self.lost = event, ""
            self.progress = None
            self.status = "finished" if isinstance(event, (Finished, Diagnosis)) else \
                {Failed: "failed", Cancelled: "cancelled"}[type(event)]
        return True

    def mark_lost(self, reason: str) -> None:
        """The worker went away while this run was queued or training."""
        if self.end is None:
            self.lost = reason
            self.status = "interrupted"

    @property
    def running(self) -> bool:
        return self.end is None and not self.lost and self.status in ("starting", "running")

    @property
    def best(self) -> Epoch | None:
        return max(self.epochs, key=lambda e: e.val_acc, default=None)

    @property
    def is_diagnosis(self) -> bool:
        """A ``tltui diagnose`` run: it measures strategies on folds instead of training epochs."""
        return self.config is not None and self.config.preset == "diagnose"

    @property
    def done(self) -> str:
        """How far the run got: its epochs, or a diagnosis's folds."""
        if not self.is_diagnosis:
            return f"{self.epochs_done}/{self.config.epochs}" if self.config else "-"
        if self.measured:
            return f"fold {self.measured[-1].fold}/{self.measured[-1].folds}"
        return self.summary.progress if self.summary else "fold -"

    @property
    def epochs_done(self) -> int:
        """Epochs finished: from the events, or from the run store's summary before they are loaded."""
        return max(len(self.epochs), self.summary.epochs_done if self.summary else 0)

    @property
    def best_val_acc(self) -> float | None:
        """The best epoch's validation accuracy; a diagnosis's: its best strategy's mean."""
        if isinstance(self.end, Diagnosis):
            return max((r.acc for r in self.end.results.values()), default=None)
        if self.best is not None:
            return self.best.val_acc
        return self.summary.best_val_acc if self.summary else None

    @property
    def strategy(self) -> str:
        """What trains, in a few words: the preset, or the frozen groups and unfreezing; and the LR."""
        config = self.config
        if config is None:
            return "-"
        if self.is_diagnosis:
            recommend = self.end.recommend if isinstance(self.end, Diagnosis) else \
                self.summary.recommend if self.summary else ""
            return f"diagnose → {recommend}" if recommend else "diagnose"
        if config.preset:
            plan = config.preset
        elif not config.frozen:
            plan = "all train"
        else:
            trainable = config.trainable_at(1)
            plan = "head only" if trainable == ("head",) else f"{trainable[0]} and up" if trainable else "-"
            if config.unfreeze:
                plan += " +" + ",".join(f"{e}:{g}" for g, e in sorted(config.unfreeze.items(), key=lambda i: i[1]))
        decay = f"×{config.lr_decay:g}" if config.lr_decay != 1 else ""
        return f"{plan} · lr {config.lr:.0e}{decay}"

    def curves(self) -> Curves:
        return Curves(
            train_loss=thin([(x, loss) for x, loss, _ in self.train_points]),
            train_acc=thin([(x, acc) for x, _, acc in self.train_points]),
            val_loss=thin([(float(e.epoch), e.val_loss) for e in self.epochs]),
            val_acc=thin([(float(e.epoch), e.val_acc) for e in self.epochs]),
        )

    @property
    def label(self) -> str:
        """Which backbone and weights this run's curves come from."""
        if self.started:
            weights = self.started.weights.split(" (")[0]
            return f"{self.started.model} · {weights}"
        if self.config:
            return f"{self.config.model} · {self.config.weights}"
        return self.run_id


def thin(points: list[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most ``limit`` points, evenly spaced through ``points``, the first and last kept."""
    if len(points) <= limit:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]
