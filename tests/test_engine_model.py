"""The model: six groups, running part of the network, weights from the hub cache, a file or a run."""

from __future__ import annotations

import socket

import pytest
import torch
import torchvision

from tltui.engine import device, model as net
from tltui.core.errors import BadInput
from tltui.engine.tiny import TinyResNet
from tltui.core.groups import GROUPS


MODELS = ("resnet50", "tiny")


@pytest.fixture(scope="module", params=MODELS)
def resnet(request):
    torch.manual_seed(0)
    m, _, _ = net.build(request.param, 5, "none")
    return m.eval()


def test_groups_cover_every_parameter_once(resnet):
    grouped = [id(p) for g in GROUPS for p in net.group_parameters(resnet, g)]
    assert sorted(grouped) == sorted(id(p) for p in resnet.parameters())
    counts = net.parameter_counts(resnet)
    assert counts["head"] == resnet.fc.in_features * 5 + 5
    assert sum(counts.values()) == sum(p.numel() for p in resnet.parameters())


def test_the_two_backbones_have_the_same_modules_and_their_own_widths(resnet):
    assert [name for name, _ in resnet.named_children()] == [
        "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    assert isinstance(resnet, torchvision.models.ResNet)
    tiny = isinstance(resnet, TinyResNet)
    assert resnet.fc.in_features == (128 if tiny else 2048)
    n = sum(p.numel() for p in resnet.parameters())
    assert (n < 400_000) if tiny else (n > 23_000_000)


@pytest.mark.parametrize("group", GROUPS)
def test_until_then_from_is_the_whole_network(resnet, group):
    x = torch.randn(2, 3, 40, 40)
    with torch.no_grad():
        middle = net.forward_until(resnet, group, x)
        assert middle.shape[1:] == net.input_shape(resnet, group, 40)
        torch.testing.assert_close(net.forward_from(resnet, group, middle), resnet(x))


def test_set_trainable_freezes_parameters_and_batchnorm(resnet):
    net.set_trainable(resnet, {"layer4", "head"}, "freeze")
    assert resnet.training and resnet.layer4[0].bn1.training and not resnet.layer3[0].bn1.training
    assert not resnet.bn1.training
    assert all(p.requires_grad for p in net.group_parameters(resnet, "layer4"))
    assert not any(p.requires_grad for p in net.group_parameters(resnet, "layer3"))
    net.set_trainable(resnet, {"head"}, "train")  # the pitfall, on purpose
    assert resnet.layer3[0].bn1.training and not any(p.requires_grad for p in net.group_parameters(resnet, "layer4"))
    resnet.eval()


@pytest.mark.parametrize("model", MODELS)
def test_weights_from_a_state_dict_file(tmp_path, model):
    torch.manual_seed(1)
    source = net.new(model, 7)
    torch.save(source.state_dict(), tmp_path / "w.pt")
    built, described, notes = net.build(model, 7, str(tmp_path / "w.pt"))
    assert described == str(tmp_path / "w.pt") and notes == []
    for key, value in source.state_dict().items():
        assert torch.equal(built.state_dict()[key], value), key


def test_a_head_of_another_size_is_replaced(tmp_path):
    torch.manual_seed(2)
    source = torchvision.models.resnet50()  # the 1000-class ImageNet shape
    torch.save({"state_dict": source.state_dict()}, tmp_path / "imagenet-like.pt")
    built, _, notes = net.build("resnet50", 4, str(tmp_path / "imagenet-like.pt"))
    assert built.fc.weight.shape == (4, 2048)
    assert torch.equal(built.layer3[2].conv2.weight, source.layer3[2].conv2.weight)
    assert notes == ["the weights' head has 1000 classes: replaced by a new 4-class head"]


def test_weights_from_a_run_directory_use_its_best(tmp_path):
    torch.manual_seed(3)
    source = torchvision.models.resnet50(num_classes=3)
    torch.save(source.state_dict(), tmp_path / "best.pt")
    built, _, _ = net.build("resnet50", 3, str(tmp_path))
    assert torch.equal(built.fc.weight, source.fc.weight)
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(BadInput, match="has no best.pt"):
        net.build("resnet50", 3, str(tmp_path / "empty-run"))


@pytest.mark.parametrize(
    "content, message",
    [
        (b"garbage bytes, not a checkpoint", "not a loadable state_dict"),
        ("resnet18", "not a ResNet-50 state_dict"),
        ("missing", "no such file; use imagenet, imagenet-v1, none"),
    ],
)
def test_bad_weight_files(tmp_path, content, message):
    path = tmp_path / "w.pt"
    if content == "resnet18":
        torch.save(torchvision.models.resnet18().state_dict(), path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(BadInput, match=message) as caught:
        net.build("resnet50", 3, str(path))
    assert "\n" not in str(caught.value)


def test_imagenet_weights_offline_say_where_to_put_them(tmp_path, monkeypatch, offline):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    for name in ("imagenet", "imagenet-v1"):
        with pytest.raises(BadInput) as caught:
            net.build("resnet50", 10, name)
        message = str(caught.value)
        assert "\n" not in message
        assert str(tmp_path / "hub" / "checkpoints") in message
        assert "--weights PATH" in message and "--weights none" in message and "--model tiny" in message


def test_cached_imagenet_weights_are_used_and_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(4)
    fake = torchvision.models.resnet50()
    path = net.weights_file(net.WEIGHTS["imagenet"])
    path.parent.mkdir(parents=True)
    torch.save(fake.state_dict(), path)
    built, described, notes = net.build("resnet50", 6, "imagenet")
    assert described == "imagenet (IMAGENET1K_V2)" and "1000 classes" in notes[0]
    assert torch.equal(built.conv1.weight, fake.conv1.weight)
    same, described, _ = net.build("resnet50", 6, "pretrained")  # resnet50's own pretrained weights: ImageNet's
    assert described == "imagenet (IMAGENET1K_V2)" and torch.equal(same.conv1.weight, fake.conv1.weight)
    caps = device.capabilities()
    assert caps.cached_weights == ["imagenet"] and caps.weights_dir == str(path.parent)
    assert caps.models == {"resnet50": ["pretrained", "imagenet", "none"], "tiny": ["pretrained", "none"]}
    assert caps.devices[-1] == "cpu" and caps.torch_version == torch.__version__


def test_missing_imagenet_weights_are_downloaded_into_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port: [("resolved", host)])
    torch.manual_seed(5)
    fake = torchvision.models.resnet50()
    calls = []

    def download(url, dest, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix, socket.getdefaulttimeout()))
        torch.save(fake.state_dict(), dest)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    built, _, _ = net.build("resnet50", 3, "imagenet-v1")
    assert calls == [(net.WEIGHTS["imagenet-v1"].url, "0676ba61", net.READ_TIMEOUT_S)]
    assert net.weights_file(net.WEIGHTS["imagenet-v1"]).is_file()
    assert torch.equal(built.layer1[0].conv1.weight, fake.layer1[0].conv1.weight)
    net.build("resnet50", 3, "imagenet-v1")  # cached now: no second download
    assert len(calls) == 1
