"""Small text helpers shared by the CLI and the UI."""

from __future__ import annotations


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
    from tltui.groups import GROUPS

    return " · ".join(f"{g} {rates[g]:.1e}" for g in reversed(GROUPS) if g in rates)
