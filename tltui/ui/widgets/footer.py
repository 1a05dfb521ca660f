"""Textual's footer, rebuilt only when the keys it shows change, and without the keys it leaks.

Textual's footer builds its keys again each time the screen says its bindings changed, and one key
press can say so three or four times (a screen suspended, another resumed, the focus moved), most often
to show the very keys it shows already, and a hidden screen's footer rebuilt too, for the keys of the
screen shown: each rebuild took 10 to 30 ms of the key's time. And every old
key stayed alive: each was bound to the footer's ``compact`` with ``data_bind``, a watch kept on the
footer until ``compact`` changes, which it never does (Textualize/textual#6666).
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """The key bar of a screen. It rebuilds only while its screen is shown, and only when what it would
    show differs from what it shows; after a rebuild it nudges ``compact`` (to the same value), which
    drops the watches of the removed keys."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._drawn: Hashable = None
        """What the keys shown were built from."""

    def _shown(self) -> Hashable:
        """What ``compose`` would show now: each shown binding's key, label, state and tooltip."""
        return tuple(
            (binding.key, self.app.get_key_display(binding), binding.description, binding.group, enabled, tooltip)
            for _node, binding, enabled, tooltip in self.screen.active_bindings.values() if binding.show
        ), self.show_command_palette

    async def recompose(self) -> None:
        if not self.screen.is_current:  # hidden: it is checked again when its screen comes back
            return
        shown = self._shown()
        if shown == self._drawn:
            return
        self._drawn = shown
        await super().recompose()
        self.mutate_reactive(TextualFooter.compact)
