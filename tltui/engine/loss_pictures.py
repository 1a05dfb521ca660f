"""The pictures of a finished run's top losses: each validation image as the run's validation saw it.

The worker passes the run's stored config and its error analysis (``TopLoss`` items), never a path a
client sent: a file of the user's is decoded from its path, a built-in image is rendered again from the
run's seed and split, a named dataset's is read from its validation set by index. Each is resized and
cropped as the run's recorded preprocessing says (``Started.preprocessing``: a timm model's filter and its
``crop_pct``'s side); a run recorded without them shows its images as tltui did then (bilinear,
``size / 0.875``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

from tltui.core import datasets as named, paths
from tltui.core.backbones import Preprocessing
from tltui.core.errors import BadInput
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import TopLoss
from tltui.core.protocol.replies import Picture
from tltui.engine import data as datasets, device as devices
from tltui.engine.pictures import picture

MIN_DISPLAY, MAX_DISPLAY = 8, 64
GONE_GREY = 0.35


def loss_pictures(config: RunConfig, losses: list[TopLoss], display: int,
                  pre: Preprocessing | None = None) -> list[Picture]:
    """One picture per top loss, ``display`` px square, captioned ``true → predicted p``; ``pre``: the run's
    recorded preprocessing (None: a run recorded without it)."""
    if not MIN_DISPLAY <= display <= MAX_DISPLAY:
        raise BadInput(f"display must be between {MIN_DISPLAY} and {MAX_DISPLAY}, not {display}")
    size = (pre.image_size if pre and pre.image_size else
            config.image_size or devices.default_image_size(torch.device("cpu"), config.model))
    shown = []
    for loss in losses:
        caption = f"{loss.true} → {loss.predicted} {loss.probability:.0%}"
        try:
            image = validation_image(config, loss, size, pre).float() / 255
        except BadInput as why:
            image, caption = torch.full((3, size, size), GONE_GREY), f"cannot show: {why}"
        shown.append(picture(image, display, caption))
    return shown


def validation_image(config: RunConfig, loss: TopLoss, size: int, pre: Preprocessing | None = None) -> torch.Tensor:
    """The validation image ``loss`` names, ``(3, size, size)`` uint8, resized and cropped as ``pre`` says;
    BadInput if it cannot be read now."""
    resize, _, side = datasets.sides(size, ())
    resize = pre.resize if pre and pre.resize else resize
    interpolation = pre.interpolation if pre else "bilinear"
    if config.data in named.BUILTIN:
        images = _builtin(config.data, size, config.val_fraction, config.seed, resize, interpolation)
        if not 0 <= loss.index < len(images.val_y) or images.val_paths[loss.index] != loss.path:
            raise BadInput(f"{loss.path} is not in the built-in validation set")
        return images.val_x[loss.index]
    name, _, index = loss.path.partition(":val/")
    if name in named.DOWNLOADED and index.isdigit():
        try:
            val_set = datasets._make(name, paths.datasets_dir())[-1]
            image = val_set[int(index)][0]
        except (RuntimeError, IndexError, OSError):
            raise BadInput(f"{loss.path} can no longer be read") from None
        return _tensor(datasets._resize_crop(image.convert("RGB"), resize, side, interpolation))
    path = Path(loss.path)
    if not path.is_file():
        raise BadInput(f"{path.name} is no longer there")
    array, skipped, _, _ = datasets.decode(path, resize, side, interpolation)
    if array is None:
        raise BadInput(f"{path.name} is {skipped}")
    return _tensor(array)


@functools.lru_cache(maxsize=2)
def _builtin(name: str, size: int, val_fraction: float, seed: int, resize: int, interpolation: str
             ) -> datasets.ImageData:
    return datasets.load(name, image_size=size, augment=(), val_fraction=val_fraction, limit_per_class=0, seed=seed,
                         interpolation=interpolation, val_resize=resize)


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(array)).permute(2, 0, 1).contiguous()
