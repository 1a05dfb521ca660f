"""Paging an option list waits for the list's layout.

Textual's ``OptionList._move_page`` (Textual 8) indexes the list's lines, which it builds only once the
list has a size: a page key that comes in the same burst as the key that shows a list raised ``KeyError``
there and ended the tutor (``t`` then PageUp in the contents, enter then PageDown on a select of the
training form, ctrl+p, a letter, then PageDown in the command palette). Not yet fixed upstream.
"""

from __future__ import annotations

from functools import wraps
from typing import Literal

from textual.widgets import OptionList


def guard_paging() -> None:
    """Make every option list take a page key that comes before its layout once it is laid out (after the
    next refresh; dropped if it still has no size then). Idempotent."""
    move_page = OptionList._move_page
    if getattr(move_page, "waits_for_layout", False):
        return

    @wraps(move_page)
    def _move_page(self: OptionList, direction: Literal[-1, 1], waited: bool = False) -> None:
        if self.scrollable_content_region.area:
            move_page(self, direction)
        elif not waited:
            self.call_after_refresh(_move_page, self, direction, True)

    _move_page.waits_for_layout = True  # type: ignore[attr-defined]  # a mark on the function: patched once
    OptionList._move_page = _move_page  # type: ignore[method-assign]  # the patch: Textual's method replaced
