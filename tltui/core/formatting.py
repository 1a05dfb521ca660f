"""Small text helpers shared by the CLI and the UI."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tltui.core.protocol.events import HeadFitted

#: Flags whose field has another name in the training form.
_FORM_NAMES = {"limit-per-class": "per class", "image-size": "image px", "lr": "lr (head)", "freeze": "freeze"}
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def printable(text: str, lines: bool = True) -> str:
    """``text`` with its control characters written as ``\\x1b`` and the like, so a class or file name, or
    a far side's stderr, cannot move the cursor, set the title or leave a sequence open on the terminal;
    newlines are kept where ``lines``, escaped too otherwise (one line stays one line)."""
    return (_CONTROL if lines else _CONTROL_OR_NEWLINE).sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def bar(fraction: float, width: int = 20) -> str:
    """A text progress bar of ``width`` cells."""
    filled = round(max(0.0, min(1.0, fraction)) * width)
    return "━" * filled + "╌" * (width - filled)


def duration(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on."""
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return f"{seconds // 60}:{seconds % 60:02d}"


def lrs(rates: dict[str, float]) -> str:
    """``head 1.0e-02 · layer4 3.0e-03`` from the top group down."""
    from tltui.core.groups import GROUPS

    return " · ".join(f"{g} {rates[g]:.1e}" for g in reversed(GROUPS) if g in rates)


def ui_words(text: str) -> str:
    """A message of the engine or worker with each command-line flag named as the tutor's settings are
    (``--weights none`` -> ``weights none``, ``--limit-per-class`` -> ``per class``)."""
    return _FLAG.sub(lambda m: _FORM_NAMES.get(m.group(1), m.group(1).replace("-", " ")), text)


def si(value: float, unit: str = "") -> str:
    """``value`` with three significant digits and a K, M or G prefix: ``8.17 GFLOP``, ``442K``."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= factor:
            value, scaled = value / factor, prefix
            break
    else:
        scaled = ""
    digits = max(0, 3 - len(str(int(abs(value))))) if value else 0
    text = f"{value:.{digits}f}"
    return f"{text} {scaled}{unit}" if unit else f"{text}{scaled}"


def head_fitted(event: HeadFitted) -> str:
    """The line that reports LP-FT's first stage (``head_first``)."""
    return (f"head fitted alone first (a linear probe, L2 {event.l2:g} by cross-validation, {event.iterations} "
            f"L-BFGS iterations to a plateau): train acc {event.train_acc:.1%}, val acc {event.val_acc:.1%} "
            f"in {event.seconds:.1f} s; now every trainable group fine-tunes from it")
