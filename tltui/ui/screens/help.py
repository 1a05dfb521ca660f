"""The help overlay: every key, read from the bindings themselves, so it cannot drift from what they do.

First the keys that work where the learner stands: the live bindings of the focused widget, its containers,
the screen and the app, as Textual resolves them (a key the widget does not take now is left out). Then
every other screen and widget of tltui that binds keys, found in tltui.ui's modules (no list is kept by
hand), each lesson widget with the lessons that embed it, read from the lessons. A class adds the keys it
handles itself (digits, enter in a list) as ``HELP_KEYS``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
from collections.abc import Iterable, Iterator
from functools import cache

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.table import Table
from rich.text import Text
from textual.actions import parse
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.keys import key_to_character
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from tltui.ui.base.frame import Dialog
from tltui.ui.keys import bindings, hint, key_text, pager_keys
from tltui.ui.lessons import Lesson, WidgetPart

Section = tuple[str, list[tuple[str, str]]]
"""A title and its rows: (keys as printed, what they do)."""


def own_bindings(cls: type[DOMNode]) -> Iterator[Binding]:
    """The bindings ``cls`` and its tltui base classes declare (Textual's own left out)."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith("tltui."):
            break
        for binding in klass.__dict__.get("BINDINGS", ()):
            yield binding if isinstance(binding, Binding) else Binding(*binding)


def rows(found: Iterable[Binding], help_keys: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """(keys, what they do): one row per description, the keys of each in the order bound, then
    ``help_keys``."""
    by_text: dict[str, list[str]] = {}
    for binding in found:
        keys = by_text.setdefault(binding.tooltip or binding.description, [])
        keys += [key for key in key_text(binding.key).split() if key not in keys]
    return [(" ".join(keys), what) for what, keys in by_text.items()] + list(help_keys)


# -- every class ---------------------------------------------------------------------------------------


@cache
def ui_modules() -> tuple[str, ...]:
    """The names of tltui.ui's modules (none is imported but the packages)."""
    import tltui.ui

    return tuple(m.name for m in pkgutil.walk_packages(tltui.ui.__path__, "tltui.ui.") if not m.ispkg)


def unimported() -> list[str]:
    """The modules of tltui.ui not imported yet: their classes are not in the help until they are."""
    return [name for name in ui_modules() if name not in sys.modules]


def key_owners() -> list[type[DOMNode]]:
    """Every screen and widget class (and the app) of tltui.ui's imported modules that has keys of its own or
    inherited from a tltui base, bases left out where a subclass lists their keys."""
    found = []
    for name in ui_modules():
        module = sys.modules.get(name)
        for _, cls in inspect.getmembers(module, inspect.isclass) if module else ():
            if (cls.__module__ == name and issubclass(cls, DOMNode)
                    and (any(own_bindings(cls)) or getattr(cls, "HELP_KEYS", None))):
                found.append(cls)
    return [cls for cls in found if not any(other is not cls and issubclass(other, cls) for other in found)]


def places(cls: type, lessons: list[Lesson]) -> list[tuple[int, int]]:
    """(lesson number, part) of each block that embeds ``cls``, read from the lessons and the widget
    registry."""
    from tltui.ui.lesson.registry import REGISTRY

    factory = f"{cls.__module__}:{cls.__name__}"
    return [(lesson.number, i) for lesson in lessons for i, part in enumerate(lesson.parts)
            if isinstance(part, WidgetPart) and part.name in REGISTRY and REGISTRY[part.name].factory == factory]


def lessons_of(cls: type, lessons: list[Lesson]) -> list[int]:
    """The numbers of the lessons that embed ``cls``."""
    return list(dict.fromkeys(number for number, _ in places(cls, lessons)))


def where(numbers: list[int], lessons: list[Lesson]) -> str:
    """``lesson 6``, ``lessons 1, 3``, ``every lesson``, or '' (in none)."""
    if not numbers:
        return ""
    if len(numbers) == len(lessons) > 1:
        return "every lesson"
    return f"lesson{'s' * (len(numbers) > 1)} {', '.join(map(str, numbers))}"


def title(cls: type, lessons: list[Lesson]) -> str:
    """The section's title: the class's ``HELP_TITLE`` (else its name in words), and where it is."""
    name = getattr(cls, "HELP_TITLE", "") or "".join(
        f" {c.lower()}" if c.isupper() and i else c for i, c in enumerate(cls.__name__))
    place = where(lessons_of(cls, lessons), lessons)
    return f"{name} · {place}" if place else name


def _order(cls: type, lessons: list[Lesson]) -> tuple[int, tuple[int, int], str]:
    """The app, the screens, the lesson widgets where the lessons first show them, the other widgets, the
    dialogs."""
    found = places(cls, lessons)
    kind = (0 if issubclass(cls, App) else 4 if issubclass(cls, ModalScreen) else 1 if issubclass(cls, Screen)
            else 2 if found else 3)
    return kind, found[0] if found else (0, 0), title(cls, lessons)


def class_sections(lessons: list[Lesson], skip: Iterable[type] = ()) -> list[Section]:
    """A section for every class with keys (of the modules imported so far), but those in ``skip``."""
    skipped = set(skip)
    owners = sorted((cls for cls in key_owners() if cls not in skipped), key=lambda cls: _order(cls, lessons))
    return [(title(cls, lessons), rows(own_bindings(cls), getattr(cls, "HELP_KEYS", ()))) for cls in owners]


def sections(lessons: list[Lesson] | None = None) -> list[Section]:
    """Every class's section, every module of tltui.ui imported first (the tests; the overlay imports them
    a few at a time)."""
    from tltui.ui.lessons import load_lessons

    for name in unimported():
        importlib.import_module(name)
    return class_sections(lessons if lessons is not None else load_lessons())


# -- where the learner stands --------------------------------------------------------------------------


def here(screen: Screen, lessons: list[Lesson]) -> list[tuple[type, Section]]:
    """(class, section) for the focused widget, each container of it that has keys, the screen and the app,
    in the order Textual asks them: the keys each takes now. A key goes to the first that binds it; one the
    focused field types, or whose action its node refuses here (``check_action``), is left out; a dialog
    keeps the app's keys but those that work everywhere (``priority``)."""
    focused = screen.focused
    chain = list(dict.fromkeys([*(focused.ancestors_with_self if focused else [screen]), screen.app]))
    if screen.is_modal:
        chain = chain[:chain.index(screen) + 1] + [screen.app]
    taken: set[str] = set()
    found = []
    for node in chain:
        live = []
        for binding in own_bindings(type(node)):
            if node is screen.app and screen.is_modal and not binding.priority:
                continue
            keys = [k.strip() for k in binding.key.split(",")
                    if k.strip() not in taken
                    and not (focused and focused.check_consume_key(k.strip(), key_to_character(k.strip())))]
            _, action, parameters = parse(binding.action)
            if keys and node.check_action(action, parameters):
                live.append(Binding(",".join(keys), binding.action, binding.description, tooltip=binding.tooltip))
        taken |= {key for binding in own_bindings(type(node)) for key in binding.key.split(",")}
        cls = type(node)
        if live or getattr(cls, "HELP_KEYS", None):
            found.append((cls, (f"Here: {title(cls, lessons)}", rows(live, getattr(cls, "HELP_KEYS", ())))))
    return found


class LaidOut:
    """A Rich renderable laid out once per width. Textual renders a Static's content to measure its height and
    again to draw it, and a Rich table lays itself out anew each time: the help's forty tables cost ``?``
    about 100 ms per pass."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable
        self._lines: dict[int, list[list[Segment]]] = {}
        self._measured: dict[int, Measurement] = {}

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        if width not in self._lines:
            self._lines[width] = console.render_lines(self.renderable, options.update(height=None), pad=False)
        newline = Segment.line()
        for line in self._lines[width]:
            yield from line
            yield newline

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = options.max_width
        if width not in self._measured:
            self._measured[width] = Measurement.get(console, options, self.renderable)
        return self._measured[width]


def grids(listed: list[Section], accent: str) -> Group:
    """Each section's title, then its keys in a grid whose key column is as wide in every section, so
    wrapped descriptions keep their column."""
    width = max(len(key) for _, keys in listed for key, _ in keys)
    parts: list[Text | Table] = []
    for heading, keys in listed:
        parts.append(Text(heading, style="bold underline"))
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True, style=f"bold {accent}", width=width)
        table.add_column()
        for key, what in keys:
            table.add_row(Text(key), Text(what))
        parts += [table, Text("")]
    return Group(*parts[:-1])


KEEP_LAID_OUT = 8
"""Helps kept laid out: one per place the learner opens it from (the focused widget's keys come first)."""
_LAID_OUT: dict[object, LaidOut] = {}


class HelpScreen(Dialog[None]):
    """Lists every key; escape, ? or q closes it; it scrolls with the keys of a lesson. What the learner
    has not opened yet is imported after the first paint, a module per refresh, then listed too."""

    HELP_TITLE = "This help"

    DEFAULT_CSS = """
    HelpScreen #help { height: auto; padding: 0 1; }
    """

    BINDINGS = [*bindings("HelpScreen"), *pager_keys("scroll")]

    def __init__(self, over: Screen) -> None:
        super().__init__()
        self.lessons: list[Lesson] = getattr(over.app, "lessons", [])
        self.here = here(over, self.lessons)
        """The sections of where the learner stands, read when the help opens."""

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog") as scroll:
            scroll.border_title = "Keys"
            scroll.border_subtitle = hint("{Pager.up}{Pager.down} {Pager.page_down} {Pager.page_up} {Pager.top} "
                                          "{Pager.bottom} scroll · {HelpScreen.close} closes")
            yield Static(self.table())

    def on_mount(self) -> None:
        if unimported():
            self.call_after_refresh(self._import_next)

    def _import_next(self) -> None:
        pending = unimported()
        if pending:
            importlib.import_module(pending[0])
            self.call_after_refresh(self._import_next)
        else:
            self.query_one("#help Static", Static).update(self.table())

    @property
    def complete(self) -> bool:
        """Whether every class is listed (the tests wait for it)."""
        return not unimported()

    def sections(self) -> list[Section]:
        """Where the learner stands first, then every other class."""
        return [section for _, section in self.here] + class_sections(self.lessons, [cls for cls, _ in self.here])

    def table(self) -> LaidOut:
        """:func:`grids` of :meth:`sections`, laid out; a help opened from the same place as an earlier one
        reuses its layout."""
        accent = self.app.theme_variables.get("accent", "")
        listed = self.sections()
        key = (accent, tuple((heading, tuple(keys)) for heading, keys in listed))
        if key not in _LAID_OUT:
            while len(_LAID_OUT) >= KEEP_LAID_OUT:
                del _LAID_OUT[next(iter(_LAID_OUT))]
            _LAID_OUT[key] = LaidOut(grids(listed, accent))
        return _LAID_OUT[key]

    def action_scroll(self, where: str) -> None:
        scroll = self.query_one("#help", VerticalScroll)
        {"scroll_down": lambda: scroll.scroll_relative(y=1, animate=False),
         "scroll_up": lambda: scroll.scroll_relative(y=-1, animate=False),
         "page_down": lambda: scroll.scroll_page_down(animate=False),
         "page_up": lambda: scroll.scroll_page_up(animate=False),
         "scroll_home": lambda: scroll.scroll_home(animate=False),
         "scroll_end": lambda: scroll.scroll_end(animate=False)}[where]()
