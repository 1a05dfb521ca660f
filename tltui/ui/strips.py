"""Rendered lines that refcounting frees.

Textual's ``Strip`` (one rendered line) caches what its methods return, and two of them can return the strip
itself: ``divide`` at its own end and ``crop_extend`` of all of it. Cached, the strip refers to itself, so
once dropped only Python's cyclic collector can free it, with its seven caches and its segments (about 25
objects a line). Every frame drew such lines: they were half of what the tutor's full collections freed
(225,000 of 470,000 objects after reading every lesson; such a collection took 0.9 to 1.3 s in
benchmarks/soak.py). Not fixed upstream (Textual 8.2).

Patched here to give the strip itself without caching it: the same result, and no cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import wraps

from rich.style import Style
from textual.strip import Strip


def keep_strips_acyclic() -> None:
    """Make ``divide`` and ``crop_extend`` give the strip itself uncached. Idempotent."""
    divide, crop_extend = Strip.divide, Strip.crop_extend
    if getattr(divide, "acyclic", False):
        return

    @wraps(divide)
    def _divide(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
        cuts = list(cuts)
        length = self.cell_length
        if [cut for cut in cuts if cut <= length] == [length]:
            return [self]
        return divide(self, cuts)

    @wraps(crop_extend)
    def _crop_extend(self: Strip, start: int, end: int, style: Style | None) -> Strip:
        if start <= 0 and end == self.cell_length:
            return self
        return crop_extend(self, start, end, style)

    _divide.acyclic = True  # type: ignore[attr-defined]  # a mark on the function: patched once
    Strip.divide = _divide  # type: ignore[method-assign]  # the patches: Textual's methods replaced
    Strip.crop_extend = _crop_extend  # type: ignore[method-assign]
