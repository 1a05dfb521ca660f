"""What a setting costs, computed from ResNet-50's architecture: parameters, FLOPs, optimizer memory.

Pure Python (the freeze board runs in the UI). Counts multiply-accumulates of convolutions and the
head, as ``torch.utils.flop_counter`` does (1 MAC = 2 FLOPs); BatchNorm, ReLU and pooling are left out.
A training step runs the forward pass through every group, and the backward pass only down to the
lowest trainable group (gradients for inputs and for weights: about twice that part's forward cost).
"""

from __future__ import annotations

from dataclasses import dataclass

from tltui.core.groups import GROUPS

#: (blocks, bottleneck width, output channels, stride of the first block) for layer1..layer4.
STAGES = ((3, 64, 256, 1), (4, 128, 512, 2), (6, 256, 1024, 2), (3, 512, 2048, 2))
FEATURES = 2048


def _down(side: int) -> int:
    """Output side of a stride-2 convolution or pooling with 'same' padding."""
    return (side - 1) // 2 + 1


@dataclass(frozen=True)
class GroupCost:
    params: int
    macs: int
    """Forward multiply-accumulates for one image."""


def resnet50(image_size: int, classes: int) -> dict[str, GroupCost]:
    """Per group, parameters and forward MACs for one ``image_size`` x ``image_size`` image."""
    side = _down(image_size)  # conv1: 7x7, stride 2
    costs = {"stem": GroupCost(3 * 64 * 49 + 2 * 64, 3 * 64 * 49 * side * side)}
    side = _down(side)  # max-pool
    channels = 64
    for n, (blocks, width, out, stride) in enumerate(STAGES, 1):
        params = macs = 0
        for b in range(blocks):
            s = stride if b == 0 else 1
            out_side = _down(side) if s == 2 else side
            convs = [(channels, width, 1, side), (width, width, 9, out_side), (width, out, 1, out_side)]
            if b == 0:
                convs.append((channels, out, 1, out_side))  # the shortcut's projection
            for c_in, c_out, k, at in convs:
                params += c_in * c_out * k + 2 * c_out  # weights and their BatchNorm
                macs += c_in * c_out * k * at * at
            channels, side = out, out_side
        costs[f"layer{n}"] = GroupCost(params, macs)
    costs["head"] = GroupCost(FEATURES * classes + classes, FEATURES * classes)
    return costs


#: The tiny backbone (tltui/engine/tiny.py): one BasicBlock per stage at these widths, 3x3 stride-1 stem.
TINY_WIDTHS = (16, 32, 64, 128)


def tiny(image_size: int, classes: int) -> dict[str, GroupCost]:
    """Per group, parameters and forward MACs of the tiny backbone for one image."""
    side, channels = image_size, TINY_WIDTHS[0]
    costs = {"stem": GroupCost(3 * channels * 9 + 2 * channels, 3 * channels * 9 * side * side)}
    side = _down(side)  # max-pool
    for n, width in enumerate(TINY_WIDTHS, 1):
        out_side = side if n == 1 else _down(side)
        convs = [(channels, width, 9, out_side), (width, width, 9, out_side)]
        if n > 1:
            convs.append((channels, width, 1, out_side))  # the shortcut's projection
        costs[f"layer{n}"] = GroupCost(
            sum(c_in * c_out * k + 2 * c_out for c_in, c_out, k, _ in convs),
            sum(c_in * c_out * k * at * at for c_in, c_out, k, at in convs),
        )
        channels, side = width, out_side
    costs["head"] = GroupCost(channels * classes + classes, channels * classes)
    return costs


def model_costs(model: str, image_size: int, classes: int) -> dict[str, GroupCost]:
    return (tiny if model == "tiny" else resnet50)(image_size, classes)


@dataclass(frozen=True)
class StepCost:
    """One image's training step for a freeze setting."""

    trainable_params: int
    forward_gflops: float
    backward_gflops: float
    optimizer_mb: float
    """Gradients plus optimizer state (SGD momentum: one buffer; AdamW: two), fp32."""

    @property
    def total_gflops(self) -> float:
        return self.forward_gflops + self.backward_gflops


def step_cost(costs: dict[str, GroupCost], trainable: set[str], optimizer: str = "sgd") -> StepCost:
    """The cost of a training step when ``trainable`` groups train (the rest frozen)."""
    ordered = [g for g in GROUPS if g in trainable]
    lowest = GROUPS.index(ordered[0]) if ordered else len(GROUPS)
    forward = sum(c.macs for c in costs.values()) * 2 / 1e9
    backward = sum(costs[g].macs for g in GROUPS[lowest:]) * 2 * 2 / 1e9
    params = sum(costs[g].params for g in ordered)
    buffers = 1 + (2 if optimizer == "adamw" else 1)
    return StepCost(params, forward, backward, params * 4 * buffers / 2**20)
