"""Key tables that more than one screen shares."""

from __future__ import annotations

from textual.binding import Binding

PAGER_MOTIONS = ("scroll_down", "scroll_up", "page_down", "page_up", "scroll_home", "scroll_end")
"""What the pager keys ask of a scrolling view, in the order of :func:`pager_keys`."""


def pager_keys(action: str) -> list[Binding]:
    """A pager's keys, as in ``less``: j/k a line, space/b a page, g/G the ends, each with its arrow or
    page key; each calls ``action(motion)`` with a motion from :data:`PAGER_MOTIONS`."""
    keys = [("down,j", "Down", "scroll a line"), ("up,k", "Up", "scroll back a line"),
            ("space,pagedown", "Page down", "scroll a page"), ("b,pageup", "Page up", "scroll back a page"),
            ("g,home", "Top", "to the top"), ("G,end", "Bottom", "to the bottom")]
    return [Binding(key, f"{action}('{motion}')", name, show=False, tooltip=tip)
            for (key, name, tip), motion in zip(keys, PAGER_MOTIONS, strict=True)]
