"""A timm model's validation images are prepared as timm's eval transform prepares them: resized to
``floor(image_size / crop_pct)`` with the model's own ``crop_pct``, then centre-cropped to ``image_size``;
by the engine, in the run's record, and in an exported script."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
import timm
import torch
from PIL import Image
from timm.data.transforms_factory import transforms_imagenet_eval
from torchvision import transforms

from tltui.core.codegen import generate
from tltui.core.protocol.config import RunConfig
from tltui.engine import data, preprocess

CPU = torch.device("cpu")


@pytest.mark.parametrize("name, crop_pct", [("vit_small_patch16_224", 0.9), ("efficientnet_b0", 0.875)])
@pytest.mark.parametrize("size", [0, 64])
def test_the_resize_and_crop_are_timms_eval_transforms(name, crop_pct, size):
    pre = preprocess.resolve(f"timm:{name}", size, CPU)
    with torch.device("meta"):
        model = timm.create_model(name)
    config = timm.data.resolve_data_config({"input_size": (3, size, size)} if size else {}, model=model)
    steps = timm.data.create_transform(**config).transforms
    resize = next(t for t in steps if isinstance(t, transforms.Resize))
    crop = next(t for t in steps if isinstance(t, transforms.CenterCrop))
    assert pre.crop_pct == crop_pct and pre.image_size == (size or 224) == crop.size[0]
    assert pre.resize == resize.size  # 224 / 0.9 = 248.9: 248; 224 / 0.875: 256; 64 / 0.9: 71; 64 / 0.875: 73


def test_the_builtin_backbones_resize_to_size_over_0875():
    pre = preprocess.resolve("tiny", 32, CPU)
    assert (pre.crop_pct, pre.resize) == (0.875, data.sides(32, ())[0]) == (0.875, 37)


@pytest.fixture
def ramp(tmp_path):
    """A folder of two classes with the same picture: red rising left to right, so a crop shows as its range."""
    picture = np.zeros((256, 256, 3), np.uint8)
    picture[..., 0] = np.arange(256, dtype=np.uint8)[None, :]
    picture[..., 1] = 80
    for split in ("train", "val"):
        for kind in ("a", "b"):
            (tmp_path / split / kind).mkdir(parents=True)
            Image.fromarray(picture).save(tmp_path / split / kind / "0.png")
    return tmp_path, Image.fromarray(picture)


def test_the_engines_validation_images_follow_crop_pct_as_timm_and_the_exported_script_do(ramp):
    """crop_pct 0.5 (resize to 64, keep the centre 32): the engine's validation image is timm's eval transform's
    and the exported script's; at the default 0.875 it is visibly another picture."""
    folder, picture = ramp
    pre = msgspec.structs.replace(preprocess.resolve("timm:test_vit", 32, CPU), crop_pct=0.5, resize=64)

    def engine(val_resize: int) -> torch.Tensor:
        return data.load(str(folder), image_size=32, augment=(), val_fraction=0.2, limit_per_class=0, seed=0,
                         interpolation="bicubic", val_resize=val_resize).val_x[0].float() / 255

    timms = transforms_imagenet_eval(img_size=32, crop_pct=0.5, interpolation="bicubic", mean=(0, 0, 0),
                                     std=(1, 1, 1))(picture)
    config = RunConfig(data=str(folder), image_size=32, augment=(), batch_size=2, model="timm:test_vit",
                       weights="none")
    script = {"__name__": "script"}
    exec(generate(config, pre=pre), script)
    assert script["CROP_PCT"] == 0.5
    scripted = script["loaders"]()[1].dataset[0][0] * 0.5 + 0.5  # test_vit's mean and std are 0.5
    cropped = engine(pre.resize)
    assert cropped.shape == timms.shape == scripted.shape == (3, 32, 32)
    assert (cropped - timms).abs().mean() < 0.01 and (scripted - timms).abs().mean() < 0.01
    assert 0.22 < cropped[0, :, 0].mean() < 0.28  # its left edge: the picture's quarter mark (64 of 256)
    assert engine(0)[0, :, 0].mean() < 0.1  # the training images' resize, 37, keeps 32 / 37 of the picture
    assert (engine(0)[0] - timms[0]).abs().mean() > 0.05
