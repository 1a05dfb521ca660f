"""The generated PyTorch script: valid Python for every kind of config, exact LRs, and, run against real
torch in a child process, the model and optimizer the engine builds (param groups, LRs, weight decay,
unfreezing, frozen BatchNorm)."""

from __future__ import annotations

import ast
import itertools
import json
import subprocess
import sys
import textwrap

import msgspec
import pytest

from tltui.core.cluster import generate_ddp
from tltui.core.codegen import TINY_WEIGHTS, WIDTH, command_line, data_folder, describe, generate, lr_expression
from tltui.core.groups import BACKBONE, GROUPS
from tltui.core.presets import PRESETS, apply_preset
from tltui.core.protocol.config import RunConfig
from tltui.ui.lesson.lr_cascade import FACTORS, LRS

BASE = RunConfig(data="builtin-shifted", epochs=4)
PLANS = [
    {},
    {"layer4": 2},
    {"layer4": 2, "layer3": 3, "layer2": 4},
    {"stem": 4, "layer1": 4},
]


def many_configs() -> list[RunConfig]:
    configs = []
    presets = [apply_preset(BASE, name) for name in PRESETS]
    for preset, optimizer, schedule in itertools.product(presets, ("sgd", "adamw"), ("constant", "cosine", "onecycle")):
        configs.append(msgspec.structs.replace(preset, optimizer=optimizer, schedule=schedule))
    for plan, bn in itertools.product(PLANS, ("freeze", "train")):
        configs.append(msgspec.structs.replace(BASE, frozen=BACKBONE, unfreeze=plan, bn=bn, lr_decay=0.385))
    configs += [
        msgspec.structs.replace(BASE, weights=weights, data=data, label_smoothing=smoothing, augment=augment)
        for weights, data, smoothing, augment in (
            ("none", "/data/birds", 0.1, ()),
            ("imagenet-v1", "./my \"quoted\" birds", 0.0, ("flip",)),
            ("/runs/20261126-1405", "builtin", 0.0, ("crop", "color")),
        )
    ]
    configs.append(msgspec.structs.replace(BASE, group_lrs={"head": 0.05, "layer4": 1e-3}, frozen=("stem",)))
    configs.append(msgspec.structs.replace(BASE, head_first=True, shuffle_labels=True, data="/data/birds"))
    configs += [msgspec.structs.replace(BASE, warmup_epochs=1.5, schedule=schedule, deterministic=True)
                for schedule in ("constant", "cosine")]
    configs += [msgspec.structs.replace(BASE, model="tiny", data=data, weights=weights, shuffle_labels=shuffle)
                for data, weights, shuffle in (("builtin", "pretrained", True), ("/data/birds", "none", False),
                                               ("eurosat", "/runs/1", True), ("flowers102", "pretrained", False))]
    for config in configs:
        config.check()
    return configs


CONFIGS = many_configs()


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: command_line(c)[12:60])
def test_the_script_is_valid_python_within_a_code_views_width(config):
    code = generate(config)
    compile(ast.parse(code), "<generated>", "exec")
    compile(ast.parse(generate_ddp(config)), "<generated DDP>", "exec")
    paths = [text for text in (config.data, config.weights, TINY_WEIGHTS, data_folder(config)) if "/" in text]
    long = [line for line in code.splitlines() if len(line) > WIDTH and not any(p in line for p in paths)]
    assert not long


def test_each_lr_in_the_code_is_exactly_the_configs():
    for lr, decay, group in itertools.product(LRS, FACTORS, GROUPS):
        config = RunConfig(lr=lr, lr_decay=decay)
        value = eval(lr_expression(config, group), {"HEAD_LR": lr, "DECAY": decay})
        assert value == config.group_lr(group), (lr, decay, group)
    override = RunConfig(group_lrs={"layer4": 0.003})
    assert lr_expression(override, "layer4") == "0.003"


def test_the_header_says_what_trains_when_and_the_tltui_command():
    config = msgspec.structs.replace(BASE, frozen=BACKBONE, unfreeze={"layer4": 3, "layer3": 3}, lr_decay=0.3)
    assert describe(config) == ("head trains from the start; layer3, layer4 join at epoch 3; "
                                "stem..layer2 frozen throughout")
    code = generate(config)
    assert "--freeze stem,layer1,layer2,layer3,layer4" in code and "--unfreeze 3:layer3,3:layer4" in code
    assert code.count('unfreeze(model, optimizer, "') == 2


def test_the_probes_script_fits_the_head_and_saves_it_without_an_epoch():
    """``tltui train --preset probe`` trains no epoch after the fit: neither does its script, whose header names
    the preset (the flags alone would be feature extraction for one epoch)."""
    config = apply_preset(RunConfig(data="/data/birds", model="tiny"), "probe")
    code = generate(config)
    header = code[:code.index('"""', 5)]
    assert "tltui train /data/birds --preset probe --model tiny\n" in header and "--head-first" not in header
    main = code[code.index("def main():"):]
    assert "fit_head(model, probe_loader, device)" in main and "for epoch in" not in main
    assert 'torch.save(model.state_dict(), "best.pt")' in main and 'torch.save(model.state_dict(), "last.pt")' in main
    assert describe(config).startswith("a linear probe")
    assert command_line(config).endswith("--preset probe --model tiny")


def test_each_model_gets_its_network_weights_and_image_size():
    """A tiny run's script builds TinyResNet from the weights file tltui ships, at its 32 px, and says its
    best.pt loads into TinyResNet; ResNet-50's builds torchvision's at 224 px unless the run said otherwise."""
    tiny = generate(msgspec.structs.replace(BASE, model="tiny"))
    assert "class TinyResNet(ResNet):" in tiny and "model = TinyResNet(num_classes)" in tiny
    assert f'WEIGHTS = "{TINY_WEIGHTS}"' in tiny and TINY_WEIGHTS.endswith("tltui/engine/weights/tiny.pt")
    assert "IMAGE_SIZE = 32\n" in tiny and "resnet50" not in tiny
    assert "state_dicts for TinyResNet(num_classes=N) below, which is\ntltui.engine.tiny.TinyResNet." in tiny
    resnet = generate(BASE)
    assert "model = resnet50()" in resnet and "TinyResNet" not in resnet and "IMAGE_SIZE = 224\n" in resnet
    assert 'WEIGHTS = "IMAGENET1K_V2"' in resnet and "resnet50(num_classes=N)" in resnet
    assert "IMAGE_SIZE = 48\n" in generate(msgspec.structs.replace(BASE, model="tiny", image_size=48))


@pytest.mark.parametrize("weights", ["none", "/runs/1/best.pt", "pretrained"])
@pytest.mark.parametrize("model", ["resnet50", "tiny"])
def test_only_imagenet_weights_reach_for_the_network(model, weights):
    """Random weights, a file or the tiny model's shipped weights: nothing in either script can download
    (no socket, no torchvision weights API); ImageNet's come through ResNet50_Weights."""
    config = msgspec.structs.replace(BASE, data="/data/birds", model=model, weights=weights)
    imagenet = model == "resnet50" and weights == "pretrained"
    for code in (generate(config), generate_ddp(config)):
        reaches = [word for word in ("socket", "ResNet50_Weights", "get_state_dict", "download=True")
                   if word in code]
        assert reaches == (["socket", "ResNet50_Weights", "get_state_dict"] if imagenet else [])


def test_data_is_where_the_script_can_read_it():
    """No placeholder: a folder is read where the run read it; a generated set from the folder written beside
    the script (or, printed without one, a folder the script names when it is missing); a named set from
    where tltui downloads it, downloaded there by torchvision; a single folder needs numpy for the split."""
    folder = generate(msgspec.structs.replace(BASE, data="/data/birds"))
    assert 'DATA = "/data/birds"\n' in folder and "path/to" not in folder and "import numpy as np" in folder
    assert "VAL_FRACTION = 0.2 " in folder and "rng = np.random.default_rng(0)" in folder
    beside = generate(BASE, "x_data")
    assert ('DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)),\n                    "x_data")'
            in beside)
    alone = generate(BASE)
    assert 'DATA = "builtin-shifted_data"\n' in alone
    assert '"builtin-shifted -o FILE writes it beside FILE)")' in alone
    pets = msgspec.structs.replace(BASE, data="pets")
    named = generate(pets)
    assert f"DATA = {json.dumps(data_folder(pets))}\n" in named and data_folder(pets).endswith("/datasets")
    assert ('train_set = datasets.OxfordIIITPet(\n            DATA, "trainval", train_tf, download=True)\n'
            '        val_set = datasets.OxfordIIITPet(\n            DATA, "test", val_tf, download=True)') in named
    assert "numpy" not in named and "VAL_FRACTION" not in named


# -- against torch (a child process: the test process stays free of torch) -------------------------

DRIVER = textwrap.dedent(
    """
    import contextlib, json, sys
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from torchvision.models import resnet50
    from tltui.engine import model as net, optim

    class Images(TensorDataset):
        classes = ["a", "b", "c"]

    def param_groups(model, optimizer, key):  # name, LR, weight decay, parameters (positions in the model)
        index = {id(p): i for i, p in enumerate(model.parameters())}
        return [(pg["name"], pg[key], pg["weight_decay"], [index[id(p)] for p in pg["params"]])
                for pg in optimizer.param_groups]

    def state(ns, model, optimizer, key):
        return {"groups": param_groups(model, optimizer, key),
                "grads": {g: sorted({p.requires_grad for p in ns["params"](model, g)}) for g in ns["GROUPS"]},
                "bns": {g: [m.training for n in ns["GROUPS"][g] for m in getattr(model, n).modules()
                            if isinstance(m, torch.nn.BatchNorm2d)] for g in ns["GROUPS"]}}

    results = []
    for case in json.load(sys.stdin):
        ns, outcome = {"__name__": "generated"}, {"epochs": []}
        exec(compile(case["code"], "generated", "exec"), ns)
        weights = case["weights_file"] or None  # None stands in for ImageNet's weights
        if weights:
            torch.save(resnet50(num_classes=7).state_dict(), weights)
        torch.manual_seed(0)
        x, y = torch.randn(2, 3, 16, 16), torch.tensor([0, 2])  # one step of two images per epoch
        ns["loaders"] = lambda: (DataLoader(Images(x, y), 2, shuffle=True), DataLoader(Images(x, y), 2),
                                 *([DataLoader(Images(x, y), 2)] if "fit_head" in ns else []))  # head first
        build, evaluate, held = ns["build"], ns["evaluate"], {}

        def build_and_record(num_classes, device="cpu", **given):  # the weights are the driver's
            model, optimizer = held["model"], held["optimizer"] = build(num_classes, device=device, weights=weights)
            outcome["built"] = state(ns, model, optimizer, "lr")
            engine = case["engine"]
            outcome["engine"] = param_groups(model, optim.build(
                engine["optimizer"], [(g, net.group_parameters(model, g), lr) for g, lr in engine["lrs"]],
                momentum=engine["momentum"], weight_decay=engine["weight_decay"]), "lr")
            outcome["fc"] = list(model.fc.weight.shape)
            outcome["conv1_from_file"] = bool(weights) and torch.equal(model.conv1.weight,
                                                                       torch.load(weights)["conv1.weight"])
            return model, optimizer

        def evaluate_and_record(model, loader, device):  # called after each epoch's training
            optimizer = held["optimizer"]
            outcome["epochs"].append(state(ns, model, optimizer, "base_lr" if "base_lr" in optimizer.param_groups[0]
                                           else "lr"))
            return evaluate(model, loader, device)

        ns["build"], ns["evaluate"] = build_and_record, evaluate_and_record
        with contextlib.redirect_stdout(sys.stderr):
            ns["main"]()
        results.append(outcome)
    json.dump(results, sys.stdout)
    """
)

TORCH_CASES = [
    apply_preset(BASE, "fine-tune-late", optimizer="adamw", schedule="onecycle", epochs=2),
    msgspec.structs.replace(BASE, frozen=BACKBONE, unfreeze={"layer4": 2, "layer3": 3, "stem": 4}, lr_decay=0.3),
    msgspec.structs.replace(BASE, frozen=("stem", "layer1"), bn="train", schedule="constant", epochs=2),
    apply_preset(BASE, "head-then-unfreeze", epochs=2, weights="WEIGHTS_FILE"),
]


def engine_order(config: RunConfig, epoch: int) -> list[str]:
    """The engine's param groups during ``epoch``: those of epoch 1, then each joiner as it joins."""
    order = list(config.trainable_at(1))
    for e in range(2, epoch + 1):
        order += [g for g in config.trainable_at(e) if g not in order]
    return order


def expected_groups(config: RunConfig, groups) -> list[list]:
    """[name, lr, weight decay] of each param group: a group's weights, then its norm weights and biases."""
    return [[g, config.group_lr(g), decay] for g in groups for decay in (config.weight_decay, 0.0)]


@pytest.mark.slow
def test_the_script_builds_the_engines_model_and_optimizer_in_torch(tmp_path):
    weights_file = str(tmp_path / "backbone.pt")
    cases = [msgspec.structs.replace(c, weights=weights_file) if c.weights == "WEIGHTS_FILE" else c
             for c in TORCH_CASES]
    payload = [{"code": generate(c), "weights_file": weights_file if c.weights == weights_file else "",
                "engine": {"optimizer": c.optimizer, "momentum": c.momentum, "weight_decay": c.weight_decay,
                           "lrs": [(g, c.group_lr(g)) for g in c.trainable_at(1)]}}
               for c in cases]
    result = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(payload), capture_output=True,
                            text=True, timeout=600, cwd=tmp_path)  # the scripts save best.pt and last.pt here
    assert result.returncode == 0, result.stderr[-3000:]
    for config, outcome in zip(cases, json.loads(result.stdout), strict=True):
        # As built (weights=None standing in for ImageNet's): the engine's param groups, two per trainable
        # group at its group_lr: its weights with weight decay, its norm weights and biases without.
        built = outcome["built"]
        assert built["groups"] == outcome["engine"]
        assert [pg[:3] for pg in built["groups"]] == expected_groups(config, config.trainable_at(1))
        assert built["grads"] == {g: [g in config.trainable_at(1)] for g in GROUPS}
        assert outcome["fc"] == [3, 2048]
        assert outcome["conv1_from_file"] == (config.weights == weights_file)
        # Trained for real on a few random images: groups join at their epochs, frozen BatchNorm stays in eval.
        assert len(outcome["epochs"]) == config.epochs
        for epoch, seen in enumerate(outcome["epochs"], 1):
            trainable = config.trainable_at(epoch)
            assert [pg[:3] for pg in seen["groups"]] == expected_groups(config, engine_order(config, epoch))
            assert seen["grads"] == {g: [g in trainable] for g in GROUPS}
            for group, modes in seen["bns"].items():
                expected = group in trainable or config.bn == "train"
                assert modes == [expected] * len(modes), (epoch, group)


HEAD_DRIVER = textwrap.dedent("""
    import json, sys, types
    import torch
    from tltui.engine import probe
    payload = json.load(sys.stdin)
    script = types.ModuleType("script")
    exec(compile(payload["code"], "script.py", "exec"), script.__dict__)
    g = torch.Generator().manual_seed(0)
    y = torch.arange(90) % 3
    x = torch.randn(90, 24, generator=g) * torch.linspace(0.5, 4, 24) + 2 * torch.nn.functional.one_hot(y, 24)
    # BatchNorm statistics afresh over the training images, as torch's update_bn computes them.
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 4, 3),
                              torch.nn.BatchNorm2d(4))
    net[3].requires_grad_(False)  # a frozen group's BatchNorm keeps its statistics
    batches = [torch.randn(8, 3, 9, 9, generator=g) + 3 for _ in range(4)]
    twin = torch.nn.Sequential(*[type(m)(*([3, 4, 3] if i == 0 else [4, 4, 3] if i == 2 else [4])) for i, m in
                                 enumerate(net)])
    twin.load_state_dict(net.state_dict())
    script.refresh_bn(net, [(b, None) for b in batches], "cpu")
    torch.optim.swa_utils.update_bn(batches, twin[:2])
    refreshed = (net[1].running_mean - twin[1].running_mean).abs().max().item()
    kept = bool(torch.equal(net[3].running_var, torch.ones(4)))
    script.features = lambda model, loader, device: (x, y)  # the frozen features, as given
    script.refresh_bn = lambda model, loader, device: None
    model = torch.nn.Module()
    model.fc = torch.nn.Linear(24, 3)
    script.fit_head(model, None, "cpu")
    expected = probe.fit_cv(x, y, 3, seed=payload["seed"])
    print(json.dumps({"l2": expected.l2, "refreshed": refreshed, "kept": kept,
                      "weight": (model.fc.weight - expected.weight).abs().max().item(),
                      "bias": (model.fc.bias - expected.bias).abs().max().item()}))
""")


@pytest.mark.parametrize("distributed", [False, True], ids=["plain", "ddp"])
def test_the_scripts_fit_the_head_first_as_the_engine_does(distributed):
    config = RunConfig(data="/data/birds", model="tiny", head_first=True, seed=3)
    code = generate_ddp(config) if distributed else generate(config)
    assert "fit_head(model, probe_loader, device)" in code
    result = subprocess.run([sys.executable, "-c", HEAD_DRIVER], input=json.dumps({"code": code, "seed": 3}),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.splitlines()[-1])
    # The same folds, penalties and solver as engine/probe.py: the same head, to the solver's tolerance.
    assert outcome["weight"] < 1e-3 and outcome["bias"] < 1e-3, outcome
    # BatchNorm that trains gets the statistics torch's update_bn computes; a frozen one keeps its own.
    assert outcome["refreshed"] < 1e-5 and outcome["kept"], outcome
