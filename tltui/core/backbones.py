"""The backbones tltui knows by name, without torch: the built-in two and any timm model as ``timm:NAME``.

The CLI, the UI and the protocol check a name's form here; whether timm has a model of that name, and
whether its weights are on this host, only the worker knows (engine/timm_backbone.py). The structs at the
end are what the worker answers about a backbone (its six groups, its preprocessing).
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from tltui.core.errors import BadInput

BUILTIN: tuple[str, ...] = ("resnet50", "tiny")
TIMM = "timm:"
INSTALL = 'pip install -e ".[timm]"'
"""What a worker without timm needs, said where a ``timm:`` model is asked of it."""
LABELS = {"resnet50": "ResNet-50", "tiny": "tiny ResNet"}
#: Named ``--weights`` per backbone besides a file or run folder; ``pretrained`` is the backbone's own
#: (resnet50: ImageNet's; tiny: shipped with tltui, pretrained on generated fractals; timm: its default tag's,
#: from the Hugging Face cache).
NAMED_WEIGHTS: dict[str, tuple[str, ...]] = {
    "resnet50": ("pretrained", "imagenet", "imagenet-v1", "none"),
    "tiny": ("pretrained", "none"),
}
TIMM_WEIGHTS: tuple[str, ...] = ("pretrained", "none")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_TIMM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")


def is_timm(model: str) -> bool:
    return model.startswith(TIMM)


def timm_name(model: str) -> str:
    """``convnext_tiny`` of ``timm:convnext_tiny``."""
    return model.removeprefix(TIMM)


def problem(model: str) -> str:
    """Why ``model`` is not a backbone name ('' where it is one): a built-in name, or ``timm:NAME``."""
    if model in BUILTIN:
        return ""
    if is_timm(model):
        if _TIMM_NAME.fullmatch(timm_name(model)):
            return ""
        return (f"--model {model}: a timm name is letters, digits, _ . and -, such as timm:convnext_tiny or "
                "timm:vit_small_patch14_dinov2.lvd142m")
    return f"unknown model {model!r}: choose from {', '.join(BUILTIN)}, or timm:NAME (any timm image model)"


def named_weights(model: str) -> tuple[str, ...]:
    return TIMM_WEIGHTS if is_timm(model) else NAMED_WEIGHTS.get(model, ())


def weights_problem(model: str, weights: str) -> str:
    """Why ``--weights`` of ResNet-50's alone are asked of another backbone ('' otherwise)."""
    if model != "resnet50" and weights in NAMED_WEIGHTS["resnet50"][1:3]:
        own = "generated fractals" if model == "tiny" else "its default tag's, from the Hugging Face cache"
        return (f"--weights {weights} is for resnet50 only: {label(model)}'s own are --weights pretrained ({own}); "
                "or none, or a file")
    return ""


def label(model: str) -> str:
    """The backbone as a person reads it: ``ResNet-50``, ``timm convnext_tiny``."""
    return f"timm {timm_name(model)}" if is_timm(model) else LABELS.get(model, model)


# ----------------------------------------------------------------------------------------------
# What the worker says about a backbone


class Preprocessing(msgspec.Struct, kw_only=True):
    """How images are prepared for a backbone: normalised by ``mean`` and ``std`` (per RGB channel, on
    [0, 1]), resized with ``interpolation`` so the shorter side is ``image_size / 0.875`` (a validation
    image of a timm model: ``resize``, from its ``crop_pct``), centre-cropped to ``image_size``. ``source``
    says where the numbers come from; ``note`` what the learner changed."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    image_size: int = 0
    interpolation: str = "bilinear"
    source: str = "ImageNet's statistics (torchvision)"
    model_size: int = 0
    """The backbone's own input side (timm's data config); 0 where it has none (ResNet-50, tiny)."""
    crop_pct: float = 0.875
    """The share of a validation image's shorter side its centre crop keeps: a timm model's own (its data
    config), 0.875 for ResNet-50 and tiny."""
    resize: int = 0
    """The shorter side validation images are resized to before the crop: ``floor(image_size / crop_pct)``
    for a timm model (timm's eval transform), ``round(image_size / 0.875)`` for the built-in two; 0 where
    not resolved yet."""
    note: str = ""


class GroupInfo(msgspec.Struct, kw_only=True):
    """One of the six groups of a backbone: its parameters, forward multiply-accumulates per image at the
    reply's image size, and what it holds in the model's own module names (``blocks.0-2``)."""

    name: str
    params: int
    macs: int
    holds: str


class BackboneInfo(msgspec.Struct, kw_only=True):
    """A backbone seen as six groups, bottom to top, with its preprocessing and the named ``--weights``
    that work on the worker now (``pretrained`` only where its file is there); ``looked``: where the
    worker looked for pretrained weights."""

    model: str
    label: str
    groups: list[GroupInfo]
    preprocessing: Preprocessing
    weights: list[str]
    looked: str = ""
    convolutional: bool = True


def weights_path(weights: str, choices: str) -> Path:
    """The file ``--weights`` names: a file, or a run folder's ``best.pt``; BadInput in one line, naming the
    ``choices``, where there is none."""
    path = Path(weights).expanduser()
    if path.is_dir():
        path = path / "best.pt"
        if not path.is_file():
            raise BadInput(f"--weights {weights}: the folder has no best.pt (is it a finished run's folder?)")
    elif not path.is_file():
        raise BadInput(f"--weights {weights}: no such file; use {choices}")
    return path
