"""The footer: the keys of where the learner stands, as many as fit, never one cut mid-word."""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: The action of the key that lists all the others: kept whatever else has to go.
HELP = ("help", "app.help")


def width(key: FooterKey) -> int:
    """Columns a key takes in a compact footer: the key, a space and its description, a space after (the
    command palette's key: its bar at the left instead)."""
    label = key.key_display + (f" {key.description}" if key.description else "")
    return cell_len(label) + 1


class KeysFooter(Footer):
    """Textual's compact footer, keeping the first keys that fit the terminal's width: Textual's lets the
    last ones run under the command palette's key (``^p paletteq``) or off the edge (``q Qui``). The help
    key stays whatever else goes, so the rest are always one key away."""

    def __init__(self, show_command_palette: bool = True) -> None:
        super().__init__(compact=True, show_command_palette=show_command_palette)
        self._composed_for = 0

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        palette = [key for key in keys if isinstance(key, FooterKey) and key.has_class("-command-palette")]
        room = (self.size.width or self.app.size.width) - sum(width(key) for key in palette)
        helps = [key for key in keys if isinstance(key, FooterKey) and key.action in HELP]
        room -= sum(width(key) for key in helps)
        fits = True
        for key in keys:
            if not isinstance(key, FooterKey) or key in palette or key in helps:
                yield key  # (groups of keys, which tltui does not bind, are yielded as they are)
            elif fits and width(key) <= room:
                room -= width(key)
                yield key
            else:
                fits = False

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._composed_for:
            self._composed_for = event.size.width
            self.call_after_refresh(self.recompose)
