"""The shipped tiny backbone: its weights load, score what weights/tiny.md records, and start a fine-tune."""

from __future__ import annotations

import pytest
import torch

from tltui.core.errors import BadInput
from tltui.core.protocol.config import ConfigError, RunConfig
from tltui.engine import model as net, pretrain, tiny


def test_the_shipped_weights_are_small_and_load_with_weights_only():
    assert tiny.WEIGHTS_FILE.stat().st_size < 2 * 2**20
    state = torch.load(tiny.WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model = tiny.TinyResNet(pretrain.RECIPE.classes)
    model.load_state_dict(state)  # strict: every key, every shape


def test_the_shipped_weights_reach_the_recorded_source_accuracy_on_the_held_out_batch():
    model = tiny.TinyResNet(pretrain.RECIPE.classes).to(memory_format=torch.channels_last)
    model.load_state_dict(torch.load(tiny.WEIGHTS_FILE, map_location="cpu", weights_only=True))
    images, labels = pretrain.held_out(pretrain.RECIPE)
    assert len(labels) == pretrain.RECIPE.classes * pretrain.RECIPE.held_out_per_class
    assert pretrain.accuracy(model, images, labels) == pytest.approx(pretrain.RECORDED_ACCURACY, abs=0.005)
    assert pretrain.RECORDED_ACCURACY > 0.5  # far above chance (1%): the source task was learned


def test_the_recipe_and_accuracy_are_written_down_next_to_the_weights():
    notes = (tiny.WEIGHTS_FILE.parent / "tiny.md").read_text()
    assert f"{pretrain.RECORDED_ACCURACY:.1%}" in notes
    recipe = pretrain.RECIPE
    for fact in (f"{recipe.classes} classes", f"{recipe.epochs} epochs", f"seed {recipe.seed}", "tltui pretrain-tiny"):
        assert fact in notes, fact


def test_pretrained_means_the_shipped_weights_with_a_new_head():
    shipped = torch.load(tiny.WEIGHTS_FILE, map_location="cpu", weights_only=True)
    model, described, notes = net.build("tiny", 7, "pretrained")
    assert described == f"pretrained ({tiny.SOURCE})"
    assert notes == [f"the weights' head has {pretrain.RECIPE.classes} classes: replaced by a new 7-class head"]
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in shipped.items() if not k.startswith("fc."))
    assert model.fc.weight.shape == (7, 128)


def test_resnet50_weights_do_not_fit_the_tiny_backbone(tmp_path):
    torch.save(net.new("resnet50", 3).state_dict(), tmp_path / "r50.pt")
    with pytest.raises(BadInput, match="not a tiny ResNet state_dict"):
        net.build("tiny", 3, str(tmp_path / "r50.pt"))
    with pytest.raises(BadInput, match="no such file; use pretrained, none, or a path"):
        net.build("tiny", 3, "imagenet")


def test_imagenet_names_are_refused_for_tiny_before_anything_loads():
    for weights in ("imagenet", "imagenet-v1"):
        with pytest.raises(ConfigError, match="for resnet50 only.*--weights pretrained"):
            RunConfig(model="tiny", weights=weights).check()
    RunConfig(model="tiny").check()  # the default, pretrained, is the model's own
    assert RunConfig().weights == "pretrained"
