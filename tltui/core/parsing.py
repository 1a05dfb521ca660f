"""Run settings from text, as typed on the command line or in the training form: one parser for both,
so a value means the same wherever it is typed. Errors are ConfigError, one line naming the flag."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from tltui.core import datasets
from tltui.core.errors import BadInput
from tltui.core.groups import BACKBONE, GROUPS
from tltui.core.protocol.config import ConfigError, RunConfig


def parse_groups(text: str | None) -> tuple[str, ...]:
    """Parse ``"stem,layer1"`` (or ``"all"``, ``"backbone"``, ``""``) into groups in network order.

    Raises ValueError with a one-line message naming the valid groups.
    """
    if not text:
        return ()
    names: set[str] = set()
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        if name == "all":
            names.update(GROUPS)
        elif name == "backbone":
            names.update(BACKBONE)
        elif name in GROUPS:
            names.add(name)
        else:
            raise ValueError(f"unknown group {name!r}: choose from {', '.join(GROUPS)}, all, backbone")
    return tuple(g for g in GROUPS if g in names)


def parse_unfreeze(text: str | None) -> dict[str, int]:
    """Parse ``"2:layer4,4:layer3"`` into ``{"layer4": 2, "layer3": 4}``."""
    plan: dict[str, int] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        epoch, sep, group = item.partition(":")
        if not sep or not epoch.strip().isdigit():
            raise ConfigError(f"--unfreeze {item!r}: write EPOCH:GROUP, for example 2:layer4")
        group = group.strip()
        if group not in GROUPS:
            raise ConfigError(f"--unfreeze {item!r}: unknown group {group!r}: choose from {', '.join(GROUPS)}")
        if group in plan:
            raise ConfigError(f"--unfreeze names {group} twice: give each group one epoch")
        plan[group] = int(epoch)
    return plan


def parse_augment(text: str) -> tuple[str, ...]:
    """``"crop,flip"``; ``none`` or ``off`` for no augmentation."""
    if text.strip().lower() in ("none", "off"):
        return ()
    return tuple(a.strip() for a in text.split(",") if a.strip())


def parse_data(text: str) -> str:
    """A dataset name, or a folder (made absolute where it exists, so the worker finds it from anywhere);
    ConfigError for none (``""``), a path that cannot be looked at, or a ``~user`` with no home."""
    if not text.strip():
        raise ConfigError("DATA is empty: give a folder of class folders or one of " + ", ".join(datasets.NAMES))
    if text in datasets.NAMES:
        return text
    try:
        path = Path(text).expanduser()
        return str(path.resolve()) if path.exists() else text
    except RuntimeError:  # ~nosuchuser
        raise ConfigError(f"{text}: no such user's home folder") from None
    except OSError as error:
        raise ConfigError(f"cannot look at {text[:200]}: {error.strerror}") from None


def env_number(name: str, default: float) -> float:
    """``$name`` as a number of at least 0 (``default`` when it is unset); BadInput in one line otherwise."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise BadInput(f"${name}={text[:50]!r} is not a number of at least 0 (unset it for the default, {default:g})")
    return value


def parse_nproc(text: str) -> int:
    """``all`` (0: every free GPU) or a number of processes."""
    if text.strip().lower() == "all":
        return 0
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"--nproc: {text!r} is not a number of processes or all") from None


def parse_yes_no(name: str, text: str) -> bool:
    """``yes`` / ``no`` (or on, off, true, false, 1, 0) for a switch such as ``head_first``."""
    word = text.strip().lower()
    if word in ("yes", "y", "on", "true", "1"):
        return True
    if word in ("no", "n", "off", "false", "0"):
        return False
    raise ConfigError(f"--{name.replace('_', '-')}: {text!r} is not yes or no")


def parse_setting(name: str, text: str) -> Any:
    """The RunConfig field ``name`` from ``text``: groups, unfreezing plan, augmentations, data, processes,
    numbers."""
    if name == "frozen":
        if text.strip().lower() == "none":
            return ()
        try:
            return parse_groups(text)
        except ValueError as error:
            raise ConfigError(f"--freeze: {error}") from None
    if name == "unfreeze":
        return parse_unfreeze(text)
    if name == "augment":
        return parse_augment(text)
    if name == "data":
        return parse_data(text)
    if name == "nproc":
        return parse_nproc(text)
    kind = type(getattr(RunConfig(), name))
    if kind is bool:
        return parse_yes_no(name, text)
    if kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            raise ConfigError(f"--{name.replace('_', '-')}: {text!r} is not a number") from None
    return text
