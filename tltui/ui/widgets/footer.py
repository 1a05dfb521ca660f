"""The footer: the keys of where the learner stands, as many as fit, rebuilt only when they change.

Textual's footer builds its keys again each time the screen says its bindings changed, and one key
press can say so three or four times (a screen suspended, another resumed, the focus moved), most often
to show the very keys it shows already, and a hidden screen's footer rebuilt too, for the keys of the
screen shown: each rebuild took 10 to 30 ms of the key's time. And every old key stayed alive: each was
bound to the footer's ``compact`` with ``data_bind``, a watch kept on the footer until ``compact``
changes, which it never does (Textualize/textual#6666). Its compact form also lets the last keys run
under the command palette's key (``^p paletteq``) or off the edge (``q Qui``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from tltui.ui.screens.mode import ModeScreen
from tltui.ui.warmup import render_ahead

if TYPE_CHECKING:
    from tltui.ui.host import Tutor

#: The action of the key that lists all the others: kept whatever else has to go.
HELP = ("help", "app.help")


def width(key: FooterKey) -> int:
    """Columns a key takes in a compact footer: the key, a space and its description, a space after (the
    command palette's key: its bar at the left instead)."""
    label = key.key_display + (f" {key.description}" if key.description else "")
    return cell_len(label) + 1


Shown = tuple[tuple[tuple[object, ...], ...], bool, int]
"""What a footer's keys are built from: each shown binding, whether the palette key shows, the width."""


class KeysFooter(Footer):
    """Textual's compact footer, keeping the first keys that fit the terminal's width, the help key
    whatever else goes (so the rest are always one key away). It rebuilds only while its screen is shown
    (or, built ahead, not shown yet), and only when what it would show differs from what it shows; after a
    rebuild it nudges ``compact`` (to the same value), which drops the watches of the removed keys."""

    app: Tutor

    def __init__(self, show_command_palette: bool = True) -> None:
        super().__init__(compact=True, show_command_palette=show_command_palette)
        self._drawn: Shown | None = None
        """What the keys shown were built from."""

    def _shown(self) -> Shown:
        """What ``compose`` would show now: each shown binding's key, label, state and tooltip, and the
        width they share."""
        with self._as_shown():
            return tuple(
                (binding.key, self.app.get_key_display(binding), binding.description, binding.group, enabled, tooltip)
                for _node, binding, enabled, tooltip in self.screen.active_bindings.values() if binding.show
            ), self.show_command_palette, self.size.width or self.app.size.width

    async def recompose(self) -> None:
        if not self.app.started:  # the keys come a frame after the lesson: Textual draws no frame before
            self.call_after_refresh(self.recompose)  # the app's mount, which waited for them (15 ms)
            return
        hidden = not self.screen.is_current
        if hidden and not self._ahead():  # hidden: checked again when its screen comes back
            return
        shown = self._shown()
        if shown == self._drawn:
            return
        self._drawn = shown
        await super().recompose()
        self.mutate_reactive(Footer.compact)
        if hidden and self.is_attached:  # built ahead: laid out with its new keys, as warmup.build_ahead renders
            render_ahead(self.screen)  # it (on a loaded machine the keys came after that render)

    def _ahead(self) -> bool:
        """Whether the footer's screen was built ahead and not shown yet: its keys are drawn then too, so that
        the first ``T`` or ``R`` shows them as every later one does (building them on show took a third of
        the first ``T``: their mount, styles and a layout of the whole screen)."""
        return isinstance(self.screen, ModeScreen) and not self.screen.shown

    def _as_shown(self) -> AbstractContextManager[None]:
        """Within it, bindings read are those the footer's screen has when shown: one built ahead is not the
        current screen yet, whose mode the app's mode keys leave out."""
        screen = self.screen
        return self.app.bindings_as_shown(screen.MODE) if isinstance(screen, ModeScreen) else nullcontext()

    def compose(self) -> ComposeResult:
        with self._as_shown():
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
        if self._drawn is None or event.size.width != self._drawn[-1]:
            self.call_after_refresh(self.recompose)
