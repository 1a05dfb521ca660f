"""Training runs on the CPU at 32 px: freezing, optimizer groups, unfreezing, the cache, checkpoints."""

from __future__ import annotations

import re

import pytest
import torch
import torchvision

from tltui.core.errors import BadInput, RunFailure
from tltui.core.groups import BACKBONE, GROUPS
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import Cancelled, Epoch, Finished, Note, Progress, Started, Unfrozen
from tltui.engine import augment, cache, checkpoint, model as net, optim
from tltui.engine.tiny import TinyResNet
from tltui.engine.train import Trainer, check_resume, prepare, train

SMALL = dict(data="builtin", weights="none", device="cpu", image_size=32, limit_per_class=4, batch_size=8, epochs=1,
             val_fraction=0.05, schedule="constant", optimizer="sgd", lr=1e-2)


MODELS = ("resnet50", "tiny")
ONE_VAL = 0.01
"""A validation fraction that leaves one image per class of 120: for the runs whose assertions compare runs
with each other or read no accuracy at all (a ResNet-50 at 32 px spent most of its time on 60 of them)."""


def config(**overrides) -> RunConfig:
    return RunConfig(**{**SMALL, **overrides})


class Recorder:
    """The ``emit`` callback: keeps (event class, fields) pairs."""

    def __init__(self) -> None:
        self.events: list[tuple[type, dict]] = []

    def __call__(self, cls, **fields) -> None:
        cls(**fields)  # the fields must make a valid event
        self.events.append((cls, fields))

    def of(self, cls) -> list[dict]:
        return [fields for c, fields in self.events if c is cls]

    @property
    def kinds(self) -> list[type]:
        return [c for c, _ in self.events]


def never() -> bool:
    return False


def run(cfg: RunConfig, run_dir, stop=never, resume=False, prep=None) -> Recorder:
    recorder = Recorder()
    train(prep or prepare(cfg), run_dir, recorder, stop, resume=resume)
    return recorder


def cancelled_after_epoch_1(cfg: RunConfig, run_dir) -> Recorder:
    """``cfg`` (two epochs or more) cancelled once its first epoch is saved: it leaves a resume.pt, which a
    finished run does not."""
    recorder = Recorder()
    train(prepare(cfg), run_dir, recorder, lambda: bool(recorder.of(Epoch)))
    assert recorder.kinds[-1] is Cancelled and (run_dir / "resume.pt").is_file()
    return recorder


def group_state(model, groups) -> dict[str, torch.Tensor]:
    prefixes = tuple(f"{m}." for g in groups for m in net.MODULES[g])
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith(prefixes)}


# -- freezing --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_frozen_groups_and_their_batchnorm_statistics_stay_bit_identical(tmp_path, model):
    frozen = ("stem", "layer1", "layer2", "layer3")
    prep = prepare(config(model=model, frozen=frozen, augment=("flip",), val_fraction=ONE_VAL))  # flip: the full path
    assert prep.path == "full"
    before = group_state(prep.model, frozen)
    trained_before = group_state(prep.model, ("layer4",))
    events = run(prep.config, tmp_path, prep=prep)
    assert events.of(Finished)
    after = group_state(prep.model, frozen)
    assert before.keys() == after.keys() and any("running_mean" in k for k in before)
    for key in before:
        assert torch.equal(before[key], after[key]), key
    assert not torch.equal(trained_before["layer4.0.bn1.running_mean"],
                           prep.model.state_dict()["layer4.0.bn1.running_mean"])


@pytest.mark.parametrize("model", MODELS)
def test_bn_train_lets_frozen_statistics_drift_the_pitfall(tmp_path, model):
    prep = prepare(config(model=model, frozen=("stem", "layer1", "layer2", "layer3"), bn="train",
                          val_fraction=ONE_VAL))
    assert prep.path == "full"  # the cache needs frozen BatchNorm
    before = group_state(prep.model, ("layer2",))
    run(prep.config, tmp_path, prep=prep)
    after = prep.model.state_dict()
    assert torch.equal(before["layer2.0.conv1.weight"], after["layer2.0.conv1.weight"])
    assert not torch.equal(before["layer2.0.bn1.running_mean"], after["layer2.0.bn1.running_mean"])


# -- the optimizer ---------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_optimizer_has_its_lr_per_trainable_group_and_no_decay_on_norms_and_biases(tmp_path, model):
    cfg = config(model=model, frozen=("stem", "layer1"), lr=0.1, lr_decay=0.5, group_lrs={"layer3": 0.003},
                 momentum=0.8, weight_decay=0.01)
    prep = prepare(cfg)
    trainer = Trainer(prep, tmp_path, Recorder(), never)
    trainer.start_optimizer()
    opt = trainer.optimizer
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["nesterov"] is False
    assert [g["name"] for g in opt.param_groups] == ["layer2", "layer2", "layer3", "layer3", "layer4", "layer4",
                                                     "head", "head"]
    assert optim.lrs(opt) == pytest.approx({"layer2": 0.1 * 0.5**3, "layer3": 0.003, "layer4": 0.1 * 0.5, "head": 0.1})
    assert all(g["lr"] == optim.lrs(opt)[g["name"]] and g["momentum"] == 0.8 for g in opt.param_groups)
    by_id = {id(p): name for name, p in prep.model.named_parameters()}
    for weights, norms in zip(opt.param_groups[::2], opt.param_groups[1::2], strict=True):
        group = weights["name"]
        assert {id(p) for p in weights["params"] + norms["params"]} == {
            id(p) for p in net.group_parameters(prep.model, group)}
        assert weights["weight_decay"] == 0.01 and norms["weight_decay"] == 0
        assert all(by_id[id(p)].endswith("weight") and p.ndim == (2 if group == "head" else 4)
                   for p in weights["params"])
        assert all(by_id[id(p)].endswith("bias") or ".bn" in by_id[id(p)] or ".downsample.1" in by_id[id(p)]
                   for p in norms["params"]), group
    in_optimizer = {id(p) for g in opt.param_groups for p in g["params"]}
    assert all(p.requires_grad == (id(p) in in_optimizer) for p in prep.model.parameters())


def test_weight_decay_shrinks_weights_but_not_norms_or_biases():
    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 6, 2))
    for kind in ("sgd", "adamw"):
        opt = optim.build(kind, [("head", list(block.parameters()), 0.1)], momentum=0.9, weight_decay=0.5)
        before = {name: p.detach().clone() for name, p in block.named_parameters()}
        for p in block.parameters():
            p.grad = torch.zeros_like(p)  # no gradient: only weight decay can move a parameter
        opt.step()
        moved = {name for name, p in block.named_parameters() if not torch.equal(p, before[name])}
        assert moved == {"0.weight", "3.weight"}, kind
        for name in moved:
            torch.testing.assert_close(dict(block.named_parameters())[name], before[name] * (1 - 0.1 * 0.5))


def test_adamw_and_the_schedules():
    params = [torch.nn.Parameter(torch.zeros(2))]
    opt = optim.build("adamw", [("head", params, 0.5)], momentum=0.9, weight_decay=0.01)
    assert isinstance(opt, torch.optim.AdamW) and [g["weight_decay"] for g in opt.param_groups] == [0.01, 0]
    assert [optim.factor("constant", s, 10) for s in (0, 9)] == [1, 1]
    assert optim.factor("cosine", 0, 10) == 1 and optim.factor("cosine", 5, 10) == pytest.approx(0.5)
    cycle = [optim.factor("onecycle", s, 100) for s in range(100)]
    assert cycle[0] == pytest.approx(1 / 25) and max(cycle) == pytest.approx(1, abs=1e-3)
    assert cycle.index(max(cycle)) == 30 and cycle[-1] < 1e-3


@pytest.mark.parametrize("model", MODELS)
def test_gradual_unfreezing_adds_groups_and_keeps_momentum(tmp_path, monkeypatch, model):
    cfg = config(model=model, frozen=BACKBONE, unfreeze={"layer4": 2, "layer3": 3}, epochs=3, augment=(), lr=0.05,
                 lr_decay=0.1, schedule="cosine", val_fraction=ONE_VAL)
    prep = prepare(cfg)
    assert prep.path == "cached:layer3"  # the lowest group that ever trains
    added = []
    original = torch.optim.SGD.add_param_group
    monkeypatch.setattr(torch.optim.SGD, "add_param_group",
                        lambda self, group: (added.append(group["name"]), original(self, group))[1])
    snapshots = {}
    head = prep.model.fc.weight

    def emit(cls, **fields):
        recorder(cls, **fields)
        opt = trainer.optimizer
        if cls is Epoch:
            snapshots[f"epoch{fields['epoch']}"] = (opt, opt.state[head]["momentum_buffer"].clone())
        if cls is Unfrozen:
            snapshots[f"unfrozen{fields['epoch']}"] = (opt, opt.state[head]["momentum_buffer"].clone())
            group = fields["groups"][0]
            assert all(p.requires_grad for p in net.group_parameters(prep.model, group))
            assert getattr(prep.model, group)[0].bn1.training
            step = trainer.global_step
            expected = cfg.group_lr(group) * optim.factor("cosine", step, trainer.total_steps)
            assert fields["lrs"] == {group: pytest.approx(expected)}
            assert [g["lr"] for g in opt.param_groups[-2:]] == pytest.approx([expected, expected])

    recorder = Recorder()
    trainer = Trainer(prep, tmp_path, emit, never)
    trainer.run()

    # The head's two param groups (weights, then norms and biases) when the optimizer was made, then two per join.
    assert added == ["head", "head", "layer4", "layer4", "layer3", "layer3"]
    assert [(f["epoch"], f["groups"]) for f in recorder.of(Unfrozen)] == [(2, ["layer4"]), (3, ["layer3"])]
    assert [g["name"] for g in trainer.optimizer.param_groups] == added
    assert snapshots["unfrozen2"][0] is snapshots["epoch1"][0] is trainer.optimizer
    assert torch.equal(snapshots["unfrozen2"][1], snapshots["epoch1"][1])  # momentum survived the join
    assert torch.equal(snapshots["unfrozen3"][1], snapshots["epoch2"][1])
    assert [set(f["lrs"]) for f in recorder.of(Epoch)] == [{"head"}, {"head", "layer4"}, {"head", "layer4", "layer3"}]


# -- the boundary cache ----------------------------------------------------------------------


@pytest.mark.parametrize("model_name", MODELS)
@pytest.mark.parametrize("dtype, tolerance", [(torch.float32, 1e-5), (torch.float16, 3e-2)])
def test_cached_path_gives_the_same_loss_and_head_gradients(dtype, tolerance, model_name):
    torch.manual_seed(0)
    model, _, _ = net.build(model_name, 10, "none")
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    labels = torch.arange(6) % 10
    prepare_input = augment.BatchTransform(32, (), torch.device("cpu"))
    trainable = {"layer4", "head"}

    def loss_and_grads(forward, x):
        net.set_trainable(model, trainable, "freeze")
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(forward(x), labels)
        loss.backward()
        return loss.detach(), model.fc.weight.grad.clone(), model.layer4[-1].conv1.weight.grad.clone()

    full = loss_and_grads(model, prepare_input(images, train=False))
    model.eval()
    features = cache.build(model, "layer4", images, lambda x: prepare_input(x, train=False), batch_size=4,
                           dtype=dtype, device=torch.device("cpu"))
    assert features.dtype == dtype and features.shape == (6, *net.input_shape(model, "layer4", 32))
    cached = loss_and_grads(lambda h: net.forward_from(model, "layer4", h.float()), features)
    # The loss and the head's gradient; in fp32 also layer4's (its BatchNorm normalises over 6 values
    # at 1x1, which magnifies fp16's rounding).
    compared = zip(full, cached, strict=True) if dtype == torch.float32 else zip(full[:2], cached[:2], strict=True)
    for a, b in compared:
        assert ((b - a).norm() / a.norm()).item() < tolerance


@pytest.mark.parametrize("model", MODELS)
def test_cached_and_full_runs_agree_and_a_tiny_budget_falls_back(tmp_path, monkeypatch, model):
    cfg = config(model=model, frozen=("stem", "layer1", "layer2", "layer3"), augment=(), epochs=2, lr=0.01,
                 val_fraction=ONE_VAL)
    cached_prep = prepare(cfg)
    cached_prep.cache_dtype = torch.float32
    cached = run(cfg, tmp_path / "a", prep=cached_prep)
    monkeypatch.setenv(cache.ENV_BUDGET, "0.01")
    full = run(cfg, tmp_path / "b")
    assert cached.of(Started)[0]["path"] == cached.of(Finished)[0]["path"] == "cached:layer4"
    assert full.of(Started)[0]["path"] == full.of(Finished)[0]["path"] == "full"
    assert any("cache budget" in n["message"] for n in full.of(Note))
    for a, b in zip(cached.of(Epoch), full.of(Epoch), strict=True):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-5), key


# -- whole runs ------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_events_and_checkpoints_of_a_run(tmp_path, model):
    cfg = config(model=model, frozen=BACKBONE, augment=(), epochs=3, batch_size=4, limit_per_class=8,
                 val_fraction=ONE_VAL)
    recorder = run(cfg, tmp_path)
    kinds = recorder.kinds
    assert kinds[0] is Started and kinds[-1] is Finished and kinds.count(Finished) == 1
    started, finished = recorder.of(Started)[0], recorder.of(Finished)[0]
    assert started["config"].image_size == 32 and started["n_train"] == 80 and started["path"] == "cached:head"
    assert started["model"] == model and started["weights"] == "none (random initialisation)"
    features = 2048 if model == "resnet50" else 128
    assert started["trainable"] == started["params"]["head"] == features * 10 + 10
    epochs = recorder.of(Epoch)
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert all(set(e["lrs"]) == {"head"} and e["images_per_s"] > 0 for e in epochs)
    assert finished["best_val_acc"] == max(e["val_acc"] for e in epochs)
    assert epochs[finished["best_epoch"] - 1]["best"]
    assert len(finished["confusion"]) == 10 and all(len(row) == 10 for row in finished["confusion"])
    # best.pt is the full network (assembled although training ran on the cache) and plain torchvision
    # (ResNet-50) or the same torchvision ResNet subclass (tiny) loads it.
    plain = torchvision.models.resnet50(num_classes=10) if model == "resnet50" else TinyResNet(num_classes=10)
    plain.load_state_dict(torch.load(tmp_path / "best.pt", weights_only=True))
    plain.load_state_dict(torch.load(tmp_path / "last.pt", weights_only=True))
    # A finished run cannot resume, so its resume.pt (weights and optimizer state: 283 MB of ResNet-50's
    # 470 under AdamW) is gone; a cancelled one keeps it (test_cancel_then_resume_...).
    assert not (tmp_path / "resume.pt").exists()


def test_best_pt_reproduces_the_reported_accuracy(tmp_path):
    cfg = config(frozen=("stem", "layer1", "layer2", "layer3"), augment=("flip",), epochs=2, val_fraction=ONE_VAL)
    prep = prepare(cfg)
    finished = run(cfg, tmp_path, prep=prep).of(Finished)[0]
    plain = torchvision.models.resnet50(num_classes=10).eval()
    plain.load_state_dict(torch.load(tmp_path / "best.pt", weights_only=True))
    x = augment.BatchTransform(32, (), torch.device("cpu"))(prep.data.val_x, train=False)
    with torch.no_grad():
        predicted = plain(x).argmax(1)
    assert (predicted == prep.data.val_y).float().mean().item() == pytest.approx(finished["best_val_acc"])
    confusion = torch.tensor(finished["confusion"])
    assert confusion.sum() == len(prep.data.val_y) and confusion[0].sum() == (prep.data.val_y == 0).sum()


def test_progress_reports_during_an_epoch(tmp_path, monkeypatch):
    monkeypatch.setattr("tltui.engine.train.PROGRESS_MIN_INTERVAL_S", 0.0)
    recorder = run(config(frozen=BACKBONE, augment=("flip",), batch_size=4, limit_per_class=4, val_fraction=ONE_VAL),
                   tmp_path)
    progress = recorder.of(Progress)
    assert [p["step"] for p in progress] == list(range(1, 11))
    assert all(p["steps"] == 10 and p["images_per_s"] > 0 and p["eta"] >= 0 for p in progress)


def test_epochs_shorter_than_the_progress_interval_still_report_progress(tmp_path, monkeypatch):
    monkeypatch.setattr("tltui.engine.train.PROGRESS_MIN_INTERVAL_S", 0.2)
    cfg = config(model="tiny", frozen=BACKBONE, augment=("flip",), batch_size=16, epochs=40)
    recorder = run(cfg, tmp_path)
    epochs = recorder.of(Epoch)
    assert epochs[-1]["elapsed"] > 0.4 and epochs[0]["elapsed"] < 0.2  # epochs far shorter than the interval
    assert recorder.of(Progress)


@pytest.mark.slow
@pytest.mark.timeout(1200)  # CPU-bound training: 69 s alone, 320 s beside another test process (xdist)
def test_a_short_run_on_builtin_learns(tmp_path):
    """From random weights (no ImageNet here): frozen random features stay near chance on this set, by
    design, so layer3 and up train, on the cache of layer2's outputs. About 30 s on 2 cores."""
    cfg = config(frozen=("stem", "layer1", "layer2"), augment=(), epochs=6, limit_per_class=0, batch_size=32,
                 optimizer="adamw", lr=1e-3, schedule="cosine", val_fraction=0.2)
    recorder = run(cfg, tmp_path)
    assert recorder.of(Started)[0]["path"] == "cached:layer3"
    accuracies = [e["val_acc"] for e in recorder.of(Epoch)]
    assert max(accuracies) >= 2.5 * 0.1 and accuracies[-1] > accuracies[0]


def test_cancel_then_resume_finishes_with_the_later_epochs_only(tmp_path):
    cfg = config(frozen=BACKBONE, augment=(), epochs=3, limit_per_class=8, lr=0.001, val_fraction=ONE_VAL)
    whole = run(cfg, tmp_path / "whole")
    epochs_seen = []

    def stop_after_epoch_1() -> bool:
        return bool(epochs_seen)

    first = Recorder()
    prep = prepare(cfg)
    train(prep, tmp_path / "run", lambda cls, **f: (first(cls, **f), cls is Epoch and epochs_seen.append(1)),
          stop_after_epoch_1)
    assert first.kinds[-1] is Cancelled and first.of(Cancelled)[0]["epoch"] == 1
    assert [e["epoch"] for e in first.of(Epoch)] == [1]
    assert (tmp_path / "run" / "last.pt").is_file() and (tmp_path / "run" / "resume.pt").is_file()

    # resume.pt holds all a resume reads, weights included: last.pt (for the user) is not needed.
    (tmp_path / "run" / "last.pt").write_text("not weights")
    second = run(cfg, tmp_path / "run", resume=True)
    assert second.of(Started)[0]["resumed_from"] == 1
    assert [e["epoch"] for e in second.of(Epoch)] == [2, 3]
    assert second.kinds[-1] is Finished
    # Picking up where it stopped gives the run that never stopped.
    for a, b in zip(whole.of(Epoch)[1:], second.of(Epoch), strict=False):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_acc"] == b["val_acc"]
    final = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    reference = torch.load(tmp_path / "whole" / "last.pt", weights_only=True)
    torch.testing.assert_close(final["fc.weight"], reference["fc.weight"])


def test_cancel_in_the_middle_of_an_epoch_resumes_at_that_step(tmp_path):
    cfg = config(frozen=("stem", "layer1", "layer2", "layer3"), augment=("flip",), epochs=2, batch_size=4,
                 val_fraction=ONE_VAL)
    whole = run(cfg, tmp_path / "whole")
    polls = []

    def stop_at_third_batch() -> bool:
        polls.append(1)
        return len(polls) == 3

    first = run(cfg, tmp_path / "run", stop=stop_at_third_batch)
    assert first.kinds[-1] is Cancelled and first.of(Cancelled)[0]["epoch"] == 0 and not first.of(Epoch)
    second = run(cfg, tmp_path / "run", resume=True)
    assert second.of(Started)[0]["resumed_from"] == 0
    assert [e["epoch"] for e in second.of(Epoch)] == [1, 2]
    for a, b in zip(whole.of(Epoch), second.of(Epoch), strict=False):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)


def test_a_huge_learning_rate_fails_with_a_hint(tmp_path):
    cfg = config(augment=(), lr=1000, limit_per_class=8, val_fraction=ONE_VAL)
    with pytest.raises(RunFailure) as caught:
        run(cfg, tmp_path)
    assert re.fullmatch(r"(validation )?loss became (NaN|infinite) at epoch 1(, step \d+)?", caught.value.reason)
    assert "lower --lr (now 1000)" in caught.value.hint


def test_out_of_memory_fails_with_a_hint(tmp_path, monkeypatch):
    def out_of_memory(self, x, y):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr("tltui.engine.train.TrainStep.__call__", out_of_memory)
    with pytest.raises(RunFailure) as caught:
        run(config(frozen=BACKBONE, augment=("flip",)), tmp_path)
    assert caught.value.reason == "out of GPU memory at epoch 1"
    assert caught.value.hint == "lower --batch-size (now 8) or --image-size (now 32)"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(frozen=GROUPS), "nothing would train"),
        (dict(frozen=GROUPS, unfreeze={"head": 2}, epochs=2), "nothing trains in epoch 1"),
        (dict(batch_size=1), "--batch-size 1 cannot train BatchNorm"),
        (dict(device="tpu"), "unknown device"),
        (dict(data="/no/such/folder"), "no such folder"),
        (dict(weights="/no/such/weights.pt"), "no such file"),
    ],
)
def test_prepare_rejects_bad_input_in_one_line(overrides, message):
    with pytest.raises(BadInput, match=re.escape(message)) as caught:
        prepare(config(**overrides))
    assert "\n" not in str(caught.value)


class Killed(Exception):
    """Stands for kill -9: the run stops where it is, with no chance to save."""


def test_short_epochs_are_checkpointed_at_their_end(tmp_path):
    cfg = config(model="tiny", limit_per_class=100, epochs=6, batch_size=32, augment=(), val_fraction=0.1)
    recorder = Recorder()

    def emit(cls, **fields):
        recorder(cls, **fields)
        if cls is Epoch and fields["epoch"] == 4:
            raise Killed  # after epoch 4's results, before its checkpoint

    with pytest.raises(Killed):
        train(prepare(cfg), tmp_path, emit, never)
    assert any(n["message"].startswith("checkpoints: at the end of every epoch") for n in recorder.of(Note))
    assert recorder.of(Epoch)[-1]["elapsed"] < 60  # epochs far shorter than a minute
    state = torch.load(tmp_path / "resume.pt", weights_only=True)
    assert state["epochs_done"] >= 2 and state["step_in_epoch"] == 0  # at most one short epoch lost
    resumed = run(cfg, tmp_path, resume=True)
    assert resumed.of(Started)[0]["resumed_from"] == state["epochs_done"]
    assert resumed.kinds[-1] is Finished


def test_resume_refuses_a_checkpoint_it_cannot_use_in_one_line(tmp_path):
    cfg = config(model="tiny", frozen=BACKBONE, augment=(), epochs=2)
    cancelled_after_epoch_1(cfg, tmp_path)
    checkpoint = tmp_path / "resume.pt"
    good = torch.load(checkpoint, weights_only=True)
    other = {**good, "model": torchvision.models.resnet18(num_classes=10).state_dict()}
    legacy = {k: v for k, v in good.items() if k != "model"}  # a checkpoint of an older tltui: weights in last.pt
    for content, message in (
        (b"not a checkpoint", "is not a checkpoint tltui can read"),
        ({}, "is not a whole checkpoint (it lacks classes, epochs_done, step_in_epoch)"),
        (other, "holds weights of another model than this run's tiny (wrong shapes: conv1.weight"),
        (legacy, "last.pt: not a loadable state_dict"),
    ):
        if isinstance(content, bytes):
            checkpoint.write_bytes(content)
        else:
            torch.save(content, checkpoint)
        (tmp_path / "last.pt").write_text("text, not weights")
        with pytest.raises(BadInput, match=re.escape(message)) as caught:
            check_resume(cfg, tmp_path)
        assert "\n" not in str(caught.value)


def test_resume_refuses_a_checkpoint_of_a_newer_tltui_in_one_line(tmp_path):
    cfg = config(model="tiny", frozen=BACKBONE, augment=(), epochs=2)
    cancelled_after_epoch_1(cfg, tmp_path)
    state = torch.load(tmp_path / "resume.pt", weights_only=True)
    assert state["version"] == checkpoint.VERSION
    torch.save({**state, "version": checkpoint.VERSION + 1}, tmp_path / "resume.pt")
    with pytest.raises(BadInput, match=f"written by a newer tltui \\(checkpoint version {checkpoint.VERSION + 1}"):
        check_resume(cfg, tmp_path)


def test_a_version_1_checkpoint_resumes_with_its_momentum(tmp_path):
    """Before version 2, each layer group was one param group, decay on every parameter: resume splits it."""
    cfg = config(model="tiny", frozen=("stem", "layer1", "layer2"), augment=(), epochs=2, weight_decay=0.01)
    cancelled_after_epoch_1(cfg, tmp_path)
    state = torch.load(tmp_path / "resume.pt", weights_only=True)
    model = prepare(cfg).model
    model.load_state_dict(state["model"])
    old = torch.optim.SGD([{"params": net.group_parameters(model, g), "name": g, "base_lr": 0.1, "lr": 0.1}
                           for g in state["groups"]], lr=0.1, momentum=0.9, weight_decay=0.01)
    for p in old.param_groups[0]["params"] + old.param_groups[-1]["params"]:
        p.grad = torch.randn_like(p)
    old.step()  # momentum for layer3 and the head, none yet for layer4
    del state["version"]
    torch.save({**state, "optimizer": old.state_dict()}, tmp_path / "resume.pt")

    prep = prepare(cfg)
    trainer = Trainer(prep, tmp_path, Recorder(), never)
    assert trainer.restore() == 1
    names = {id(p): name for name, p in model.named_parameters()}
    buffers = {names[id(p)]: s["momentum_buffer"] for p, s in old.state.items()}
    restored = dict(prep.model.named_parameters())
    assert set(buffers) == {n for n, p in restored.items() if p in trainer.optimizer.state}
    for name, buffer in buffers.items():
        assert torch.equal(trainer.optimizer.state[restored[name]]["momentum_buffer"], buffer), name
    assert [(g["name"], g["weight_decay"]) for g in trainer.optimizer.param_groups] == [
        (g, decay) for g in ("layer3", "layer4", "head") for decay in (0.01, 0.0)]
    assert run(cfg, tmp_path, resume=True).kinds[-1] is Finished
