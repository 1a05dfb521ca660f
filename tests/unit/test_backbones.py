"""Backbone names without torch (core/backbones.py): the built-in two and ``timm:NAME``, as the CLI, the UI
and the protocol check them; and the exported script of a timm run (core/codegen.py, cluster.py)."""

from __future__ import annotations

import ast

import msgspec
import pytest

from tltui.core import backbones, codegen
from tltui.core.backbones import Preprocessing
from tltui.core.cluster import generate_ddp
from tltui.core.presets import configure
from tltui.core.protocol.config import ConfigError, RunConfig


@pytest.mark.parametrize("model", ["resnet50", "tiny", "timm:convnext_tiny", "timm:vit_small_patch14_dinov2.lvd142m",
                                   "timm:efficientnet_b0", "timm:resnet50.a1_in1k", "timm:test_vit"])
def test_builtin_and_timm_names_are_backbones(model):
    assert backbones.problem(model) == ""
    RunConfig(model=model).check()


@pytest.mark.parametrize("model, words", [
    ("vgg16", "unknown model 'vgg16': choose from resnet50, tiny, or timm:NAME"),
    ("timm:", "a timm name is letters, digits"),
    ("timm:../evil", "a timm name is letters, digits"),
    ("timm:hf-hub:timm/x", "a timm name is letters, digits"),
])
def test_other_names_are_refused_in_one_line(model, words):
    with pytest.raises(ConfigError) as refused:
        RunConfig(model=model).check()
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_resnet50s_named_weights_are_refused_for_a_timm_model():
    with pytest.raises(ConfigError, match="--weights imagenet is for resnet50 only: timm convnext_tiny's own are "
                                          "--weights pretrained"):
        RunConfig(model="timm:convnext_tiny", weights="imagenet").check()
    assert backbones.named_weights("timm:x") == ("pretrained", "none")
    assert backbones.label("timm:convnext_tiny") == "timm convnext_tiny" and backbones.label("tiny") == "tiny ResNet"


def test_the_boundary_cache_cuts_a_timm_model_below_its_head_alone():
    from tltui.engine import cache

    frozen = configure("feature-extraction", model="timm:test_vit")
    late = configure("fine-tune-late", model="timm:test_vit", augment=())
    assert cache.boundary(frozen) == "head" and cache.boundary(late) is None
    assert cache.boundary(msgspec.structs.replace(late, model="resnet50")) == "layer4"


PRE = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), image_size=160, interpolation="bicubic",
                    model_size=160, source="timm's data config of test_vit")


@pytest.mark.parametrize("pre", [PRE, None], ids=["given", "from timm"])
@pytest.mark.parametrize("preset", ["head-then-unfreeze", "fine-tune-late"])
def test_a_timm_script_creates_the_model_by_name_with_its_preprocessing(pre, preset):
    config = configure(preset, model="timm:test_vit", data="/data/birds", weights="none")
    plain = codegen.generate(config, pre=pre)
    assert [line for line in plain.splitlines() if len(line) > codegen.WIDTH] == []  # a lesson's code view
    for code in (plain, generate_ddp(config, pre=pre)):
        ast.parse(code)
        assert "import timm\n" in code and 'MODEL = "test_vit"' in code and "torchvision.models" not in code
        assert "def six_groups(model):" in code and "transforms.InterpolationMode(INTERPOLATION)" in code
        assert "normalise = transforms.Normalize(mean=MEAN, std=STD)" in code and "0.485" not in code
    code = codegen.generate(config, pre=pre)
    if pre:
        assert "IMAGE_SIZE = 160  # the model's own\n" in code and "STD = (0.25, 0.25, 0.25)\n" in code
        assert 'INTERPOLATION = "bicubic"' in code and "CROP_PCT = 0.875  #" in code
    else:
        assert "DATA_CONFIG = timm.data.resolve_model_data_config(" in code and 'DATA_CONFIG["crop_pct"]' in code
    assert "transforms.Resize(int(IMAGE_SIZE / CROP_PCT)," in code  # validation: timm's eval resize
    sized = codegen.generate(msgspec.structs.replace(config, image_size=64), pre=PRE)
    assert "IMAGE_SIZE = 64  # the run's\n" in sized
    assert codegen.image_size(config, PRE) == 160 and codegen.image_size(msgspec.structs.replace(
        config, image_size=48), PRE) == 48
