"""A timm model's validation images are prepared as timm's eval transform prepares them: resized to
``floor(image_size / crop_pct)`` with the model's own ``crop_pct``, then centre-cropped to ``image_size``;
by the engine, in the run's record, and in an exported script."""

from __future__ import annotations

from pathlib import Path

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
from tltui.core.protocol.events import TopLoss
from tltui.engine import data, diagnose, loss_pictures, preprocess, train

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


# -- diagnose and the loss pictures: what they evaluate and show is what tltui train evaluates -------------


def numbered(i: int) -> Image.Image:
    """Picture ``i``, 128 x 160: red rising left to right (a crop shows as its range), green ``10 + 20 i`` (it
    survives any resize: the picture is found again by it), blue a smooth pattern of its own (no two pictures
    near-duplicates)."""
    array = np.zeros((128, 160, 3), np.uint8)
    array[..., 0] = np.linspace(0, 255, 160).astype(np.uint8)[None, :]
    array[..., 1] = 10 + 20 * i
    low = np.random.default_rng(i).integers(0, 256, (4, 5), dtype=np.uint8)
    array[..., 2] = np.asarray(Image.fromarray(low).resize((160, 128), Image.Resampling.BICUBIC))
    return Image.fromarray(array)


def number(image: torch.Tensor) -> int:
    return (int(image[1].float().mean().round()) - 10) // 20


def folder_of(root, layout: str) -> tuple[str, list[Image.Image]]:
    """Two classes of numbered pictures: in ``train/`` and ``val/`` (``own val``), or in one folder."""
    parts = {"own val": (("train", 4), ("val", 2)), "one folder": (("", 6),)}[layout]
    pictures = []
    for part, count in parts:
        for kind in ("a", "b"):
            (root / part / kind).mkdir(parents=True)
            for _ in range(count):
                pictures.append(numbered(len(pictures)))
                pictures[-1].save(root / part / kind / f"{len(pictures) - 1}.png")
    return str(root), pictures


def timms_eval(picture: Image.Image, crop_pct: float) -> torch.Tensor:
    return transforms_imagenet_eval(img_size=32, crop_pct=crop_pct, interpolation="bicubic", mean=(0, 0, 0),
                                    std=(1, 1, 1))(picture)


def distance(image: torch.Tensor, picture: Image.Image, crop_pct: float = 0.5) -> float:
    """Mean absolute difference, on [0, 1], between a uint8 image and timm's eval transform of ``picture``."""
    return float((image.float() / 255 - timms_eval(picture, crop_pct)).abs().mean())


@pytest.fixture
def crop_pct_half(monkeypatch):
    """timm's test_vit (crop_pct 0.95) resolved with crop_pct 0.5 instead: resize to 64, keep the centre 32."""
    real = preprocess.resolve

    def half(model, size, device):
        return msgspec.structs.replace(real(model, size, device), crop_pct=0.5, resize=64)

    monkeypatch.setattr(preprocess, "resolve", half)
    return half("timm:test_vit", 32, CPU)


@pytest.mark.parametrize("layout", ["own val", "one folder"])
def test_diagnose_scores_a_timm_models_held_out_images_as_timms_eval_transform_prepares_them(
        tmp_path, monkeypatch, crop_pct_half, layout):
    """crop_pct 0.5: each fold's runs validate, and k-NN and the probe query, images equal to timm's eval
    transform of their pictures; with ``val/``, the recommended command's held-out images too. The folds'
    training part is still cut from the stored training squares (visibly another crop)."""
    folder, pictures = folder_of(tmp_path / "data", layout)
    validated, built = _diagnosed(folder, "timm:test_vit", monkeypatch, tmp_path)
    assert len(validated) >= 2 and all(len(x) for x in validated)
    for x in validated:  # every run's validation images: the folds', then (own val) the held-out command's
        assert all(distance(image, pictures[number(image)]) < 0.01 for image in x)
    assert len(built) == 4  # pretrained and random features, each in the training and the evaluated view
    for train_view, held_view in (built[:2], built[2:]):
        assert len(train_view) == len(held_view) == (8 if layout == "own val" else 12)
        assert all(distance(image, pictures[number(image)]) < 0.01 for image in held_view)
        assert all(distance(image, pictures[number(image)]) > 0.05 for image in train_view)
    if layout == "own val":
        assert sorted(number(image) for image in validated[-1]) == list(range(8, 12))


@pytest.mark.parametrize("layout", ["own val", "one folder"])
def test_diagnoses_evaluated_view_is_each_pool_images_own_picture_under_a_per_class_limit(tmp_path, layout):
    """The second decoding (crop_pct 0.5's 64 px) keeps the pool's order and its --limit-per-class subset."""
    folder, pictures = folder_of(tmp_path / "data", layout)
    config = diagnose.check(RunConfig(data=folder, model="tiny", image_size=32, limit_per_class=3, augment=()))
    pool = diagnose.load(config, "bicubic", 64)
    assert pool.x_eval is not None and len(pool.x_eval) == len(pool.y) == 6
    assert [number(image) for image in pool.evaluated(32)] == [number(image) for image in pool.x]
    assert all(distance(image, pictures[number(image)]) < 0.01 for image in pool.evaluated(32, [0, 5]))
    assert torch.equal(pool.x, diagnose.load(config, "bicubic").x)


@pytest.mark.parametrize("layout", ["own val", "one folder"])
def test_diagnose_of_the_tiny_resnet_still_scores_the_centre_of_the_stored_squares(tmp_path, monkeypatch, layout):
    """Its resize is the training images' (size / 0.875): no second view; each fold's runs validate the centre
    of the pool's stored squares, and k-NN and the probe read one set of features of them."""
    folder, _ = folder_of(tmp_path / "data", layout)
    validated, built = _diagnosed(folder, "tiny", monkeypatch, tmp_path)
    config = diagnose.check(RunConfig(data=folder, model="tiny", weights="none", image_size=32, device="cpu"))
    pool = diagnose.load(config)
    assert pool.x_eval is None
    stored = {number(image): image for image in data.centre(pool.x, 32)}
    folds = validated[:-1] if layout == "own val" else validated
    assert len(folds) >= 2 and all(torch.equal(image, stored[number(image)]) for x in folds for image in x)
    assert len(built) == 2 and all(torch.equal(x, data.centre(pool.x, 32)) for x in built)


def _diagnosed(folder: str, model: str, monkeypatch, tmp_path) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Diagnose ``folder`` with the network's training faked: the validation images of every run it trains,
    and the images of every frozen-feature pass."""
    from tltui.engine import cache, diagnose as diagnosing

    validated: list[torch.Tensor] = []
    built: list[torch.Tensor] = []
    build = cache.build

    def spy(model, cut, x, *args, **kwargs):
        built.append(x.clone())
        return build(model, cut, x, *args, **kwargs)

    def trained(self, prep):
        validated.append(prep.data.val_x.clone())
        return 0.5

    monkeypatch.setattr(cache, "build", spy)
    monkeypatch.setattr(diagnosing.Diagnoser, "_train", trained)
    monkeypatch.setattr(diagnosing.Diagnoser, "_time", lambda self, fold, epochs: (0.01, 0.01, 0.0, 0.0))
    config = RunConfig(data=folder, model=model, weights="none", image_size=32, device="cpu")
    events: list = []
    diagnosing.run(config, 600, tmp_path / "run", lambda kind, **fields: events.append(kind), lambda: False)
    assert events[-1].__name__ == "Diagnosis"
    return validated, built


def _loss(index: int, path: str) -> TopLoss:
    return TopLoss(index=index, path=path, true="a", predicted="b", probability=0.9, true_probability=0.1, loss=2.3)


def test_the_loss_pictures_show_a_timm_runs_validation_images_as_it_evaluated_them(tmp_path, crop_pct_half):
    """crop_pct 0.5, recorded in the run's preprocessing: each top loss's picture is the very image the run
    validated, timm's eval transform of its file; a run recorded without it (an older tltui) is shown as then."""
    folder, pictures = folder_of(tmp_path / "data", "own val")
    config = train.check(RunConfig(data=folder, model="timm:test_vit", weights="none", image_size=32, epochs=1))
    validated = train.prepare(config).data
    assert len(validated.val_paths) == 4
    for index, path in enumerate(validated.val_paths):
        shown = loss_pictures.validation_image(config, _loss(index, path), 32, crop_pct_half)
        assert torch.equal(shown, validated.val_x[index])
        assert distance(shown, pictures[number(shown)]) < 0.01
        older = loss_pictures.validation_image(config, _loss(index, path), 32)
        assert torch.equal(older, torch.from_numpy(data.decode(Path(path), 37, 32)[0]).permute(2, 0, 1))
        assert distance(older, pictures[number(older)]) > 0.05
    (picture,) = loss_pictures.loss_pictures(config, [_loss(0, validated.val_paths[0])], 32, crop_pct_half)
    assert picture.label == "a → b 90%" and (picture.width, picture.height) == (32, 32)
    assert picture.rgb == validated.val_x[0].permute(1, 2, 0).numpy().tobytes()


@pytest.mark.parametrize("model", ["timm:test_vit", "tiny"])
def test_the_loss_pictures_of_a_builtin_set_are_the_runs_validation_images(model, request):
    """The built-in set is rendered again: at a timm model's recorded side (crop_pct 0.5) and filter it is the
    run's own validation set, not what a run recorded without them showed; a tiny run's is what it showed."""
    pre = request.getfixturevalue("crop_pct_half") if model != "tiny" else preprocess.resolve("tiny", 32, CPU)
    config = train.check(RunConfig(data="builtin", model=model, weights="none", image_size=32, limit_per_class=2,
                                   epochs=1))
    validated = train.prepare(config).data
    for index in (0, 7):
        loss = _loss(index, validated.val_paths[index])
        assert torch.equal(loss_pictures.validation_image(config, loss, 32, pre), validated.val_x[index])
        older = loss_pictures.validation_image(config, loss, 32)
        assert torch.equal(older, validated.val_x[index]) == (model == "tiny")
