"""The linear probe (engine/probe.py), LP-FT's first stage in a run (``head_first``), and the probe alone as a run
(``--preset probe``)."""

from __future__ import annotations

import re

import msgspec
import pytest
import torch
import torch.nn.functional as F
from test_engine_train import Recorder, config, run

from tltui.core.errors import BadInput
from tltui.core.presets import configure
from tltui.core.protocol.config import ConfigError, RunConfig
from tltui.core.protocol.events import Cancelled, Epoch, Finished, HeadFitted, Note, Progress
from tltui.engine import data as datasets, knn, model as net, probe
from tltui.engine.augment import BatchTransform
from tltui.engine.tiny import TinyResNet
from tltui.engine.train import Trainer, check as train_check, prepare, train


def blobs(n: int, d: int, classes: int, spread: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points in ``d`` dimensions around ``classes`` random centres, with a large offset and uneven
    scales per dimension (as pooled ReLU features have), and their labels."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, d, generator=g)
    y = torch.arange(n) % classes
    x = centres[y] + spread * torch.randn(n, d, generator=g)
    return x * torch.linspace(0.1, 10, d) + 5, y


def test_the_probe_reaches_the_minimum_of_its_objective(monkeypatch):
    x, y = blobs(120, 16, 3, spread=1.5)
    l2 = 1e-2
    scale = x.var(0, unbiased=False).mean().sqrt()

    def objective(p: probe.Probe) -> float:
        """Cross-entropy plus the penalty on the weights of the features divided by their common scale."""
        return float(F.cross_entropy(p.logits(x), y) + 0.5 * l2 * ((p.weight * scale) ** 2).sum())

    fitted = probe.fit(x, y, 3, l2)
    monkeypatch.setattr(probe, "TOLERANCE", 1e-12)
    exact = probe.fit(x, y, 3, l2, max_iter=5000)
    assert objective(fitted) - objective(exact) < 1e-4
    assert fitted.loss == pytest.approx(float(F.cross_entropy(fitted.logits(x), y)), abs=1e-5)
    assert 0 < fitted.iterations < exact.iterations


def test_a_probe_separates_points_it_can_and_a_stronger_penalty_fits_less():
    x, y = blobs(60, 32, 4, spread=0.3)
    loose, tight = probe.fit(x, y, 4, 1e-4), probe.fit(x, y, 4, 10.0)
    assert loose.accuracy == 1.0
    assert tight.loss > loose.loss
    assert tight.weight.norm() < loose.weight.norm()


def test_cross_validation_picks_a_penalty_that_generalises():
    # 200 dimensions of which 2 carry the classes: with 60 points, a weak penalty memorises the noise.
    g = torch.Generator().manual_seed(1)
    y = torch.arange(60) % 2
    x = torch.randn(60, 200, generator=g)
    x[:, :2] += 1.5 * (2 * y[:, None] - 1)
    chosen = probe.fit_cv(x, y, 2, seed=0)
    assert chosen.l2 >= 1e-2
    test_y = torch.arange(400) % 2
    test_x = torch.randn(400, 200, generator=g)
    test_x[:, :2] += 1.5 * (2 * test_y[:, None] - 1)
    weak = probe.fit(x, y, 2, probe.L2_GRID[0])
    accuracy = lambda p: float((p.predict(test_x) == test_y).float().mean())  # noqa: E731
    assert accuracy(chosen) >= accuracy(weak)


def test_a_fit_stops_when_told():
    x, y = blobs(60, 8, 3, spread=1.0)
    with pytest.raises(probe.Stopped):
        probe.fit(x, y, 3, 1e-2, should_stop=lambda: True)


def test_a_class_with_one_image_falls_back_to_the_middle_penalty():
    x, y = blobs(9, 8, 3, spread=1.0)
    y[-1] = 3  # a fourth class with a single image: no stratified folds
    assert probe.fit_cv(x, y, 4).l2 == probe.L2_GRID[len(probe.L2_GRID) // 2]


# -- head_first in a run ---------------------------------------------------------------------------


@pytest.mark.parametrize(("frozen", "augment"), [
    ((), ()), ((), ("crop",)), (("stem", "layer1", "layer2", "layer3", "layer4"), ())])
def test_head_first_fits_the_head_to_the_frozen_features_before_epoch_1(tmp_path, frozen, augment):
    cfg = config(model="tiny", weights="pretrained", head_first=True, frozen=frozen, augment=augment,
                 limit_per_class=8, val_fraction=0.2)
    prep = prepare(cfg)
    recorder = Recorder()
    heads = []

    def emit(cls, **fields):
        recorder(cls, **fields)
        if cls is HeadFitted:
            heads.append((prep.model.fc.weight.detach().clone(), prep.model.fc.bias.detach().clone()))

    train(prep, tmp_path, emit, lambda: False)
    assert recorder.kinds.index(HeadFitted) < recorder.kinds.index(Epoch)
    assert recorder.kinds[-1] is Finished
    fitted = recorder.of(HeadFitted)[0]
    assert fitted["l2"] in probe.L2_GRID and fitted["iterations"] > 0

    # The same probe, fitted here on the pretrained network's pooled features of the same images, every one
    # prepared as a validation image (without augmentation the training images are stored so already).
    fresh = prepare(msgspec.structs.replace(cfg, augment=()))
    transform = BatchTransform(fresh.config.image_size, (), torch.device("cpu"))
    if not frozen:  # every BatchNorm trains: its statistics re-estimated on the training images first
        batches = [transform(x, train=False) for x in fresh.data.train_x.split(cfg.batch_size)]
        torch.optim.swa_utils.update_bn(batches, fresh.model)
    fresh.model.eval()
    with torch.no_grad():
        train_f, val_f = (net.forward_until(fresh.model, "head", transform(x, train=False)).to(prep.cache_dtype)
                          for x in (fresh.data.train_x, fresh.data.val_x))  # as the run keeps them
    expected = probe.fit(train_f, fresh.data.train_y, len(fresh.data.classes), fitted["l2"])
    weight, bias = heads[0]
    assert torch.allclose(weight, expected.weight, atol=1e-5) and torch.allclose(bias, expected.bias, atol=1e-5)
    assert fitted["train_acc"] == pytest.approx(expected.accuracy, abs=1e-6)
    val_acc = float((expected.predict(val_f) == fresh.data.val_y).float().mean())
    assert fitted["val_acc"] == pytest.approx(val_acc, abs=1e-6)


def test_a_resumed_run_does_not_fit_the_head_again(tmp_path):
    cfg = config(model="tiny", weights="pretrained", head_first=True, epochs=2, limit_per_class=6)
    first = Recorder()
    train(prepare(cfg), tmp_path, first, lambda: bool(first.of(Epoch)))
    assert first.kinds[-1] is Cancelled and len(first.of(HeadFitted)) == 1
    resumed = run(cfg, tmp_path, resume=True)
    assert not resumed.of(HeadFitted) and resumed.kinds[-1] is Finished


def test_head_first_with_random_weights_is_a_caveat():
    assert any("--head-first" in c for c in RunConfig(weights="none", head_first=True).caveats())
    assert not RunConfig(head_first=True).caveats()


def test_head_first_first_re_estimates_the_batchnorm_of_the_groups_that_train(tmp_path):
    frozen = ("stem", "layer1", "layer2")
    cfg = config(model="tiny", weights="pretrained", head_first=True, frozen=frozen, limit_per_class=8,
                 augment=("crop",))
    prep = prepare(cfg)
    before = {k: v.clone() for k, v in prep.model.state_dict().items() if "running" in k}
    seen = {}

    def emit(cls, **fields):
        if cls is HeadFitted:
            seen.update(fields, state={k: v.clone() for k, v in prep.model.state_dict().items() if "running" in k})

    train(prep, tmp_path, emit, lambda: False)
    assert seen["batchnorm_refreshed"] == ["layer3", "layer4"]  # the head has no BatchNorm
    # What torch's own update_bn computes over the training images (centred as validation's), batches of 8.
    fresh = prepare(msgspec.structs.replace(cfg, augment=()))
    transform = BatchTransform(fresh.config.image_size, (), torch.device("cpu"))
    batches = [(transform(x, train=False),) for x in fresh.data.train_x.split(cfg.batch_size)]
    layers = torch.nn.Sequential(fresh.model.layer3, fresh.model.layer4)
    inputs = [(net.forward_until(fresh.model.eval(), "layer3", b[0]),) for b in batches]
    torch.optim.swa_utils.update_bn([i[0] for i in inputs], layers)
    expected = {f"{name}.{k}": v for name in ("layer3", "layer4")
                for k, v in getattr(fresh.model, name).state_dict().items() if "running" in k}
    for key, value in seen["state"].items():
        if key.startswith(("layer3.", "layer4.")):
            assert torch.allclose(value, expected[key], atol=1e-4), key
            assert not torch.allclose(value, before[key]), key
        else:
            assert torch.equal(value, before[key]), key  # frozen: untouched


# -- the probe preset: the probe alone as a run ------------------------------------------------------


def probe_config(**fields) -> RunConfig:
    return configure("probe", **{"data": "builtin", "model": "tiny", "device": "cpu", "limit_per_class": 8, **fields})


def test_a_probe_run_is_one_fit_validated_and_saved_as_its_one_epoch(tmp_path):
    prep = prepare(probe_config())
    recorder = Recorder()
    trainer = Trainer(prep, tmp_path, recorder, lambda: False)
    trainer.run()
    assert recorder.kinds.count(Epoch) == 1 and recorder.kinds[-1] is Finished
    assert Progress not in recorder.kinds and HeadFitted not in recorder.kinds  # no SGD step, no fine-tune after
    (epoch,) = recorder.of(Epoch)
    assert epoch["epoch"] == 1 and epoch["lrs"] == {}
    note = next(n["message"] for n in recorder.of(Note) if n["message"].startswith("linear probe"))
    l2 = float(re.search(r"L2 (\S+) chosen", note).group(1))
    assert l2 in probe.L2_GRID and "k-NN on the same features" in note

    # The epoch is the probe fitted at that penalty on the cached training features, scored on the validation ones.
    train_f, val_f = trainer.features
    assert train_f.dtype == torch.float32  # the probe's features are not rounded to fp16
    expected = probe.fit(train_f, prep.data.train_y, len(prep.data.classes), l2)
    assert epoch["train_acc"] == pytest.approx(expected.accuracy, abs=1e-6)
    assert epoch["train_loss"] == pytest.approx(expected.loss, abs=1e-5)
    assert epoch["val_acc"] == pytest.approx(float((expected.predict(val_f) == prep.data.val_y).float().mean()))
    knn_acc = float((knn.predict(train_f, prep.data.train_y, val_f) == prep.data.val_y).float().mean())
    assert f"val acc {knn_acc:.1%}" in note

    # best.pt is the whole network with the probe as its head: the plain model it loads into scores the same.
    assert {p.name for p in tmp_path.iterdir()} >= {"best.pt", "last.pt"} and not (tmp_path / "resume.pt").exists()
    model = TinyResNet(num_classes=len(prep.data.classes))
    model.load_state_dict(torch.load(tmp_path / "best.pt", map_location="cpu"))
    model.eval()
    transform = BatchTransform(prep.config.image_size, (), torch.device("cpu"))
    with torch.no_grad():
        predicted = model(transform(prep.data.val_x, train=False)).argmax(1)
    assert float((predicted == prep.data.val_y).float().mean()) == pytest.approx(epoch["val_acc"], abs=1.5 / len(val_f))


def test_a_probe_run_stopped_before_its_fit_fits_it_when_resumed(tmp_path):
    cfg = probe_config()
    first = Recorder()
    train(prepare(cfg), tmp_path, first, lambda: any("cached their outputs" in n["message"] for n in first.of(Note)))
    assert first.kinds[-1] is Cancelled and Epoch not in first.kinds
    resumed = run(cfg, tmp_path, resume=True)
    assert resumed.kinds.count(Epoch) == 1 and resumed.kinds[-1] is Finished
    assert any(n["message"].startswith("linear probe") for n in resumed.of(Note))


def test_the_probe_chooses_its_penalty_from_the_training_images_alone(tmp_path, monkeypatch):
    """By construction (cross-validation is handed the training features and folds of them only) and by
    behaviour: other validation images, and other labels on them, leave the chosen penalty and head as they were."""
    calls = []
    choose = probe.choose_l2

    def spy(features, labels, classes, folds, **kwargs):
        calls.append((features, labels, folds))
        return choose(features, labels, classes, folds, **kwargs)

    monkeypatch.setattr(probe, "choose_l2", spy)
    cfg = probe_config()
    prep = prepare(cfg)
    first = Trainer(prep, tmp_path / "a", Recorder(), lambda: False)
    first.run()
    (features, labels, folds), = calls
    n = len(prep.data.train_y)
    assert torch.equal(features, first.features[0]) and torch.equal(labels, prep.data.train_y)
    assert len(folds) == probe.CV_FOLDS
    for tr, held in folds:
        assert not set(tr) & set(held) and sorted(tr + held) == list(range(n))

    data = datasets.load(cfg.data, image_size=prep.config.image_size, augment=(), val_fraction=cfg.val_fraction,
                         limit_per_class=cfg.limit_per_class, seed=cfg.seed)
    data.val_x = data.val_x.flip(-1).roll(5, dims=-2)
    data.val_y = data.val_y.roll(1)
    other = prepare(cfg, data=data)
    train(other, tmp_path / "b", Recorder(), lambda: False)
    assert len(calls) == 2 and torch.equal(calls[1][0], features)
    assert torch.equal(other.model.fc.weight, prep.model.fc.weight)
    assert torch.equal(other.model.fc.bias, prep.model.fc.bias)


@pytest.mark.parametrize(("fields", "words"), [
    ({"epochs": 5}, "--epochs 5 with --preset probe"),
    ({"augment": ("crop",)}, "--augment with --preset probe"),
    ({"frozen": ("stem",)}, "--freeze with --preset probe"),
    ({"head_first": False}, "--head-first off with --preset probe"),
])
def test_settings_the_probe_would_ignore_are_refused_in_one_line(fields, words):
    with pytest.raises(ConfigError, match=f"^{re.escape(words)}") as caught:
        probe_config(**fields)
    assert "\n" not in str(caught.value)
    with pytest.raises(BadInput, match=re.escape(words)):  # a config from elsewhere, as the worker checks it
        train_check(msgspec.structs.replace(probe_config(), **fields))
