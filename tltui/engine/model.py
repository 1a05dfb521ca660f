"""The backbones seen as six groups: building them with their weights, freezing, running part of the network.

Two built-in backbones, both torchvision ``ResNet`` s with the same module names: ``resnet50`` (ImageNet
weights from torch's hub cache) and ``tiny`` (``engine/tiny.py``, its weights pretrained on generated fractals
and shipped in the package); and any timm model, ``timm:NAME`` (engine/timm_backbone.py), to which each
function here hands a model that is not a torchvision ResNet. ``--weights pretrained`` means the backbone's
own pretrained weights.

Frozen means ``requires_grad=False`` and, with ``bn="freeze"``, the group's BatchNorm layers in eval mode
whenever the model trains, so their running statistics stay put. ``bn="train"`` leaves them in train mode
on purpose: the statistics drift although the weights do not (the pitfall the lessons show).
"""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import ResNet, ResNet50_Weights, resnet50

from tltui.core import backbones, files
from tltui.core.errors import BadInput
from tltui.core.groups import GROUPS, MODULES
from tltui.engine import timm_backbone, tiny

PRETRAINED = "pretrained"
"""The ``--weights`` name of each backbone's own pretrained weights: ImageNet's for resnet50, tiny's shipped ones."""
WEIGHTS: dict[str, ResNet50_Weights] = {
    "imagenet": ResNet50_Weights.IMAGENET1K_V2,
    "imagenet-v1": ResNet50_Weights.IMAGENET1K_V1,
}
"""ResNet-50's named ImageNet weights; ``pretrained`` is ``imagenet``."""
LABELS = backbones.LABELS
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0


# ----------------------------------------------------------------------------------------------
# Groups


def group_modules(model: ResNet, group: str) -> list[nn.Module]:
    return [getattr(model, name) for name in MODULES[group]]


def group_parameters(model: nn.Module, group: str) -> list[nn.Parameter]:
    if not isinstance(model, ResNet):
        return timm_backbone.group_parameters(model, group)
    return [p for module in group_modules(model, group) for p in module.parameters()]


def parameter_counts(model: nn.Module) -> dict[str, int]:
    return {g: sum(p.numel() for p in group_parameters(model, g)) for g in GROUPS}


def _stage(model: ResNet, group: str) -> list[nn.Module]:
    """The modules a group runs in the forward pass, in order: the stem's ReLU and max-pool are the
    stem's, the global average pool is layer4's (so the head's input is the pooled features)."""
    if group == "stem":
        return [model.conv1, model.bn1, model.relu, model.maxpool]
    if group == "layer4":
        return [model.layer4, model.avgpool, nn.Flatten(1)]
    return [getattr(model, MODULES[group][0])]


def forward_from(model: nn.Module, group: str, x: torch.Tensor) -> torch.Tensor:
    """Run the network from ``group``'s input to the logits (``"stem"``: the whole forward pass)."""
    if not isinstance(model, ResNet):
        return timm_backbone.forward_from(model, group, x)
    for g in GROUPS[GROUPS.index(group):]:
        for module in _stage(model, g):
            x = module(x)
    return x


class FromGroup(nn.Module):
    """The network from ``group``'s input to the logits as a module of its own: what DDP wraps when the
    boundary cache feeds ``group`` (DDP must run the forward it averages the gradients of)."""

    def __init__(self, model: nn.Module, group: str) -> None:
        super().__init__()
        self.model, self.group = model, group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return forward_from(self.model, self.group, x)


def forward_until(model: nn.Module, group: str, x: torch.Tensor) -> torch.Tensor:
    """Run the groups below ``group``: its input (for ``"head"``, the pooled 2048 features)."""
    if not isinstance(model, ResNet):
        return timm_backbone.forward_until(model, group, x)
    for g in GROUPS[:GROUPS.index(group)]:
        for module in _stage(model, g):
            x = module(x)
    return x


def input_shape(model: nn.Module, group: str, image_size: int) -> tuple[int, ...]:
    """Shape of one image's input to ``group`` at ``image_size``: the channels from the modules, the side
    after every strided module below (each pads so that stride ``s`` maps side ``n`` to ``(n - 1) // s + 1``)."""
    if not isinstance(model, ResNet):
        return timm_backbone.input_shape(model, group, image_size)
    if group == "head":
        return (model.fc.in_features,)
    if group == "stem":
        return (3, image_size, image_size)
    strides = [model.conv1.stride[0], model.maxpool.stride]
    strides += [getattr(model, f"layer{i}")[0].stride for i in range(1, GROUPS.index(group))]
    side = image_size
    for stride in strides:
        side = (side - 1) // stride + 1
    return getattr(model, group)[0].conv1.in_channels, side, side


def batchnorms(model: nn.Module, groups: Iterable[str]) -> list[nn.modules.batchnorm._BatchNorm]:
    """The BatchNorm layers of ``groups``."""
    if not isinstance(model, ResNet):
        return timm_backbone.batchnorms(model, groups)
    return [m for g in groups for module in group_modules(model, g) for m in module.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def set_trainable(model: nn.Module, trainable: set[str] | frozenset[str], bn: str) -> None:
    """``requires_grad`` per group, and the model in train mode with frozen groups' BatchNorm per ``bn``.

    Call it after every ``model.train()``: ``train()`` puts every BatchNorm back in train mode.
    """
    model.train()
    for group in GROUPS:
        train = group in trainable
        for p in group_parameters(model, group):
            p.requires_grad_(train)
        if not train and bn == "freeze":
            for m in batchnorms(model, [group]):
                m.eval()


def group_names(model: nn.Module) -> dict[str, str]:
    """Each parameter and buffer name of ``model`` -> its group."""
    if not isinstance(model, ResNet):
        return timm_backbone.groups(model)
    return {f"{module}.{name}": group for group in GROUPS for module in MODULES[group]
            for name, _ in [*getattr(model, module).named_parameters(), *getattr(model, module).named_buffers()]}


def head(model: nn.Module) -> nn.Linear | nn.Conv2d:
    """The classifier a new task replaces (ResNet's ``fc``)."""
    return timm_backbone.head(model) if not isinstance(model, ResNet) else model.fc


def feature_dim(model: nn.Module) -> int:
    """The width of the head's input, the pooled features."""
    return timm_backbone.feature_dim(model) if not isinstance(model, ResNet) else model.fc.in_features


def convolutional(model: nn.Module) -> bool:
    """Whether convolutions run above the stem (not a ViT's): where channels-last memory pays."""
    return timm_backbone.convolutional(model) if not isinstance(model, ResNet) else True


# ----------------------------------------------------------------------------------------------
# Building the model with its weights


def new(name: str, num_classes: int, image_size: int = 0) -> nn.Module:
    """A randomly initialised backbone with a ``num_classes`` head (``image_size``: a timm model's input side,
    where it is built for one)."""
    if backbones.is_timm(name):
        return timm_backbone.create(name, num_classes, image_size)
    return tiny.TinyResNet(num_classes) if name == "tiny" else resnet50(num_classes=num_classes)


def build(name: str, num_classes: int, weights: str, image_size: int = 0) -> tuple[nn.Module, str, list[str]]:
    """(model, a description of its weights, notes for the user). Uses the global RNG for new layers.

    ``weights``: ``pretrained`` (the backbone's own), ``none``, for resnet50 also ``imagenet`` and
    ``imagenet-v1``, or a state_dict file (a safetensors file too, for a timm model), or a run directory
    (its best.pt). ``image_size``: a timm model's input side.
    """
    if backbones.is_timm(name):
        return timm_backbone.build(name, num_classes, weights, image_size)
    model = new(name, num_classes)
    source, described = _source(name, weights)
    if source is None:
        return model, described, []
    state = _load_file(_hub_file(source) if isinstance(source, ResNet50_Weights) else source)
    notes = _load_backbone(model, state, num_classes, described, LABELS[name])
    return model, described, notes


def check_weights(name: str, weights: str, image_size: int = 0) -> None:
    """BadInput (one line) unless ``weights`` are there for backbone ``name`` (downloading ImageNet's if
    needed) and, for a file, fit it; no model is built. A timm model: that timm has it, for ``image_size``."""
    if backbones.is_timm(name):
        return timm_backbone.check(name, weights, image_size)
    source, described = _source(name, weights)
    if isinstance(source, ResNet50_Weights):
        _hub_file(source)
    elif source is not None and source != tiny.WEIGHTS_FILE:
        with torch.device("meta"):
            model = new(name, 2)
        _load_backbone(model, _load_file(source), 2, described, LABELS[name], load=False)


def _source(name: str, weights: str) -> tuple[ResNet50_Weights | Path | None, str]:
    """Where ``weights`` come from (ImageNet's in the hub cache, a file, or None for random), described."""
    if weights == "none":
        return None, "none (random initialisation)"
    if name == "tiny" and weights == PRETRAINED:
        return tiny.WEIGHTS_FILE, f"{PRETRAINED} ({tiny.SOURCE})"
    if name == "resnet50" and weights in (PRETRAINED, *WEIGHTS):
        key = "imagenet" if weights == PRETRAINED else weights
        return WEIGHTS[key], f"{key} ({WEIGHTS[key].name})"
    names = [*WEIGHTS, "none", PRETRAINED] if name == "resnet50" else [PRETRAINED, "none"]
    path = backbones.weights_path(weights, f"{', '.join(names)}, or a path to a state_dict file or a run folder")
    return path, str(path)


def load_state_file(path: Path, fix: str) -> dict[str, torch.Tensor]:
    """The state_dict in ``path``; BadInput naming the file and ``fix`` if it is not one."""
    try:
        return _load_file(path, what="")
    except BadInput as error:
        raise BadInput(f"{error}: {fix}") from None


def mismatch(name: str, num_classes: int, state: dict[str, torch.Tensor], image_size: int = 0) -> str:
    """What keeps ``state`` from loading exactly into backbone ``name`` with ``num_classes`` outputs ("" if nothing)."""
    if backbones.is_timm(name):
        return timm_backbone.mismatch(name, num_classes, state, image_size)
    with torch.device("meta"):
        own = new(name, num_classes).state_dict()
    return _problems(own, state, head_optional=False)


def _problems(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], head_optional: bool) -> str:
    wrong = [k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in state and not (head_optional and k.startswith("fc."))]
    unexpected = [k for k in state if k not in own]
    problems = wrong or missing or unexpected
    if not problems:
        return ""
    what = "wrong shapes" if wrong else "missing" if missing else "unexpected keys"
    more = f" and {len(problems) - 2} more" if len(problems) > 2 else ""
    return f"{what}: {', '.join(problems[:2])}{more}"


def available() -> dict[str, list[str]]:
    """Per backbone, the ``--weights`` names that work now without a download (``none`` always does); a timm
    model's where its weights are in the Hugging Face cache."""
    imagenet = cached_weights()
    tiny_weights = [PRETRAINED] if tiny.WEIGHTS_FILE.is_file() else []
    return {
        "resnet50": ([PRETRAINED] if "imagenet" in imagenet else []) + imagenet + ["none"],
        "tiny": [*tiny_weights, "none"],
        **{name: [PRETRAINED, "none"] for name in timm_backbone.cached()},
    }


def weights_file(weights: ResNet50_Weights) -> Path:
    """Where torch's hub cache keeps these weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(weights.url).path).name


def cached_weights() -> list[str]:
    """The ``--weights`` names whose files are in torch's hub cache."""
    return [name for name, w in WEIGHTS.items() if weights_file(w).is_file()]


def _hub_file(weights: ResNet50_Weights) -> Path:
    """The weights' file in the hub cache, downloaded first when it is not there (never hangs offline)."""
    path = weights_file(weights)
    if not path.is_file():
        try:
            _download(weights.url, path)
        except Exception as exc:  # DNS, socket, HTTP, disk: all mean "not available"
            raise BadInput(
                f"ResNet-50 ImageNet weights are not in {path.parent} and could not be downloaded "
                f"({type(exc).__name__}): put {path.name} there, or use --weights PATH, --weights none, "
                "or --model tiny (its pretrained weights ship with tltui)"
            ) from exc
    return path


def _download(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` (atomically, its SHA-256 checked against the prefix in its name): resolve
    the host with a deadline, then connect and read with a timeout on this connection alone. Not
    ``torch.hub.download_url_to_file``: it takes no timeout, and the process-wide default would reach every
    thread of the daemon."""
    host = urlparse(url).hostname or ""
    resolved: list[object] = []

    def resolve() -> None:
        try:
            resolved.append(socket.getaddrinfo(host, 443))
        except OSError as exc:
            resolved.append(exc)

    resolver = threading.Thread(target=resolve, daemon=True)
    resolver.start()
    resolver.join(CONNECT_TIMEOUT_S)
    if not resolved:
        raise TimeoutError(f"cannot resolve {host} in {CONNECT_TIMEOUT_S:g} s")
    if isinstance(resolved[0], Exception):
        raise resolved[0]
    checksum = re.search(r"-([a-f0-9]+)\.", dest.name)  # torchvision names files name-<sha256 prefix>.pth

    def fetch(file: BinaryIO) -> None:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=READ_TIMEOUT_S) as response:
            while chunk := response.read(2**20):
                digest.update(chunk)
                file.write(chunk)
        if checksum and not digest.hexdigest().startswith(checksum.group(1)):
            raise ValueError(f"{url}: the download's SHA-256 is not {checksum.group(1)}...")

    dest.parent.mkdir(parents=True, exist_ok=True)
    files.write_atomic(dest, fetch)


def _load_file(path: Path, what: str = "--weights ") -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BadInput(f"{what}{path}: not a loadable state_dict ({type(exc).__name__})") from exc
    for key in ("state_dict", "model"):  # common wrappers around a state_dict
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInput(f"{what}{path}: not a state_dict (a dict of tensors)")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _load_backbone(model: ResNet, state: dict[str, torch.Tensor], num_classes: int, source: str,
                   label: str, load: bool = True) -> list[str]:
    """Load ``state`` (with ``load`` False, only check that it would load); a head of another shape is
    dropped and the new one kept. Returns notes."""
    notes = []
    head = state.get("fc.weight")
    if head is not None and tuple(head.shape) != (num_classes, model.fc.in_features):
        notes.append(f"the weights' head has {head.shape[0]} classes: replaced by a new {num_classes}-class head")
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    problem = _problems(model.state_dict(), state, head_optional=True)
    if problem:
        raise BadInput(f"--weights {source}: not a {label} state_dict ({problem})")
    if load:
        model.load_state_dict(state, strict=False)
    return notes
