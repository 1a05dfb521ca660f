"""The help overlay: every key, read from the bindings of each screen and widget (one source, so it
cannot drift from what the keys do), plus the few keys a widget handles itself (``HELP_KEYS``)."""

from __future__ import annotations

from collections.abc import Iterator

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.widgets import Static

from tltui.ui.keys import bindings, pager_keys
from tltui.ui.widgets.frame import Dialog

#: How keys are shown where their binding name is not what is printed on the key.
KEY_NAMES = {
    "question_mark": "?", "left_square_bracket": "[", "right_square_bracket": "]", "minus": "-", "plus": "+",
    "equals_sign": "=", "pageup": "pgup", "pagedown": "pgdn", "escape": "esc",
}


def key_text(keys: str) -> str:
    """``"n,right"`` -> ``"n right"``, with symbols as printed on the keyboard."""
    return " ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in keys.split(","))


def own_bindings(cls: type[DOMNode]) -> Iterator[Binding]:
    """The bindings ``cls`` and its tltui base classes declare (Textual's own left out)."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith("tltui."):
            break
        for binding in klass.__dict__.get("BINDINGS", ()):
            yield binding if isinstance(binding, Binding) else Binding(*binding)


def rows(cls: type[DOMNode]) -> list[tuple[str, str]]:
    """(keys, what they do) for ``cls``: its bindings, one row per description, then its HELP_KEYS."""
    by_text: dict[str, list[str]] = {}
    for binding in own_bindings(cls):
        by_text.setdefault(binding.tooltip or binding.description, []).append(key_text(binding.key))
    return [(" ".join(keys), what) for what, keys in by_text.items()] + list(getattr(cls, "HELP_KEYS", []))


def sections() -> list[tuple[str, list[tuple[str, str]]]]:
    """(title, rows) for every screen and widget that has keys, in the order a learner meets them."""
    from tltui.ui.app import TutorApp
    from tltui.ui.screens.lesson import LessonScreen
    from tltui.ui.screens.runs import RunsScreen
    from tltui.ui.screens.train import TrainScreen
    from tltui.ui.widgets.capacity import CapacitySweep
    from tltui.ui.widgets.check import LessonCheck
    from tltui.ui.widgets.contents import Contents
    from tltui.ui.widgets.features import FeatureWalk, LayerFeatures
    from tltui.ui.widgets.freeze_board import FreezeBoard
    from tltui.ui.widgets.gallery import AugmentGallery
    from tltui.ui.widgets.lr_cascade import LrCascade
    from tltui.ui.widgets.lr_finder import LrFinderScreen
    from tltui.ui.widgets.quiz import QuadrantQuiz
    from tltui.ui.widgets.race import Race
    from tltui.ui.widgets.run_form import RunForm
    from tltui.ui.widgets.run_view import RunView
    from tltui.ui.widgets.unfreeze_timeline import UnfreezeTimeline

    owners = (TutorApp, LessonScreen, Contents, TrainScreen, RunForm, RunView, RunsScreen, Race,
              LayerFeatures, FeatureWalk, CapacitySweep, QuadrantQuiz, LrCascade, LrFinderScreen, UnfreezeTimeline,
              AugmentGallery, FreezeBoard, LessonCheck, HelpScreen)
    return [(owner.HELP_TITLE, rows(owner)) for owner in owners]


class HelpScreen(Dialog[None]):
    """Lists every key; escape, ? or q closes it; it scrolls with the keys of a lesson."""

    HELP_TITLE = "This help"

    DEFAULT_CSS = """
    HelpScreen #help { height: auto; padding: 0 1; }
    """

    BINDINGS = [*bindings("HelpScreen"), *pager_keys("scroll")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog") as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = "↑↓ space b g G scroll · escape closes"
            yield Static(self.table())

    def table(self) -> Group:
        """Each section's title, then its keys in a grid whose key column is as wide in every section,
        so wrapped descriptions keep their column."""
        accent = self.app.theme_variables.get("accent", "")
        listed = sections()
        width = max(len(key) for _, keys in listed for key, _ in keys)
        parts: list[Text | Table] = []
        for title, keys in listed:
            parts.append(Text(title, style="bold underline"))
            table = Table.grid(padding=(0, 2))
            table.add_column(no_wrap=True, style=f"bold {accent}", width=width)
            table.add_column()
            for key, what in keys:
                table.add_row(Text(key), Text(what))
            parts += [table, Text("")]
        return Group(*parts[:-1])

    def action_scroll(self, where: str) -> None:
        scroll = self.query_one("#help", VerticalScroll)
        {"scroll_down": lambda: scroll.scroll_relative(y=1, animate=False),
         "scroll_up": lambda: scroll.scroll_relative(y=-1, animate=False),
         "page_down": lambda: scroll.scroll_page_down(animate=False),
         "page_up": lambda: scroll.scroll_page_up(animate=False),
         "scroll_home": lambda: scroll.scroll_home(animate=False),
         "scroll_end": lambda: scroll.scroll_end(animate=False)}[where]()
