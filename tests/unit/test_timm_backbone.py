"""timm models as the backbone (``--model timm:NAME``): the six groups of each family, freezing them, the
forward pass in two parts for the boundary cache, weights from a file or the Hugging Face cache (never a
download), the model's own preprocessing. timm's test-sized models, randomly initialised: nothing downloads."""

from __future__ import annotations

import sys

import pytest
import safetensors.torch
import timm
import torch
from torch import nn

from tltui.core import codegen, costs
from tltui.core.backbones import INSTALL
from tltui.core.errors import BadInput
from tltui.core.groups import GROUPS
from tltui.core.presets import configure
from tltui.core.protocol.requests import DescribeBackbone
from tltui.engine import backbone_info, model as net, preprocess, timm_backbone

FAMILIES = ("test_vit", "test_convnext", "test_efficientnet", "test_resnet")
"""A ViT, a ConvNeXt, an EfficientNet and a ResNet: timm's test-sized models, a few hundred thousand parameters."""
CPU = torch.device("cpu")

#: What each family's groups hold, in its module names (backbone_info.holds): the mapping tltui shows.
HOLDS = {
    "test_vit": ["cls_token, pos_embed, patch_embed.proj", "blocks.0", "blocks.1", "blocks.2-3", "blocks.4-5, norm",
                 "head"],
    "test_convnext": ["stem.0-1", "stages.0", "stages.1", "stages.2", "stages.3, head.norm", "head.fc"],
    "test_efficientnet": ["conv_stem, bn1", "blocks.0", "blocks.1", "blocks.2", "blocks.3-4, conv_head, bn2",
                          "classifier"],
    "test_resnet": ["conv1.0-1, conv1.3-4, conv1.6, bn1", "layer1.0", "layer2.0", "layer3.0", "layer4.0", "fc"],
}


def build(name: str, classes: int = 5, size: int = 0) -> nn.Module:
    torch.manual_seed(0)
    model, _, _ = net.build(f"timm:{name}", classes, "none", size)
    return model


@pytest.mark.parametrize("name", FAMILIES)
def test_every_parameter_is_in_exactly_one_of_six_groups_in_the_models_order(name):
    model = build(name)
    grouped = [id(p) for g in GROUPS for p in net.group_parameters(model, g)]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each once, none left out
    assert all(net.group_parameters(model, g) for g in GROUPS)
    counts = net.parameter_counts(model)
    assert sum(counts.values()) == sum(p.numel() for p in model.parameters())
    classifier = model.get_classifier()
    assert [id(p) for p in net.group_parameters(model, "head")] == [id(p) for p in classifier.parameters()]
    assert counts["head"] == classifier.in_features * 5 + 5
    # bottom to top: each group's parameters come after the group below's in the model's own order
    order = {id(p): i for i, p in enumerate(model.parameters())}
    spans = [[order[id(p)] for p in net.group_parameters(model, g)] for g in GROUPS]
    assert all(max(low) < min(high) for low, high in zip(spans, spans[1:], strict=False))
    assert [g.holds for g in backbone_info.describe(DescribeBackbone(model=f"timm:{name}")).groups] == HOLDS[name]


def test_a_vits_blocks_are_dealt_into_four_quarters_and_its_patch_embedding_is_the_stem():
    model = build("test_vit")
    names = net.group_names(model)
    assert {n for n, g in names.items() if g == "stem"} == {
        "cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"}
    blocks = {g: sorted({int(n.split(".")[1]) for n in names if n.startswith("blocks.") and names[n] == g})
              for g in GROUPS[1:5]}
    assert blocks == {"layer1": [0], "layer2": [1], "layer3": [2, 3], "layer4": [4, 5]}  # 6 blocks: 1, 1, 2, 2


@pytest.mark.parametrize("name", FAMILIES)
def test_freezing_a_group_freezes_exactly_its_parameters_and_its_batchnorm(name):
    model = build(name)
    for group in GROUPS:
        net.set_trainable(model, set(GROUPS) - {group}, "freeze")
        frozen = {id(p) for p in model.parameters() if not p.requires_grad}
        assert frozen == {id(p) for p in net.group_parameters(model, group)}, group
        in_eval = {id(m) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and not m.training}
        assert in_eval == {id(m) for m in net.batchnorms(model, [group])}, group
    all_bn = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert sorted(map(id, all_bn)) == sorted(id(m) for m in net.batchnorms(model, GROUPS))
    assert bool(all_bn) == (name in ("test_efficientnet", "test_resnet"))  # ViT, ConvNeXt: LayerNorm alone


def test_a_frozen_groups_batchnorm_statistics_stay_while_the_rest_train():
    model = build("test_efficientnet", size=64)
    net.set_trainable(model, {"layer4", "head"}, "freeze")
    stem_bn, top_bn = net.batchnorms(model, ["stem"])[0], net.batchnorms(model, ["layer4"])[-1]
    before = stem_bn.running_mean.clone(), top_bn.running_mean.clone()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = nn.functional.cross_entropy(model(torch.randn(4, 3, 64, 64)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    assert torch.equal(stem_bn.running_mean, before[0]) and not torch.equal(top_bn.running_mean, before[1])
    assert all(p.grad is None for p in net.group_parameters(model, "layer3"))


@pytest.mark.parametrize("name", FAMILIES)
def test_the_cached_features_then_the_head_are_the_whole_network(name):
    model = build(name, size=64).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        features = net.forward_until(model, "head", x)
        assert features.shape[1:] == net.input_shape(model, "head", 64) == (net.feature_dim(model),)
        torch.testing.assert_close(net.forward_from(model, "head", features), model(x))
        torch.testing.assert_close(net.forward_from(model, "stem", x), model(x))


def test_a_vit_at_another_size_gets_its_position_embedding_sized_for_it():
    model = build("test_vit", size=64)
    assert model.patch_embed.img_size == (64, 64)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 5)


def test_a_vits_attention_is_fused():
    """F.scaled_dot_product_attention (flash or memory-efficient kernels on a GPU), as timm sets by default."""
    model = build("test_vit")
    attention = [m for m in model.modules() if hasattr(m, "fused_attn")]
    assert attention and all(m.fused_attn for m in attention)


def test_only_convolutional_networks_take_channels_last():
    assert [net.convolutional(build(n)) for n in FAMILIES] == [False, True, True, True]


def write_pretrained(tmp_path, name: str, suffix: str) -> tuple[nn.Module, str]:
    """A randomly initialised ``name`` with timm's own head (its pretrained config's classes), as a file."""
    torch.manual_seed(3)
    source = timm.create_model(name)
    path = tmp_path / f"{name}{suffix}"
    if suffix == ".safetensors":
        safetensors.torch.save_file(source.state_dict(), path)
    else:
        torch.save({"state_dict": source.state_dict()}, path)  # a wrapper, as training scripts write
    return source, str(path)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_weights_from_a_safetensors_or_state_dict_file_get_a_new_head(tmp_path, suffix):
    source, path = write_pretrained(tmp_path, "test_convnext", suffix)
    model, described, notes = net.build("timm:test_convnext", 3, path)
    assert described == path and notes == ["the weights' head (1000 outputs) replaced by a new 3-class head"]
    own = model.state_dict()
    backbone = [k for k in source.state_dict() if not k.startswith("head.fc.")]
    assert backbone and all(torch.equal(own[k], source.state_dict()[k]) for k in backbone)
    assert model.get_classifier().out_features == 3


def test_a_runs_own_weights_load_head_and_all(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    trained = build("test_vit", classes=4, size=32)
    torch.save(trained.state_dict(), run / "best.pt")
    model, described, notes = net.build("timm:test_vit", 4, str(run), 32)
    assert described == str(run / "best.pt") and notes == []
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in trained.state_dict().items())


def test_another_models_weights_are_refused_in_one_line(tmp_path):
    _, path = write_pretrained(tmp_path, "test_vit", ".safetensors")
    with pytest.raises(BadInput) as refused:
        net.build("timm:test_convnext", 3, path)
    message = str(refused.value)
    assert message.startswith(f"--weights {path}: not weights of timm:test_convnext") and "\n" not in message
    assert "KeyError: 'blocks.0.attn.proj.weight'" in message  # ConvNeXt's checkpoint filter meets a ViT's keys
    _, path = write_pretrained(tmp_path, "test_efficientnet", ".pt")
    with pytest.raises(BadInput) as refused:
        net.build("timm:test_resnet", 3, path)
    assert "Missing key(s) in state_dict" in str(refused.value) and "\n" not in str(refused.value)


def test_without_cached_weights_one_line_says_what_is_missing_where_tltui_looked_and_how_to_bring_it(hub_cache):
    with pytest.raises(BadInput) as refused:
        net.check_weights("timm:test_convnext", "pretrained", 160)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("timm:test_convnext: its pretrained weights")
    assert f"looked in {hub_cache / 'models--timm--test_convnext.r160_in1k'}" in message
    assert "huggingface-cli download timm/test_convnext.r160_in1k model.safetensors" in message
    assert "--weights PATH" in message and "--weights none" in message
    assert timm_backbone.cached() == []


def test_weights_in_the_hugging_face_cache_are_found_and_loaded_offline(tmp_path, hub_cache, monkeypatch):
    """The cache's layout (refs/main names the snapshot holding the file), as ``huggingface-cli download``
    leaves it; the hub is offline, so only the file there can be read."""
    source, path = write_pretrained(tmp_path, "test_convnext", ".safetensors")
    repo = hub_cache / "models--timm--test_convnext.r160_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    (repo / "snapshots" / "0123abcd" / "model.safetensors").write_bytes(open(path, "rb").read())
    net.check_weights("timm:test_convnext", "pretrained", 160)
    model, described, _ = net.build("timm:test_convnext", 3, "pretrained")
    assert described == "pretrained (timm/test_convnext.r160_in1k, model.safetensors)"
    assert torch.equal(model.stem[0].weight, source.stem[0].weight)
    assert timm_backbone.cached() == ["timm:test_convnext.r160_in1k"]
    assert net.available()["timm:test_convnext.r160_in1k"] == ["pretrained", "none"]


def test_an_unknown_model_or_tag_is_bad_input_in_one_line():
    for model, words in (("timm:no_such_net", "timm 1."), ("timm:convnext_tiny.no_such_tag", "Invalid pretrained tag")):
        with pytest.raises(BadInput) as refused:
            net.check_weights(model, "none", 64)
        assert words in str(refused.value) and "\n" not in str(refused.value)


def test_without_timm_the_worker_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm raises ImportError
    with pytest.raises(BadInput) as refused:
        net.build("timm:test_vit", 3, "none")
    assert str(refused.value) == f"timm models need timm, which this worker's Python lacks: {INSTALL}"


def test_preprocessing_is_the_models_own_and_a_given_image_size_wins():
    own = preprocess.resolve("timm:test_vit", 0, CPU)
    assert (own.mean, own.std, own.image_size, own.interpolation) == ((0.5,) * 3, (0.5,) * 3, 160, "bicubic")
    assert own.source == "timm's data config of test_vit" and own.note == ""
    given = preprocess.resolve("timm:test_efficientnet", 64, CPU)
    assert given.image_size == 64 and given.model_size == 160 and given.mean == (0.485, 0.456, 0.406)
    assert given.note == "--image-size 64 given: it wins over test_efficientnet's own 160 px"
    builtin = preprocess.resolve("resnet50", 0, CPU)
    assert (builtin.mean, builtin.image_size, builtin.interpolation, builtin.model_size) == (
        (0.485, 0.456, 0.406), 64, "bilinear", 0)


@pytest.mark.parametrize("model", ["resnet50", "tiny"])
def test_the_described_groups_of_a_builtin_backbone_are_the_freeze_boards_costs(model):
    """The flop counter's MACs and the parameter counts agree with core/costs.py's arithmetic, group by group."""
    info = backbone_info.describe(DescribeBackbone(model=model, image_size=64))
    expected = costs.model_costs(model, 64, backbone_info.CLASSES)
    assert {g.name: (g.params, g.macs) for g in info.groups} == {g: (c.params, c.macs) for g, c in expected.items()}
    assert info.groups[0].holds == "conv1, bn1" and info.groups[-1].holds == "fc"


@pytest.mark.parametrize("model, size", [("timm:test_vit", 0), ("resnet50", 64), ("tiny", 0)])
def test_the_fake_workers_description_is_the_real_ones(model, size):
    """The UI's tests draw what tests/fake_worker.py says: it must be what the real worker says."""
    import fake_worker

    request = DescribeBackbone(model=model, image_size=size)
    assert fake_worker.describe(request).groups == backbone_info.describe(request).groups


def test_a_described_timm_backbone_counts_every_parameter_and_multiply_accumulate():
    info = backbone_info.describe(DescribeBackbone(model="timm:test_vit", image_size=64))
    model = build("test_vit", classes=backbone_info.CLASSES, size=64)
    assert [g.params for g in info.groups] == [net.parameter_counts(model)[g] for g in GROUPS]
    assert info.preprocessing.image_size == 64 and info.weights == ["none"] and not info.convolutional
    assert info.looked.endswith("models--timm--test_vit.r160_in1k")
    assert info.groups[-1].macs == 64 * 10  # the head: features x classes
    assert all(g.macs > 0 for g in info.groups)


def test_the_exported_scripts_six_groups_are_the_engines():
    """The script copies engine/timm_groups.py: run as written, its params() are the engine's groups."""
    config = configure("fine-tune-late", model="timm:test_efficientnet", data="/data/birds")
    script: dict = {"__name__": "exported"}
    exec(compile(codegen.generate(config, pre=preprocess.resolve(config.model, 0, CPU)), "exported", "exec"), script)
    for name in FAMILIES:
        model = build(name)
        assert script["six_groups"](model) == net.group_names(model)
        assert [id(p) for p in script["params"](model, "layer2")] == [
            id(p) for p in net.group_parameters(model, "layer2")]


def test_a_stopped_timm_run_resumes_from_its_checkpoint(tmp_path):
    """A ViT at 32 px (its position embedding sized for it): the checkpoint fits the model built again, and
    the frozen stem stays as it was loaded."""
    from tltui.core.protocol.config import RunConfig
    from tltui.core.protocol.events import Cancelled, Epoch, Finished, Started
    from tltui.engine import train

    cfg = RunConfig(data="builtin", model="timm:test_vit", weights="none", device="cpu", image_size=32,
                    limit_per_class=3, batch_size=8, epochs=2, val_fraction=0.05, frozen=("stem",))
    events: list[tuple[type, dict]] = []
    train.train(train.prepare(cfg), tmp_path, lambda kind, **fields: events.append((kind, fields)),
                lambda: any(kind is Epoch for kind, _ in events))
    assert events[-1][0] is Cancelled and (tmp_path / "resume.pt").is_file()
    stem = {k: v for k, v in torch.load(tmp_path / "last.pt", weights_only=True).items()
            if net.group_names(build("test_vit", 10, 32))[k] == "stem"}
    events.clear()
    prep = train.prepare(cfg)
    train.train(prep, tmp_path, lambda kind, **fields: events.append((kind, fields)), lambda: False, resume=True)
    kinds = [kind for kind, _ in events]
    assert kinds[-1] is Finished and events[0][1]["resumed_from"] == 1 and kinds[0] is Started
    assert [f["epoch"] for kind, f in events if kind is Epoch] == [2]
    assert all(torch.equal(prep.model.state_dict()[k], v) for k, v in stem.items())
