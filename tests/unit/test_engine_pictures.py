"""The pictures the worker computes for the lessons (tltui/engine/pictures.py), checked against the
training pipeline and the models themselves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tltui.core.errors import BadInput
from tltui.core.groups import BACKBONE, GROUPS
from tltui.core.protocol.replies import GalleryReply, Picture
from tltui.core.protocol.requests import Activations, FeatureWalk, Filters, Gallery
from tltui.engine import model as net, pictures
from tltui.engine.augment import MEAN, STD, BatchTransform

CPU = torch.device("cpu")
SIZE = 32


def gallery(**fields) -> GalleryReply:
    fields = {"image_size": SIZE, "display": SIZE, "count": 8, **fields}
    return pictures.answer(Gallery(id=1, **fields))


def array(picture: Picture) -> np.ndarray:
    return np.frombuffer(picture.rgb, np.uint8).reshape(picture.height, picture.width, 3)


def as_picture(x: torch.Tensor) -> np.ndarray:
    """A [0, 1] image tensor as the worker sends it (no resize)."""
    return array(pictures.picture(x, 0, ""))


def test_flip_alone_gives_the_image_or_its_mirror_and_both_happen():
    seen = set()
    for seed in range(3):
        reply = gallery(augment=("flip",), seed=seed, index=5)
        original = array(reply.original)
        for variant in map(array, reply.variants):
            mirrored = np.array_equal(variant, original[:, ::-1])
            assert mirrored or np.array_equal(variant, original)
            seen.add(mirrored)
    assert seen == {True, False}


def test_no_augmentation_gives_the_validation_transform_output():
    reply = gallery(augment=(), index=7)
    _, plain, _, _, _ = pictures.training_image("builtin", 7, SIZE, ())
    expected = as_picture(pictures.denormalise(BatchTransform(SIZE, (), CPU)(plain[None], train=False)[0]))
    assert all(np.array_equal(array(v), expected) for v in reply.variants)
    assert np.array_equal(array(reply.original), expected)


def test_variants_are_the_training_transform_with_the_seed():
    augment = ("crop", "flip", "color")
    reply = gallery(augment=augment, seed=4, index=2, count=3)
    stored, _, _, _, _ = pictures.training_image("builtin", 2, SIZE, augment)
    assert stored.shape[-1] > SIZE  # random crops are taken from the larger stored square, as in a run
    with torch.random.fork_rng():
        torch.manual_seed(4)
        expected = BatchTransform(SIZE, augment, CPU)(stored.expand(3, -1, -1, -1), train=True)
    for variant, x in zip(reply.variants, expected, strict=True):
        assert np.array_equal(array(variant), as_picture(pictures.denormalise(x)))
    assert len({v.rgb for v in reply.variants}) == 3
    assert reply.augment == list(augment)


def test_the_worker_stream_is_given_back():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    gallery(seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_normalisation_stats_and_the_normalised_picture():
    reply = gallery(augment=(), index=11)
    x = array(reply.original).astype(np.float64) / 255
    assert reply.before.mean == pytest.approx(x.mean((0, 1)), abs=1e-4)
    assert reply.before.std == pytest.approx(x.std((0, 1)), abs=1e-4)
    assert reply.after.mean == pytest.approx((x.mean((0, 1)) - MEAN) / STD, abs=1e-3)
    assert reply.after.std == pytest.approx(x.std((0, 1)) / STD, abs=1e-3)
    normalised = (x - MEAN) / STD
    shown = np.clip((normalised + pictures.NORMALISED_RANGE) / (2 * pictures.NORMALISED_RANGE), 0, 1) * 255
    assert np.abs(array(reply.normalised) - shown).max() <= 1


def test_the_six_is_flipped_top_to_bottom():
    reply = gallery(augment=())
    assert np.array_equal(array(reply.digit_flipped), array(reply.digit)[::-1])
    assert not np.array_equal(array(reply.digit), array(reply.digit)[::-1])
    assert "breaks" in reply.digit_flipped.label and "6" in reply.digit.label


def test_pictures_are_shrunk_to_the_display_size():
    reply = gallery(image_size=64, display=16, count=2)
    assert {(p.width, p.height) for p in (reply.original, *reply.variants, reply.normalised, reply.digit)} == {(16, 16)}


def test_a_folder_of_your_own(tmp_path):
    for name, colour in (("cats", (200, 30, 30)), ("dogs", (30, 30, 200))):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (40 + i, 50), colour).save(tmp_path / name / f"{i}.png")
    reply = gallery(data=str(tmp_path), augment=(), index=0)
    assert reply.label == "cats" and ".png" in reply.source
    assert np.abs(array(reply.original).astype(int) - (200, 30, 30)).max() <= 1
    last = gallery(data=str(tmp_path), augment=(), index=-1)
    assert last.label == "dogs"


@pytest.mark.parametrize("weights", ["pretrained", "none"])
def test_filters_are_conv1_scaled_to_their_own_range(weights):
    reply = pictures.answer(Filters(id=1, model="tiny", weights=weights))
    model, _ = pictures.backbone("tiny", weights)
    w = model.conv1.weight.detach().double()
    assert len(reply.filters) == w.shape[0] and reply.kernel == w.shape[-1]
    for picture, f in zip(reply.filters, w, strict=True):
        expected = ((f - f.min()) / (f.max() - f.min()) * 255).permute(1, 2, 0).numpy()
        assert np.abs(array(picture) - expected).max() <= 0.5 + 1e-9
    assert reply.model == "tiny ResNet"
    assert ("fractals" in reply.weights) if weights == "pretrained" else reply.weights == "random (seed 0)"


def test_pretrained_filters_are_the_shipped_weights_and_random_ones_repeat():
    shipped = torch.load(net.tiny.WEIGHTS_FILE, weights_only=True)["conv1.weight"]
    model, _ = pictures.backbone("tiny", "pretrained")
    assert torch.equal(model.conv1.weight, shipped)
    first = pictures.answer(Filters(id=1, model="resnet50", weights="none"))
    pictures._backbone.cache_clear()
    again = pictures.answer(Filters(id=1, model="resnet50", weights="none"))
    assert (len(first.filters), first.kernel) == (64, 7)
    assert [p.rgb for p in first.filters] == [p.rgb for p in again.filters]


@pytest.mark.parametrize("name", ["tiny", "resnet50"])
def test_activation_maps_have_each_group_s_shape(name):
    reply = pictures.answer(Activations(id=1, model=name, weights="none", index=3, channels=3, display=8))
    model, _ = pictures.backbone(name, "none")
    size = reply.image_size
    assert [g.group for g in reply.groups] == list(BACKBONE)
    for group, maps in zip(GROUPS[1:], reply.groups, strict=True):
        if group == "head":
            channels, side = model.fc.in_features, (net.input_shape(model, "layer4", size)[1] - 1) // 2 + 1
        else:
            channels, side = net.input_shape(model, group, size)[0], net.input_shape(model, group, size)[1]
        assert (maps.channels, maps.height, maps.width) == (channels, side, side)
        assert len(maps.maps) == 3 and {(p.width, p.height) for p in maps.maps} == {(8, 8)}
        assert all(p.label.startswith("ch ") and int(p.label[3:]) < channels for p in maps.maps)
    assert (reply.image.width, reply.image.height) == (size, size)


def test_activation_channels_are_the_most_active():
    reply = pictures.answer(Activations(id=1, model="tiny", weights="pretrained", index=0, channels=2))
    model, _ = pictures.backbone("tiny", "pretrained")
    image, _, _, _ = pictures.validation_image(reply.image_size, 0)
    with torch.inference_mode():
        outputs = pictures.group_outputs(model, BatchTransform(reply.image_size, (), CPU)(image[None], train=False))
    for maps in reply.groups:
        means = outputs[maps.group][0].mean((1, 2))
        assert [int(p.label[3:]) for p in maps.maps] == means.topk(2).indices.tolist()


def test_the_walk_shows_the_frozen_features_and_a_fitted_head():
    reply = pictures.answer(FeatureWalk(id=1, model="tiny", weights="pretrained", index=4))
    model, _ = pictures.backbone("tiny", "pretrained")
    image, label, _, _ = pictures.validation_image(reply.image_size, 4)
    with torch.inference_mode():
        prepared = BatchTransform(reply.image_size, (), CPU)(image[None], train=False)
        features = net.forward_until(model, "head", prepared)[0]
    assert reply.features == pytest.approx(features.tolist(), abs=1e-4)
    assert len(reply.features) == model.fc.in_features == 128
    assert sum(reply.scores) == pytest.approx(1, abs=1e-3) and len(reply.scores) == len(reply.classes) == 10
    assert reply.label == label
    assert reply.val_acc > 0.5 and "fitted by the worker" in reply.head and "400" in reply.head


@pytest.mark.parametrize(("request_", "message"), [
    (Gallery(id=1, augment=("rotate",)), "unknown augmentation 'rotate'"),
    (Gallery(id=1, count=0), "count must be between 1 and 8"),
    (Gallery(id=1, image_size=8), "image_size must be between"),
    (Gallery(id=1, data="/no/such/folder"), "no such folder: /no/such/folder"),
    (Filters(id=1, model="vgg16"), "unknown model 'vgg16'"),
    (Filters(id=1, model="tiny", weights="/no/such.pt"), "no such file"),
    (Activations(id=1, model="tiny", channels=9), "channels must be between 1 and 4"),
    (FeatureWalk(id=1, model="tiny", display=1000), "display must be between"),
])
def test_bad_parameters_are_one_line(request_, message):
    with pytest.raises(BadInput) as caught:
        pictures.answer(request_)
    assert message in str(caught.value) and "\n" not in str(caught.value)
