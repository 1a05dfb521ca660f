"""The real experiments behind the quiz's "check it" key and the checks of understanding: runs of the
worker on the same data, split and seed that differ only in what the experiment is about.

The tiny backbone (its pretrained weights ship with tltui) makes them seconds on a CPU; without it,
ResNet-50 with ImageNet weights at 64 px takes about a minute. Without either, nothing runs: the quiz
never shows a prediction as a measurement.
"""

from __future__ import annotations

import msgspec

from tltui.core.groups import BACKBONE
from tltui.core.protocol import AUGMENTS, Capabilities, RunConfig

#: Per backbone: the weights to ask for and the recipe of both arms.
RECIPES: dict[str, RunConfig] = {
    "tiny": RunConfig(model="tiny", weights="pretrained", epochs=10, optimizer="adamw", lr=2e-3,
                      weight_decay=0.05),
    "resnet50": RunConfig(model="resnet50", weights="imagenet", epochs=5, image_size=64, optimizer="sgd", lr=1e-2,
                          augment=AUGMENTS),
}
#: The lessons' measured commands, as fields over the defaults (``tltui train ... --model tiny``).
_PROBE = {"frozen": BACKBONE, "augment": (), "optimizer": "adamw", "lr": 3e-2, "batch_size": 10, "epochs": 40,
          "weight_decay": 1e-4, "preset": "feature-extraction"}
_LATE = {"frozen": ("stem", "layer1", "layer2", "layer3"), "optimizer": "sgd", "lr": 1e-2, "lr_decay": 0.1,
         "epochs": 8, "batch_size": 8, "weight_decay": 1e-4, "augment": AUGMENTS, "preset": "fine-tune-late"}
_ALL = {"frozen": (), "lr": 1e-3, "lr_decay": 0.3, "epochs": 8, "weight_decay": 1e-4, "augment": AUGMENTS,
        "preset": "fine-tune-all"}
#: Experiment name -> (data, images per class, [(arm label, fields that differ)]).
EXPERIMENTS: dict[str, tuple[str, int, list[tuple[str, dict]]]] = {
    "sketches": ("builtin-shifted", 20, [
        ("feature extraction", {"frozen": BACKBONE, "augment": ()}),
        ("fine-tune all", {"frozen": (), "augment": ("crop", "flip")}),
    ]),
    # lesson 3: a linear probe on frozen features, labels shuffled
    "shuffled-probe": ("builtin", 10, [("probe, shuffled labels", {**_PROBE, "shuffle_labels": True})]),
    # lesson 8: the BatchNorm of frozen groups with batches of 8
    "bn-small-batch": ("builtin", 20, [
        ("--bn freeze", {**_LATE, "bn": "freeze"}),
        ("--bn train", {**_LATE, "bn": "train"}),
    ]),
    # lessons 4 and 6: one learning rate, two optimizers
    "same-lr": ("builtin", 20, [
        ("SGD, LR 1e-3", {**_ALL, "optimizer": "sgd"}),
        ("AdamW, LR 1e-3", {**_ALL, "optimizer": "adamw"}),
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
