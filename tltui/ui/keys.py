"""Every key table: the bindings of each screen and widget, read from keys.toml, and the pager keys."""

from __future__ import annotations

import sys
from functools import cache
from importlib.resources import files
from typing import Any

from textual.binding import Binding, BindingType

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PAGER_MOTIONS = ("scroll_down", "scroll_up", "page_down", "page_up", "scroll_home", "scroll_end")
"""What the pager keys ask of a scrolling view, in the order of :func:`pager_keys`."""


@cache
def keymap() -> dict[str, dict[str, dict[str, Any]]]:
    """keys.toml: for each class that binds keys, its keys and what each does."""
    return tomllib.loads(files(__package__).joinpath("keys.toml").read_text(encoding="utf-8"))


def bindings(owner: str) -> list[BindingType]:
    """The keys the class named ``owner`` binds, in the order keys.toml lists them."""
    return [Binding(key, **fields) for key, fields in keymap()[owner].items()]


def pager_keys(action: str) -> list[Binding]:
    """A pager's keys, as in ``less``: j/k a line, space/b a page, g/G the ends, each with its arrow or
    page key; each calls ``action(motion)`` with a motion from :data:`PAGER_MOTIONS`."""
    keys = [("down,j", "Down", "scroll a line"), ("up,k", "Up", "scroll back a line"),
            ("space,pagedown", "Page down", "scroll a page"), ("b,pageup", "Page up", "scroll back a page"),
            ("g,home", "Top", "to the top"), ("G,end", "Bottom", "to the bottom")]
    return [Binding(key, f"{action}('{motion}')", name, show=False, tooltip=tip)
            for (key, name, tip), motion in zip(keys, PAGER_MOTIONS, strict=True)]
