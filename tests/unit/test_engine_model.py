"""The model: six groups, running part of the network, weights from the hub cache, a file or a run."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import time

import pytest
import torch
import torchvision

from tltui.core.errors import BadInput
from tltui.core.groups import GROUPS
from tltui.engine import device, model as net
from tltui.engine.tiny import TinyResNet

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
    torch.manual_seed(5)
    fake = torchvision.models.resnet50()
    calls = []

    def download(url, dest):
        calls.append((url, dest))
        dest.parent.mkdir(parents=True)
        torch.save(fake.state_dict(), dest)

    monkeypatch.setattr(net, "_download", download)
    built, _, _ = net.build("resnet50", 3, "imagenet-v1")
    assert calls == [(net.WEIGHTS["imagenet-v1"].url, net.weights_file(net.WEIGHTS["imagenet-v1"]))]
    assert torch.equal(built.layer1[0].conv1.weight, fake.layer1[0].conv1.weight)
    net.build("resnet50", 3, "imagenet-v1")  # cached now: no second download
    assert len(calls) == 1


@pytest.fixture
def server():
    """A local HTTP server: ``serve(path, body)`` answers GET ``path`` with ``body``; its base URL."""
    bodies: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = bodies.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield bodies, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_download_checks_the_sha256_in_the_file_name(tmp_path, server):
    bodies, base = server
    body = b"weights" * 100_000
    prefix = hashlib.sha256(body).hexdigest()[:8]
    bodies["/good.pth"] = bodies["/bad.pth"] = body
    net._download(f"{base}/good.pth", tmp_path / f"resnet50-{prefix}.pth")
    assert (tmp_path / f"resnet50-{prefix}.pth").read_bytes() == body
    with pytest.raises(ValueError, match="SHA-256 is not 0123abcd"):
        net._download(f"{base}/bad.pth", tmp_path / "resnet50-0123abcd.pth")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"resnet50-{prefix}.pth"]  # nothing half-written


def test_a_stalled_download_times_out_without_a_process_wide_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(net, "READ_TIMEOUT_S", 0.5)
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            net._download(f"http://127.0.0.1:{silent.getsockname()[1]}/w-0123abcd.pth", tmp_path / "w-0123abcd.pth")
        assert time.monotonic() - started < 5
    finally:
        silent.close()
    assert socket.getdefaulttimeout() is None and list(tmp_path.iterdir()) == []
