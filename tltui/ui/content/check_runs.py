"""The real experiments behind the quiz's "check it" key and the checks of understanding: runs of the
worker on the same data, split and seed that differ only in what the experiment is about.

The tiny backbone (its pretrained weights ship with tltui) makes them seconds to a minute on a CPU; without
it, ResNet-50 with ImageNet weights at 64 px takes about a minute. Without either, nothing runs: the quiz
never shows a prediction as a measurement. One experiment names ResNet-50 itself (from random weights: no
download), as the lesson it checks does.
"""

from __future__ import annotations

import msgspec

from tltui.core.groups import BACKBONE
from tltui.core.protocol.config import AUGMENTS, RunConfig
from tltui.core.protocol.replies import Capabilities
from tltui.ui.lesson.race import RACE

#: Per backbone: the weights to ask for and the recipe of both arms.
RECIPES: dict[str, RunConfig] = {
    "tiny": RunConfig(model="tiny", weights="pretrained", epochs=10, optimizer="adamw", lr=2e-3,
                      weight_decay=0.05),
    "resnet50": RunConfig(model="resnet50", weights="imagenet", epochs=5, image_size=64, optimizer="sgd", lr=1e-2,
                          augment=AUGMENTS),
}
#: The lessons' measured commands, as fields over the tiny recipe (``tltui train ... --model tiny``): each
#: check that quotes a measurement runs the command it quotes (tests/unit/test_check_content.py).
_CLI = {"epochs": 5, "weight_decay": 1e-4}
"""``tltui train``'s defaults where the tiny recipe differs."""
_PROBE = {"frozen": BACKBONE, "augment": (), "optimizer": "adamw", "lr": 3e-2, "batch_size": 10, "epochs": 40,
          "weight_decay": 1e-4, "preset": "feature-extraction"}
_LATE = {"frozen": ("stem", "layer1", "layer2", "layer3"), "optimizer": "sgd", "lr": 1e-2, "lr_decay": 0.1,
         "epochs": 8, "batch_size": 8, "weight_decay": 1e-4, "augment": AUGMENTS}
_ALL = {"frozen": (), "optimizer": "sgd", "lr": 1e-2, "lr_decay": 0.3, "epochs": 8, "weight_decay": 1e-4,
        "augment": AUGMENTS}
_EVAL = {"frozen": BACKBONE, "augment": (), "head_first": True, "optimizer": "adamw", "lr": 1e-3, "epochs": 30,
         "weight_decay": 1e-4, "val_fraction": 0.034, "preset": "feature-extraction"}
_FAR = {**_CLI, "epochs": 100, "augment": ("crop", "flip")}
_RACE = {field: getattr(RACE, field) for field in ("epochs", "optimizer", "lr", "weight_decay", "augment")}
"""The race's recipe (lesson 1's widget) where the tiny recipe differs."""
#: Experiment name -> (data, images per class (0: all), [(arm label, fields that differ)]).
EXPERIMENTS: dict[str, tuple[str, int, list[tuple[str, dict]]]] = {
    "sketches": ("builtin-shifted", 20, [
        ("feature extraction", {"frozen": BACKBONE, "augment": ()}),
        ("fine-tune all", {"frozen": (), "augment": ("crop", "flip")}),
    ]),
    # lesson 1: ResNet-50 from random weights on 200 images (minutes on a CPU: it is ResNet-50)
    "scratch-200": ("builtin", 20, [
        ("ResNet-50, random weights", {**_CLI, "model": "resnet50", "weights": "none", "epochs": 15}),
    ]),
    # lesson 1: the race, as its widget runs it
    "race": (RACE.data, RACE.limit_per_class, [
        ("from scratch", {**_RACE, "weights": "none"}),
        ("pretrained", _RACE),
    ]),
    # lesson 3: a linear probe on frozen features, labels shuffled
    "shuffled-probe": ("builtin", 10, [("probe, shuffled labels", {**_PROBE, "shuffle_labels": True})]),
    # lesson 3: the same probe, shuffled and true labels
    "probe-labels": ("builtin", 10, [
        ("shuffled labels", {**_PROBE, "shuffle_labels": True}),
        ("true labels", _PROBE),
    ]),
    # lessons 4 and 7: one learning rate, two optimizers
    "same-lr": ("builtin", 20, [
        ("SGD, LR 1e-3", {**_ALL, "lr": 1e-3, "optimizer": "sgd"}),
        ("AdamW, LR 1e-3", {**_ALL, "lr": 1e-3, "optimizer": "adamw"}),
    ]),
    # lesson 6: a cascade against one LR, far from the pretraining pictures
    "far-cascade": ("builtin-shifted", 10, [
        ("LR factor 0.3", {**_FAR, "lr_decay": 0.3}),
        ("one LR", _FAR),
    ]),
    # lesson 7: AdamW's LR scale
    "adamw-scale": ("builtin", 20, [
        (f"AdamW, LR {lr:.0e}", {**_ALL, "optimizer": "adamw", "lr": lr}) for lr in (1e-1, 1e-2, 1e-3)
    ]),
    # lesson 7: schedules at a peak LR too low for the budget
    "schedules": ("builtin", 20, [
        (schedule, {**_ALL, "schedule": schedule}) for schedule in ("constant", "cosine", "onecycle")
    ]),
    # lesson 9: the BatchNorm of frozen groups with batches of 8
    "bn-small-batch": ("builtin", 20, [
        ("--bn freeze", {**_LATE, "bn": "freeze"}),
        ("--bn train", {**_LATE, "bn": "train"}),
    ]),
    # lesson 10: one recipe, eight seeds, 40 validation images each
    "eight-seeds": ("builtin", 20, [(f"seed {seed}", {**_EVAL, "seed": seed}) for seed in range(8)]),
    # lesson 11: shuffled labels on every training image
    "shuffled-all": ("builtin", 0, [("probe, shuffled labels", {**_PROBE, "shuffle_labels": True})]),
    # lesson 15: the probe against fine-tuning every group
    "probe-or-fine-tune": ("builtin", 10, [
        ("probe", _PROBE),
        ("fine-tune every group", _FAR),
    ]),
}


def check_backbone(caps: Capabilities | None) -> str:
    """The backbone the checks use on this worker: tiny if it has its weights, else resnet50 with
    ImageNet weights cached, else '' (nothing can be measured)."""
    if caps is None:
        return ""
    if "pretrained" in caps.models.get("tiny", ()):
        return "tiny"
    if "imagenet" in caps.cached_weights:
        return "resnet50"
    return ""


def check_runs(name: str, backbone: str) -> list[tuple[str, RunConfig]]:
    """The (label, config) of each arm of experiment ``name`` on ``backbone``."""
    data, per_class, arms = EXPERIMENTS[name]
    base = msgspec.structs.replace(RECIPES[backbone], data=data, limit_per_class=per_class, seed=0)
    return [(label, msgspec.structs.replace(base, **fields)) for label, fields in arms]
