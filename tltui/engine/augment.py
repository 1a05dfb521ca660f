"""Batched input transforms on the training device: uint8 images in, normalised float tensors out.

The usual per-image torchvision transforms, done for a whole batch at once (on the GPU when there is
one), so the data path never limits the step rate:

- ``crop``: RandomResizedCrop(size, scale=(0.25, 1), ratio=(3/4, 4/3)) of the stored square, bilinear;
- ``flip``: RandomHorizontalFlip(p=0.5);
- ``color``: ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.05).

Validation images (and training images with no augmentation) are stored already resized and
centre-cropped, so they only need the normalisation: ImageNet's statistics, or a timm model's own.

Not ``kornia.augmentation``: on the same transforms and distributions it took 1.36x our time (765 vs 561 ms
for 120 images, 256 -> 224 px, 2 CPU threads; ``benchmarks/augment.py``, not yet run on a GPU).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
CROP_SCALE = (0.25, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
CROP_TRIES = 10
JITTER = 0.2
HUE = 0.05
_GREY = (0.299, 0.587, 0.114)
_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
_FROM_YIQ = torch.linalg.inv(_TO_YIQ)


class BatchTransform:
    """Turn a uint8 batch ``(B, 3, S, S)`` into the network's input ``(B, 3, size, size)``."""

    def __init__(self, size: int, augment: tuple[str, ...] | frozenset[str], device: torch.device,
                 channels_last: bool = False, mean: tuple[float, ...] = MEAN, std: tuple[float, ...] = STD) -> None:
        self.size = size
        self.augment = frozenset(augment)
        self.channels_last = channels_last
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)

    def __call__(self, images: torch.Tensor, train: bool) -> torch.Tensor:
        x = images.float().div_(255)
        if train:
            x = self.geometry(x)
            if "color" in self.augment:
                x = color_jitter(x)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def geometry(self, x: torch.Tensor) -> torch.Tensor:
        crop, flip = "crop" in self.augment, "flip" in self.augment
        if crop:
            return random_resized_crop(x, self.size, flip)
        if flip:
            mirrored = torch.rand(x.shape[0], device=x.device) < 0.5
            return torch.where(mirrored.view(-1, 1, 1, 1), x.flip(-1), x)
        return x


def random_resized_crop(x: torch.Tensor, size: int, flip: bool) -> torch.Tensor:
    """A random crop of each image, resized to ``size``: area share and aspect ratio drawn as torchvision's
    RandomResizedCrop draws them (up to ``CROP_TRIES`` draws, the first that fits; else the whole image)."""
    n, device = x.shape[0], x.device
    area = torch.empty(n, CROP_TRIES, device=device).uniform_(*CROP_SCALE)
    log_ratio = torch.empty(n, CROP_TRIES, device=device).uniform_(math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1]))
    ratio = log_ratio.exp()
    widths, heights = (area * ratio).sqrt(), (area / ratio).sqrt()  # as shares of the side
    fits = (widths <= 1) & (heights <= 1)
    first = fits.int().argmax(1, keepdim=True)  # the first draw that fits (0 when none does)
    whole = ~fits.any(1)
    width = widths.gather(1, first).squeeze(1).masked_fill_(whole, 1.0)
    height = heights.gather(1, first).squeeze(1).masked_fill_(whole, 1.0)
    cx = (torch.rand(n, device=device) * 2 - 1) * (1 - width)
    cy = (torch.rand(n, device=device) * 2 - 1) * (1 - height)
    sign = torch.where(torch.rand(n, device=device) < 0.5, -1.0, 1.0) if flip else torch.ones(n, device=device)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = width * sign
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = height
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def color_jitter(x: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast, saturation and hue, each image its own random factors; x in [0, 1]."""
    n, device = x.shape[0], x.device

    def factor(spread: float) -> torch.Tensor:
        return torch.empty(n, 1, 1, 1, device=device).uniform_(1 - spread, 1 + spread)

    weights = torch.tensor(_GREY, device=device).view(1, 3, 1, 1)
    x = (x * factor(JITTER)).clamp_(0, 1)
    mean = (x * weights).sum(1, keepdim=True).mean((2, 3), keepdim=True)
    x = ((x - mean) * factor(JITTER) + mean).clamp_(0, 1)
    grey = (x * weights).sum(1, keepdim=True)
    x = ((x - grey) * factor(JITTER) + grey).clamp_(0, 1)
    return hue_rotate(x, torch.empty(n, device=device).uniform_(-HUE, HUE) * 2 * math.pi).clamp_(0, 1)


def hue_rotate(x: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate each image's hue by ``angle`` radians: a rotation of the chroma plane in YIQ space."""
    cos, sin = angle.cos(), angle.sin()
    rotation = torch.zeros(angle.shape[0], 3, 3, device=x.device)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2] = cos, -sin
    rotation[:, 2, 1], rotation[:, 2, 2] = sin, cos
    matrix = _FROM_YIQ.to(x.device) @ rotation @ _TO_YIQ.to(x.device)  # (n, 3, 3)
    return torch.einsum("nij,njhw->nihw", matrix, x)
