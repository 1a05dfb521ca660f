"""The batched input transforms: normalisation, random crops, flips and colour jitter."""

from __future__ import annotations

import math

import torch
from torchvision.transforms import RandomResizedCrop

from tltui.engine.augment import (
    CROP_RATIO,
    CROP_SCALE,
    MEAN,
    STD,
    BatchTransform,
    color_jitter,
    hue_rotate,
    random_resized_crop,
)

CPU = torch.device("cpu")


def images(n: int = 8, side: int = 20) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, side, side), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def normalised(x: torch.Tensor) -> torch.Tensor:
    return (x.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def test_validation_is_only_the_imagenet_normalisation():
    x = images()
    torch.testing.assert_close(BatchTransform(20, ("crop", "flip", "color"), CPU)(x, train=False), normalised(x))
    torch.testing.assert_close(BatchTransform(20, (), CPU)(x, train=True), normalised(x))


def test_flip_mirrors_some_images_and_keeps_the_others():
    torch.manual_seed(0)
    x = images(32)
    out = BatchTransform(20, ("flip",), CPU)(x, train=True)
    same = (out == normalised(x)).flatten(1).all(1)
    mirrored = (out == normalised(x.flip(-1))).flatten(1).all(1)
    assert bool((same | mirrored).all()) and 0 < int(mirrored.sum()) < 32


def test_random_crops_come_out_at_the_training_size_and_differ():
    torch.manual_seed(0)
    x = images(4, side=37).repeat(2, 1, 1, 1)
    out = BatchTransform(32, ("crop",), CPU)(x, train=True)
    assert out.shape == (8, 3, 32, 32)
    assert not torch.allclose(out[:4], out[4:])  # the same images, cropped differently
    low, high = normalised(torch.zeros(1, 3, 1, 1)), normalised(torch.full((1, 3, 1, 1), 255))
    assert bool((out >= low - 1e-5).all() and (out <= high + 1e-5).all())


def test_crop_sizes_are_drawn_as_torchvisions_random_resized_crop():
    torch.manual_seed(0)
    n, side = 4000, 64
    ramp = torch.linspace(0, 1, side)
    x = torch.stack([ramp.view(1, -1).expand(side, side), ramp.view(-1, 1).expand(side, side)]).expand(n, 2, side, side)
    out = random_resized_crop(x, side, flip=False)
    # Each output's ramps show the share of the width and the height its crop kept.
    ours = torch.stack([out[:, 0, :, -1].mean(1) - out[:, 0, :, 0].mean(1),
                        out[:, 1, -1, :].mean(1) - out[:, 1, 0, :].mean(1)], 1) * side / (side - 1)
    boxes = [RandomResizedCrop.get_params(torch.empty(1, 1000, 1000), list(CROP_SCALE), list(CROP_RATIO))
             for _ in range(n)]
    reference = torch.tensor([[w / 1000, h / 1000] for _, _, h, w in boxes])
    quantiles = torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95])
    for measure in (lambda s: s[:, 0], lambda s: s[:, 1], lambda s: s.prod(1)):  # width, height, area
        torch.testing.assert_close(torch.quantile(measure(ours), quantiles),
                                   torch.quantile(measure(reference), quantiles), atol=0.03, rtol=0)


def test_colour_jitter_stays_in_range_and_a_full_hue_turn_is_identity():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 6, 6)
    jittered = color_jitter(x)
    assert jittered.min() >= 0 and jittered.max() <= 1 and not torch.allclose(jittered, x)
    torch.testing.assert_close(hue_rotate(x, torch.full((16,), 2 * math.pi)), x, atol=1e-5, rtol=0)
    grey = x.mean(1, keepdim=True).expand(-1, 3, -1, -1)
    torch.testing.assert_close(hue_rotate(grey, torch.full((16,), 1.0)), grey, atol=1e-5, rtol=0)
