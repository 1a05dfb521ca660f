"""A backbone seen as six groups, for the freeze board: each group's parameters, forward multiply-accumulates
per image (measured by ``torch.utils.flop_counter`` on the meta device: no memory, no weights), and what it
holds in the model's own module names; with its preprocessing and the weights there for it.
"""

from __future__ import annotations

from collections import Counter

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tltui.core import backbones
from tltui.core.backbones import BackboneInfo, GroupInfo
from tltui.core.errors import BadInput
from tltui.core.groups import GROUPS
from tltui.core.protocol.requests import DescribeBackbone
from tltui.engine import device as devices, model as net, preprocess, timm_backbone
from tltui.engine.timm_groups import label

CLASSES = 10
"""The head's outputs counted: the built-in sets' classes."""


def describe(request: DescribeBackbone) -> BackboneInfo:
    """The answer to ``request``; BadInput (one line) for a model this worker cannot build."""
    problem = backbones.problem(request.model)
    if problem:
        raise BadInput(problem)
    if request.image_size and not 16 <= request.image_size <= 1024:
        raise BadInput(f"the image size must be between 16 and 1024, not {request.image_size}")
    pre = preprocess.resolve(request.model, request.image_size, devices.resolve("auto"))
    with torch.device("meta"):
        model = net.new(request.model, CLASSES, pre.image_size).eval()
        macs = _macs(model, pre.image_size)
    mapping = net.group_names(model)
    params = Counter({g: 0 for g in GROUPS})
    for name, p in model.named_parameters():
        params[mapping[name]] += p.numel()
    groups = [GroupInfo(name=g, params=params[g], macs=macs[g], holds=holds([n for n, h in mapping.items() if h == g]))
              for g in GROUPS]
    if backbones.is_timm(request.model):
        name = backbones.timm_name(request.model)
        weights = (["pretrained"] if timm_backbone.pretrained_file(name) else []) + ["none"]
        looked = timm_backbone.looked(name)
    else:
        weights = net.available()[request.model]
        looked = "" if request.model == "tiny" else str(net.weights_file(net.WEIGHTS["imagenet"]).parent)
    return BackboneInfo(model=request.model, label=backbones.label(request.model), groups=groups, preprocessing=pre,
                        weights=weights, looked=looked, convolutional=net.convolutional(model))


def _macs(model: nn.Module, image_size: int) -> Counter[str]:
    """Forward multiply-accumulates of one image per group: each module's own FLOPs (its total less its
    children's), counted in the group of its first parameter or buffer, halved; the root's in the stem."""
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.zeros(1, 3, image_size, image_size))
    totals = {key.partition(".")[2]: sum(ops.values()) for key, ops in counter.get_flop_counts().items()
              if key != "Global"}
    own = dict(totals)
    for name, total in totals.items():
        if name:
            parent = name.rpartition(".")[0]
            own[parent] = own.get(parent, 0) - total
    mapping = net.group_names(model)
    first: dict[str, str] = {}
    for name, group in mapping.items():
        parts = name.split(".")
        for i in range(len(parts)):
            first.setdefault(".".join(parts[:i]), group)
    first[""] = "stem"
    macs = Counter({g: 0 for g in GROUPS})
    for name, flops in own.items():
        macs[first.get(name, "stem")] += flops // 2
    return macs


def holds(names: list[str]) -> str:
    """What a group holds, in the model's module names: ``blocks.0-2, norm``."""
    labels = list(dict.fromkeys(label(n) for n in names))
    out: list[str] = []
    run: list[tuple[str, int]] = []
    for text in [*labels, ""]:
        stem, _, index = text.rpartition(".")
        if index.isdigit() and run and run[-1][0] == stem and int(index) == run[-1][1] + 1:
            run.append((stem, int(index)))
            continue
        if run:
            first, last = run[0], run[-1]
            out.append(f"{first[0]}.{first[1]}" + (f"-{last[1]}" if last[1] != first[1] else ""))
            run = []
        if index.isdigit():
            run = [(stem, int(index))]
        elif text:
            out.append(text)
    return ", ".join(out)
