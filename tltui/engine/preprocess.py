"""How a run prepares its images for its backbone: a timm model's own mean, std, input side and
interpolation (timm's data config), ImageNet's statistics for the built-in ResNets."""

from __future__ import annotations

import math

import msgspec
import torch

from tltui.core import backbones
from tltui.core.backbones import Preprocessing
from tltui.engine import data as datasets, device as devices, timm_backbone


def resolve(model: str, image_size: int, device: torch.device) -> Preprocessing:
    """``model``'s preprocessing at ``image_size`` (0: the model's own side, or the device's default), with
    the side its validation images are resized to before the centre crop."""
    if backbones.is_timm(model):
        pre = timm_backbone.preprocessing(model, image_size)
        return msgspec.structs.replace(pre, resize=math.floor(pre.image_size / pre.crop_pct))
    size = image_size or devices.default_image_size(device, model)
    return Preprocessing(image_size=size, resize=datasets.sides(size, ())[0])


def describe(pre: Preprocessing) -> str:
    """One line for the run's notes: what the images are normalised and resized with, and from where."""
    mean, std = (", ".join(f"{v:.3f}" for v in values) for values in (pre.mean, pre.std))
    line = (f"preprocessing from {pre.source}: mean ({mean}), std ({std}), {pre.image_size} px, "
            f"{pre.interpolation} resize; validation images resized to {pre.resize} px, centre {pre.image_size} px "
            f"cropped (crop_pct {pre.crop_pct:g})")
    return f"{line}; {pre.note}" if pre.note else line
