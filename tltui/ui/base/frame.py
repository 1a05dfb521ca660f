"""The frame every live widget of a lesson draws, the status line inside it, and the box of a dialog."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from textual import events
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

if TYPE_CHECKING:
    from tltui.ui.host import Tutor

R = TypeVar("R")


class LiveFrame(Vertical, can_focus=True):
    """A live widget in a lesson: a rounded border, its title in the accent colour. While the widget (or a
    field in it) has the keys the border turns heavy and lit, which shows without colours too (NO_COLOR)."""

    DEFAULT_CSS = """
    LiveFrame {
        margin: 1 2;
        border: round $secondary;
        border-title-color: $text-accent;
        &:focus, &:focus-within { border: heavy $accent; }
    }
    """

    app: Tutor

    async def on_event(self, event: events.Event) -> None:
        """Each event, except the mount of a frame taken away in the turn it was mounted in (by quit, or by
        its parent's removal). Textual mounts none of such a widget's children (``Widget.mount`` refuses a
        widget being removed, by the same flag) and still sends it Mount, whose handlers would look for them."""
        if isinstance(event, events.Mount) and self._pruning:
            return
        await super().on_event(event)


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


class Dialog(ModalScreen[R]):
    """A modal screen over the one it was opened on: its box (the child with class ``dialog``) sits in the
    middle, at most 78 columns wide, framed in the accent colour."""

    DEFAULT_CSS = """
    Dialog {
        align: center middle;
        & > .dialog {
            width: 78;
            max-width: 100%;
            max-height: 100%;
            border: round $accent;
            border-title-color: $accent;
            background: $surface;
        }
    }
    """

    app: Tutor
