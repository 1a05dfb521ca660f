"""Colours from the app's theme, for what Textual's CSS does not draw: plotext charts and Rich text.

Everything drawn with them also differs in shape (markers, glyphs, numbers), so it stays legible in
any theme, in 16 colours and with ``NO_COLOR``.
"""

from __future__ import annotations

from textual.app import App
from textual.color import Color

#: Theme colours and plotext markers of overlaid curves, in order: two curves differ in both.
SERIES = ("accent", "primary", "success", "warning", "secondary", "error")
MARKERS = ("hd", "braille", "dot", "x", "+", "o")


def color(app: App, variable: str, share: float = 1.0) -> Color:
    """Theme variable ``variable`` (``accent``, ``success``...), blended into the background by ``1 - share``."""
    variables = app.theme_variables
    colour = Color.parse(variables[variable])
    if share < 1.0:
        colour = Color.parse(variables["background"]).blend(colour, share)
    return colour


def rgb(app: App, variable: str) -> tuple[int, int, int]:
    """For plotext."""
    return color(app, variable).rgb


def hex_style(app: App, variable: str, share: float = 1.0) -> str:
    """For Rich styles: ``#rrggbb``."""
    return color(app, variable, share).hex
