"""Pictures for the lessons' widgets, computed from the real pipeline and the real weights.

- ``gallery``: one training image through the training transforms (``augment.BatchTransform``, as
  ``train.Trainer`` builds it), its ImageNet normalisation, and a drawn "6" flipped upside down;
- ``filters``: conv1's filters, each scaled to its own min..max (``(w - min) / (max - min)``, RGB = the
  filter's three input channels), as in lesson 2's code;
- ``activations``: the most active channels of each backbone group for one built-in validation image,
  each map scaled to its own maximum and coloured;
- ``feature_walk``: one built-in validation image through the frozen backbone: its pooled features and
  the class scores of a linear head fitted here on the built-in training images' features (the boundary
  cache's ``cache.build``).

Everything runs on the CPU, in eval mode under ``inference_mode``, so a run training on the GPU is not
disturbed. Random draws (the gallery's variants, random weights) come from torch's global generator,
as in training, seeded per request inside ``fork_rng``, which restores the worker's stream afterwards.
Bad parameters raise BadInput with one line.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torchvision.models import ResNet

from tltui.core import datasets as named
from tltui.core.errors import BadInput
from tltui.core.groups import BACKBONE
from tltui.core.protocol.config import AUGMENTS, MAX_SEED, MODELS, RunConfig
from tltui.core.protocol.replies import (
    ActivationsReply,
    ChannelStats,
    FiltersReply,
    GalleryReply,
    GroupMaps,
    Picture,
    WalkReply,
)
from tltui.core.protocol.requests import Activations, FeatureWalk, Filters, Gallery, Request
from tltui.engine import builtin, cache, data as datasets, device as devices, model as net
from tltui.engine.augment import MEAN, STD, BatchTransform

CPU = torch.device("cpu")
NORMALISED_RANGE = 2.7
"""The normalised image is shown with each channel's ``[-2.7, 2.7]`` mapped to ``[0, 255]`` (0, the ImageNet
mean, is mid-grey): every value a [0, 1] pixel can take after Normalize lies inside."""
SPLIT = RunConfig().val_fraction
"""The images are split as a run with default settings splits them (the gallery shows training images)."""
RANDOM_SEED = 0
"""Seed of the random weights (``weights="none"``), so "random" is the same picture every time."""
WALK_PER_CLASS = 40
"""Built-in training images per class the walk's head is fitted on."""
WALK_STEPS = 100
WALK_WEIGHT_DECAY = 1e-3
_HEAT = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], np.float32)
"""An inferno-like colour ramp for activation maps: 0 black, the map's maximum pale yellow."""

_rng_lock = threading.Lock()
_cache_lock = threading.Lock()


def answer(request: Request) -> Any:
    """The reply to one of ``PICTURE_REQUESTS`` (core/protocol/requests.py)."""
    handlers: dict[type, Callable[[Any], Any]] = {
        Gallery: gallery, Filters: filters, Activations: activations, FeatureWalk: feature_walk,
    }
    return handlers[type(request)](request)


# ----------------------------------------------------------------------------------------------
# The augmentation gallery


def gallery(request: Gallery) -> GalleryReply:
    _check_range("count", request.count, 1, 8)
    _check_range("seed", request.seed, 0, MAX_SEED)
    _check_range("image_size", request.image_size, 16, 256)
    _check_range("display", request.display, 4, 64)
    for aug in request.augment:
        if aug not in AUGMENTS:
            raise BadInput(f"unknown augmentation {aug!r}: choose from {', '.join(AUGMENTS)}")
    augment = tuple(a for a in AUGMENTS if a in request.augment)
    stored, plain, label, index, source = training_image(request.data, request.index, request.image_size, augment)
    transform = BatchTransform(request.image_size, augment, CPU)
    with _seeded(request.seed), torch.inference_mode():
        variants = transform(stored.expand(request.count, -1, -1, -1), train=True)
        normalised = transform(plain[None], train=False)[0]
    before = plain.float() / 255
    digit = _six(request.image_size)

    def show(x: torch.Tensor, text: str) -> Picture:
        return picture(x, request.display, text)

    return GalleryReply(
        source=source, label=label, index=index, augment=list(augment), image_size=request.image_size,
        original=show(before, "original"),
        variants=[show(denormalise(v), f"variant {i + 1}") for i, v in enumerate(variants)],
        normalised=picture(((normalised + NORMALISED_RANGE) / (2 * NORMALISED_RANGE)).clamp(0, 1),
                           request.display, "network input"),
        before=_stats(before), after=_stats(normalised),
        digit=show(digit, 'a "6" (label 6)'), digit_flipped=show(digit.flip(-2), "v-flip breaks it"),
    )


def training_image(data: str, index: int, image_size: int, augment: tuple[str, ...]
                   ) -> tuple[torch.Tensor, torch.Tensor, str, int, str]:
    """One training image of ``data`` as the run would store it (``(3, S, S)`` uint8, the larger square
    when random crops are taken), the same image as validation would see it (``(3, s, s)``), its class,
    its index (modulo their number) and a description."""
    if data in named.BUILTIN:
        stored_set = _builtin(data, image_size, "crop" in augment)
        plain_set = _builtin(data, image_size, False)
        count = len(stored_set.train_y)
        index %= count
        label = stored_set.classes[int(stored_set.train_y[index])]
        return (stored_set.train_x[index], plain_set.train_x[index], label, index,
                f"{data} training image {index + 1}/{count}")
    root = Path(data).expanduser()
    if not root.is_dir():
        raise BadInput(f"no such folder: {data} (give a folder of class subfolders, or builtin)")
    train, _ = datasets._folder_lists(root, SPLIT)  # the training split a run would use
    index %= len(train.items)
    path, class_index = train.items[index]
    resize, train_side, val_side = datasets.sides(image_size, augment)
    images = []
    for side in (train_side, val_side):
        array, skipped, _, _ = datasets.decode(path, resize, side)
        if array is None:
            raise BadInput(f"{path}: {skipped}, so a run would skip it too")
        images.append(torch.tensor(array).permute(2, 0, 1).contiguous())
    return images[0], images[1], train.classes[class_index], index, f"{path.name} ({index + 1}/{len(train.items)})"


@functools.lru_cache(maxsize=4)
def _builtin(name: str, image_size: int, crop: bool) -> datasets.ImageData:
    return datasets.load(name, image_size=image_size, augment=("crop",) if crop else (), val_fraction=SPLIT,
                         limit_per_class=0, seed=0)


def denormalise(x: torch.Tensor) -> torch.Tensor:
    """Undo ``Normalize``: the network's input back in [0, 1] pixels."""
    mean = torch.tensor(MEAN).view(3, 1, 1)
    std = torch.tensor(STD).view(3, 1, 1)
    return (x * std + mean).clamp(0, 1)


def _stats(x: torch.Tensor) -> ChannelStats:
    flat = x.double().flatten(1)
    return ChannelStats(mean=[round(v, 4) for v in flat.mean(1).tolist()],
                        std=[round(v, 4) for v in flat.std(1, correction=0).tolist()])


def _six(size: int) -> torch.Tensor:
    """A handwritten-style "6", dark on white, ``(3, size, size)`` in [0, 1]."""
    scale = 4  # drawn large, then averaged down: smooth strokes
    side = size * scale
    image = Image.new("L", (side, side), 255)
    draw = ImageDraw.Draw(image)
    width = max(2, side // 9)
    loop = (side * 0.28, side * 0.45, side * 0.72, side * 0.86)
    draw.ellipse(loop, outline=30, width=width)
    draw.arc((side * 0.28, side * 0.12, side * 1.0, side * 1.1), start=180, end=265, fill=30, width=width)
    image = image.resize((size, size), Image.Resampling.BOX)
    grey = torch.from_numpy(np.asarray(image, np.float32) / 255)
    return grey.expand(3, -1, -1).clone()


# ----------------------------------------------------------------------------------------------
# conv1's filters, activation maps


def filters(request: Filters) -> FiltersReply:
    model, described = backbone(request.model, request.weights)
    weight = model.conv1.weight.detach().float()
    low = weight.amin(dim=(1, 2, 3), keepdim=True)
    high = weight.amax(dim=(1, 2, 3), keepdim=True)
    scaled = (weight - low) / (high - low).clamp_min(1e-12)
    return FiltersReply(
        model=net.LABELS[request.model], weights=described, kernel=weight.shape[-1],
        filters=[picture(f, 0, f"filter {i + 1}") for i, f in enumerate(scaled)],
    )


def activations(request: Activations) -> ActivationsReply:
    _check_range("channels", request.channels, 1, 4)
    _check_range("display", request.display, 4, 32)
    model, described = backbone(request.model, request.weights)
    size = devices.default_image_size(CPU, request.model)
    if request.data == "builtin":
        image, label, index, source = validation_image(size, request.index)
    else:
        _, image, label, index, source = training_image(request.data, request.index, size, ())
    with torch.inference_mode():
        x = BatchTransform(size, (), CPU)(image[None], train=False)
        maps = group_outputs(model, x)
    groups = []
    for group, out in maps.items():
        out = out[0]
        top = out.mean((1, 2)).topk(request.channels).indices.tolist()
        groups.append(GroupMaps(
            group=group, channels=out.shape[0], height=out.shape[1], width=out.shape[2],
            maps=[_heat(out[c], request.display, f"ch {c}") for c in top],
        ))
    return ActivationsReply(model=net.LABELS[request.model], weights=described, image_size=size, index=index,
                            source=source, label=label, image=picture(image.float() / 255, 0, label),
                            groups=groups)


def group_outputs(model: ResNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each backbone group's output for ``x`` (the stem's after its ReLU and max-pool; layer4's before
    the average pool)."""
    out = {"stem": net.forward_until(model, "layer1", x)}
    x = out["stem"]
    for group in BACKBONE[1:]:
        for module in net.group_modules(model, group):
            x = module(x)
        out[group] = x
    return out


def _heat(channel: torch.Tensor, display: int, label: str) -> Picture:
    """One activation map, scaled to its own maximum, coloured, resized to ``display`` px."""
    high = float(channel.max())
    level = (channel / high if high > 0 else torch.zeros_like(channel)).clamp(0, 1)
    resized = _resize(level[None, None], display)[0, 0].numpy()
    position = resized * (len(_HEAT) - 1)
    low = np.minimum(position.astype(int), len(_HEAT) - 2)
    frac = (position - low)[..., None]
    rgb = _HEAT[low] * (1 - frac) + _HEAT[low + 1] * frac
    return _picture(np.rint(rgb).astype(np.uint8), label)


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Nearest-neighbour up (the grid stays visible), area-averaged down."""
    if x.shape[-1] <= size:
        return F.interpolate(x, size=(size, size), mode="nearest")
    return F.adaptive_avg_pool2d(x, size)


# ----------------------------------------------------------------------------------------------
# The feature-extraction walk


def feature_walk(request: FeatureWalk) -> WalkReply:
    _check_range("display", request.display, 4, 64)
    model, described = backbone(request.model, request.weights)
    size = devices.default_image_size(CPU, request.model)
    head = fitted_head(request.model, request.weights, size)
    image, label, index, source = validation_image(size, request.index)
    with torch.inference_mode():
        x = BatchTransform(size, (), CPU)(image[None], train=False)
        features = net.forward_until(model, "head", x)[0]
        scores = head.linear(features).softmax(0)
    return WalkReply(
        model=net.LABELS[request.model], weights=described, image_size=size, index=index, source=source,
        label=label, image=picture(image.float() / 255, request.display, label),
        features=[round(v, 4) for v in features.tolist()], classes=list(builtin.CLASSES),
        scores=[round(v, 4) for v in scores.tolist()], head=head.description,
        train_acc=head.train_acc, val_acc=head.val_acc,
    )


@dataclass(frozen=True)
class _Head:
    linear: torch.nn.Linear
    description: str
    train_acc: float
    val_acc: float


@functools.lru_cache(maxsize=4)
def fitted_head(model_name: str, weights: str, size: int) -> _Head:
    """A linear head fitted (L-BFGS, cross-entropy, weight decay, from zeros: deterministic) on the frozen
    pooled features of ``WALK_PER_CLASS`` built-in training images per class, scored on the validation set."""
    model, _ = backbone(model_name, weights)
    images = datasets.load("builtin", image_size=size, augment=(), val_fraction=SPLIT,
                           limit_per_class=WALK_PER_CLASS, seed=0)
    transform = BatchTransform(size, (), CPU)

    def features(x: torch.Tensor) -> torch.Tensor:
        out = cache.build(model, "head", x, lambda b: transform(b, train=False), batch_size=64,
                          dtype=torch.float32, device=CPU)
        assert out is not None  # None only when told to stop, and nothing tells it
        return out

    train_f, val_f = features(images.train_x), features(images.val_x)
    linear = torch.nn.Linear(train_f.shape[1], len(images.classes))
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=WALK_STEPS, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = F.cross_entropy(linear(train_f), images.train_y) + WALK_WEIGHT_DECAY * linear.weight.square().sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimizer.step(loss)
    linear.requires_grad_(False)
    with torch.inference_mode():
        train_acc = (linear(train_f).argmax(1) == images.train_y).float().mean().item()
        val_acc = (linear(val_f).argmax(1) == images.val_y).float().mean().item()
    description = (f"Linear({train_f.shape[1]}, {len(images.classes)}) fitted by the worker on the frozen "
                   f"features of {len(train_f)} built-in training images")
    return _Head(linear, description, round(train_acc, 4), round(val_acc, 4))


# ----------------------------------------------------------------------------------------------
# Shared pieces


def backbone(name: str, weights: str) -> tuple[ResNet, str]:
    """The backbone in eval mode on the CPU, and a description of its weights (random weights: seed 0)."""
    if name not in MODELS:
        raise BadInput(f"unknown model {name!r}: choose from {', '.join(MODELS)}")
    with _cache_lock:
        return _backbone(name, weights)


@functools.lru_cache(maxsize=4)
def _backbone(name: str, weights: str) -> tuple[ResNet, str]:
    with _seeded(RANDOM_SEED):
        model, described, _ = net.build(name, len(builtin.CLASSES), weights)
    if weights == "none":
        described = f"random (seed {RANDOM_SEED})"
    return model.eval().requires_grad_(False), described


def validation_image(size: int, index: int) -> tuple[torch.Tensor, str, int, str]:
    """A built-in validation image ``(3, size, size)`` uint8, its class, its index (modulo their number), a
    description."""
    images = _builtin("builtin", size, False)
    count = len(images.val_y)
    index %= count
    return (images.val_x[index], images.classes[int(images.val_y[index])], index,
            f"built-in validation image {index + 1}/{count}")


def picture(x: torch.Tensor, display: int, label: str) -> Picture:
    """``(3, H, W)`` in [0, 1] as a Picture, resized to ``display`` px square (0: as it is)."""
    rgb = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    if display and rgb.shape[:2] != (display, display):
        image = Image.fromarray(rgb)
        method = Image.Resampling.NEAREST if display > max(rgb.shape[:2]) else Image.Resampling.BOX
        rgb = np.asarray(image.resize((display, display), method))
    return _picture(rgb, label)


def _picture(rgb: np.ndarray, label: str) -> Picture:
    return Picture(width=rgb.shape[1], height=rgb.shape[0], rgb=rgb.tobytes(), label=label)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Draw from torch's global generator seeded with ``seed``, then give the worker its stream back."""
    with _rng_lock, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _check_range(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise BadInput(f"{name} must be between {low} and {high}, not {value}")
