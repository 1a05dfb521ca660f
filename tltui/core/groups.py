"""The six layer groups of ResNet-50: the vocabulary of every widget, flag and message."""

from __future__ import annotations

GROUPS: tuple[str, ...] = ("stem", "layer1", "layer2", "layer3", "layer4", "head")
BACKBONE: tuple[str, ...] = GROUPS[:-1]

#: torchvision module names that make up each group.
MODULES: dict[str, tuple[str, ...]] = {
    "stem": ("conv1", "bn1"),
    "layer1": ("layer1",),
    "layer2": ("layer2",),
    "layer3": ("layer3",),
    "layer4": ("layer4",),
    "head": ("fc",),
}


def depth_from_top(group: str) -> int:
    """0 for the head, 1 for layer4, ... 5 for the stem."""
    return len(GROUPS) - 1 - GROUPS.index(group)
