"""Paging an option list that has no layout yet lays it out first.

Textual's ``OptionList._move_page`` (Textual 8) indexes the list's lines, which it builds only once the
list has a size: a page key that comes in the same burst as the key that shows a list raised ``KeyError``
there and ended the tutor (``t`` then PageUp in the contents, enter then PageDown on a select of the
training form, ctrl+p, a letter, then PageDown in the command palette). Not yet fixed upstream.

The page key is taken at once, with the screen laid out for it, rather than after the next refresh: a key
behind it in the burst (``t`` PageDown enter) would otherwise act on the list before the page.
"""

from __future__ import annotations

from functools import wraps
from typing import Literal

from textual.widgets import OptionList


def guard_paging() -> None:
    """Make every option list take a page key that comes before its layout: its screen is laid out then and
    there, as Textual does it on its next refresh (a list that still has no size, hidden, drops the key).
    Idempotent."""
    move_page = OptionList._move_page
    if getattr(move_page, "lays_out", False):
        return

    @wraps(move_page)
    def _move_page(self: OptionList, direction: Literal[-1, 1]) -> None:
        if not self.scrollable_content_region.area and self.display and self.is_attached:
            self.screen._refresh_layout()
            self._update_lines()  # (Textual builds them on the resize event that this layout has just posted)
        if self.scrollable_content_region.area:
            move_page(self, direction)

    _move_page.lays_out = True  # type: ignore[attr-defined]  # a mark on the function: patched once
    OptionList._move_page = _move_page  # type: ignore[method-assign]  # the patch: Textual's method replaced
