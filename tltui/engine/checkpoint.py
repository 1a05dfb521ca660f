"""What a run keeps between steps and across a resume: the epoch's running sums, the best epoch, ``resume.pt``.

``resume.pt`` is a ``Checkpoint`` saved as a plain dict of tensors and Python values (so
``torch.load(weights_only=True)`` reads it) with a ``version``: 2 since norm weights and biases have
parameter groups of their own. Version 1 (no key) is read and its optimizer state split to match; a
checkpoint of a still older tltui kept its weights in ``last.pt``: they are read from there.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import torch

from tltui.core import files
from tltui.core.errors import BadInput
from tltui.core.protocol.config import RunConfig
from tltui.engine import model as net

VERSION = 2
FIX = "start a new run with the same settings"


@dataclass
class EpochSums:
    """The running sums of the epoch in progress: a run stopped mid-epoch goes on from them."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0


@dataclass
class Best:
    """The best epoch so far by validation accuracy; its weights are kept in memory until best.pt has them."""

    acc: float = -1.0
    epoch: int = 0
    per_class: dict[str, float] = field(default_factory=dict)
    confusion: list[list[int]] = field(default_factory=list)
    state: dict[str, torch.Tensor] | None = None
    saved: bool = True
    samples: dict[str, list] = field(default_factory=dict)
    """Per validation image: ``predicted`` class, softmax probability of its true class (``p_true``) and of
    the predicted one (``p_predicted``), for the error analysis; empty from a checkpoint that lacks them."""

    def results(self) -> dict:
        return {"acc": self.acc, "epoch": self.epoch, "per_class": self.per_class, "confusion": self.confusion,
                "samples": self.samples}


@dataclass
class Checkpoint:
    """All a resume reads, in one file, so it never mixes two saves."""

    classes: list[str]
    epochs_done: int
    step_in_epoch: int
    global_step: int
    partial: EpochSums
    groups: list[str]
    """The trainable layer groups, in the order they joined the optimizer."""
    optimizer: dict
    best: Best
    elapsed: float
    rng_cpu: torch.Tensor
    model: dict[str, torch.Tensor]
    rng_cuda: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.uint8))
    scaler: dict = field(default_factory=dict)
    version: int = VERSION

    def to_dict(self) -> dict:
        state = {f.name: getattr(self, f.name) for f in fields(self)}  # not asdict: it would copy the weights
        return {**state, "partial": asdict(self.partial), "best": self.best.results()}


REQUIRED = [f.name for f in fields(Checkpoint)
            if f.default is f.default_factory is MISSING and f.name != "model"]  # model: in last.pt before


def save(obj: object, path: Path) -> None:
    files.write_atomic(path, lambda file: torch.save(obj, file))


def plain(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state_dict as plain contiguous CPU tensors: loads anywhere into the same torchvision ResNet."""
    return {k: v.detach().to("cpu").contiguous() for k, v in state.items()}


def read(config: RunConfig, run_dir: Path, mmap: bool = False) -> Checkpoint:
    """``run_dir``'s ``resume.pt``, checked: every field, and weights of ``config``'s backbone. BadInput in
    one line for a file that is missing, unreadable, incomplete, of another model, or of a newer tltui."""
    path = run_dir / "resume.pt"
    if not path.is_file():
        raise BadInput(f"run {run_dir.name} saved no checkpoint to resume from; start it again instead")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # text, truncated, pickled code: torch says so in many ways
        raise BadInput(f"{path} is not a checkpoint tltui can read ({type(exc).__name__}): {FIX}") from None
    if not isinstance(state, dict):
        state = {}
    version = state.get("version", 1)
    if not isinstance(version, int) or version > VERSION:
        raise BadInput(f"{path} was written by a newer tltui (checkpoint version {version}, this one reads up to "
                       f"{VERSION}): resume it with that version, or {FIX}")
    missing = [k for k in REQUIRED if k not in state]
    if missing:
        raise BadInput(f"{path} is not a whole checkpoint (it lacks {', '.join(missing[:3])}): {FIX}")
    if "model" not in state:
        state["model"] = net.load_state_file(run_dir / "last.pt", FIX)
    weights, classes = state["model"], state["classes"]
    if not (isinstance(weights, dict) and all(isinstance(v, torch.Tensor) for v in weights.values())
            and isinstance(classes, list)):
        raise BadInput(f"{path} is not a checkpoint tltui wrote (malformed weights or classes): {FIX}")
    problem = net.mismatch(config.model, len(classes), weights, config.image_size)
    if problem:
        raise BadInput(f"{path} holds weights of another model than this run's {config.model} ({problem}): {FIX}")
    known = {f.name for f in fields(Checkpoint)}
    try:
        return Checkpoint(**{**{k: v for k, v in state.items() if k in known}, "version": version,
                             "partial": EpochSums(**state["partial"]), "best": Best(**state["best"])})
    except TypeError:
        raise BadInput(f"{path} is not a checkpoint tltui wrote (malformed sums or best epoch): {FIX}") from None
