"""Does a horizontal flip change what a picture means here? Measured before training with flips.

Digits and text are not mirror-symmetric: a mirrored 3 is no 3, and training with random horizontal
flips teaches the network that it is. The check: classify the validation images by the nearest class
mean of the frozen backbone's pooled features (the class means from the training images, as they are),
then the same images mirrored. Where left and right do not matter, the mirrored images are recognised
about as often; where they do, far less often. Measured here (tiny backbone, 10 and 50 per class):
builtin and builtin-shifted within 3 points either way, the UCI digits 26 to 29 points lower.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tltui.engine import model as net
from tltui.engine.augment import BatchTransform

MOST = 1000
"""Images per split the check looks at (a subsample beyond that): it costs two forward passes of them."""
DROP = 0.08
"""The least fall in accuracy that warns (and at least twice its standard error)."""


def warning(model: torch.nn.Module, transform: BatchTransform, train_x: torch.Tensor, train_y: torch.Tensor,
            val_x: torch.Tensor, val_y: torch.Tensor, batch_size: int = 64) -> str:
    """One line if mirrored validation images are recognised clearly less often than as they are, else ''."""
    train_x, train_y, val_x, val_y = (t[:MOST] for t in (train_x, train_y, val_x, val_y))
    classes = int(train_y.max()) + 1
    was_training = model.training
    model.eval()
    try:
        features = _features(model, transform, train_x, batch_size)
        train_y = train_y.to(features.device)
        means = F.normalize(torch.stack([features[train_y == c].mean(0) if (train_y == c).any()
                                         else torch.zeros_like(features[0]) for c in range(classes)]), dim=1)
        plain = _accuracy(_features(model, transform, val_x, batch_size), means, val_y)
        mirrored = _accuracy(_features(model, transform, val_x.flip(-1), batch_size), means, val_y)
    finally:
        model.train(was_training)
    error = math.sqrt(2 * max(plain * (1 - plain), 1e-3) / len(val_y))
    if plain - mirrored < max(DROP, 2 * error):
        return ""
    return (f"mirrored validation images are recognised far less often ({mirrored:.0%} against {plain:.0%}, nearest "
            f"class mean of the frozen features): left and right matter here (digits, text?), so horizontal flips "
            f"teach the wrong thing; try --augment crop")


def _features(model: torch.nn.Module, transform: BatchTransform, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    device = next(model.parameters()).device
    with torch.inference_mode():
        parts = [net.forward_until(model, "head", transform(images[i:i + batch_size].to(device), train=False))
                 for i in range(0, len(images), batch_size)]
    return F.normalize(torch.cat(parts).flatten(1).float(), dim=1)


def _accuracy(features: torch.Tensor, means: torch.Tensor, labels: torch.Tensor) -> float:
    return ((features @ means.T).argmax(1) == labels.to(features.device)).float().mean().item()
