"""The frame every live widget of a lesson draws, and the status line inside it."""

from __future__ import annotations

from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static


class LiveFrame(Vertical, can_focus=True):
    """A live widget in a lesson: a rounded border that lights up while the widget has the keys, its
    title in the accent colour."""

    DEFAULT_CSS = """
    LiveFrame {
        margin: 1 2;
        border: round $secondary;
        border-title-color: $text-accent;
        &:focus { border: round $accent; }
    }
    """


class StatusLine(Static):
    """What a live widget is doing, or, as an error, why the last key did nothing."""

    DEFAULT_CSS = """
    StatusLine {
        height: auto;
        color: $text-muted;
        &.-refused { color: $text-error; }
    }
    """

    def say(self, text: str, refused: bool = False) -> None:
        """Show ``text`` (plain, never markup); ``refused``: as an error."""
        self.set_class(refused, "-refused")
        self.update(Content(text))

    @property
    def refused(self) -> bool:
        """Whether the line says why something did not happen."""
        return self.has_class("-refused")
