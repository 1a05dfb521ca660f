"""Which backbone a lesson widget trains: the one the worker has pretrained weights for (ResNet-50 with
ImageNet's, else the tiny backbone, whose weights ship with tltui), until the learner presses ``b``."""

from __future__ import annotations

from tltui.core.backbones import BUILTIN, is_timm
from tltui.ui.link import WorkerLink

#: What "pretrained" means for each backbone, as the widgets say it.
WEIGHTS = {"resnet50": "ImageNet", "tiny": "pretrained on fractals"}


def chosen(link: WorkerLink, picked: str) -> str:
    """The learner's pick, or else the backbone the worker has pretrained weights for."""
    return picked or link.pretrained_backbone or "tiny"


def cached_timm(link: WorkerLink) -> list[str]:
    """Each ``timm:NAME`` whose pretrained weights the worker has (its hello lists them), sorted."""
    caps = link.capabilities
    return sorted(m for m in (caps.models if caps else {}) if is_timm(m))


def offered(link: WorkerLink) -> list[str]:
    """The backbones a widget offers: the built-in two, then each timm model with cached weights."""
    return [*BUILTIN, *cached_timm(link)]


def other(model: str) -> str:
    return "tiny" if model == "resnet50" else "resnet50"


def label(link: WorkerLink, picked: str) -> str:
    """``tiny · pretrained on fractals``, ``resnet50 · ImageNet``; a wait until the worker has said hello."""
    if link.capabilities is None and not picked:
        return "the backbone the worker has weights for (asking it…)"
    model = chosen(link, picked)
    return f"{model} · {WEIGHTS[model]}"


def refusal(link: WorkerLink, model: str) -> str:
    """Why ``model`` cannot start from pretrained weights on this worker, with the key that helps; ''."""
    missing = link.missing_weights(model)
    if missing and link.has_pretrained(other(model)):
        return f"{missing}: b picks {other(model)}"
    return missing
