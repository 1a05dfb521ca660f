"""The help (?) is built from the bindings: every key of every screen and widget is in its class's own
section with what it does, lesson widgets say which lessons show them, and the keys that work where the
learner stands come first."""

from __future__ import annotations

import importlib
import inspect
import io
import pkgutil
import re

from rich.console import Console
from textual.binding import Binding
from textual.dom import DOMNode
from textual.widgets import Input

import tltui.ui
from tltui.ui.app import TutorApp
from tltui.ui.lessons import find_lesson, load_lessons
from tltui.ui.screens.help import HelpScreen, key_text, sections, title

from conftest import until

LESSONS = load_lessons()
SIZE = (80, 24)


def classes_with_keys() -> list[type[DOMNode]]:
    """Every class of tltui.ui that declares bindings itself (found here independently of the help)."""
    found = []
    for module in pkgutil.walk_packages(tltui.ui.__path__, "tltui.ui."):
        for _, cls in inspect.getmembers(importlib.import_module(module.name), inspect.isclass):
            if cls.__module__ == module.name and cls.__dict__.get("BINDINGS"):
                found.append(cls)
    return found


def declared(cls: type) -> list[Binding]:
    return [b if isinstance(b, Binding) else Binding(*b) for b in cls.__dict__["BINDINGS"]]


def test_every_key_is_in_the_section_of_each_class_that_has_it():
    """A class's keys, and those of its tltui bases, are each listed with what they do in that class's own
    section (a base whose keys its subclasses list has none of its own)."""
    listed = dict(sections(LESSONS))
    for cls in classes_with_keys():
        owners = [c for c in _subclasses(cls) | {cls} if title(c, LESSONS) in listed]
        assert owners, f"{cls.__name__} has keys and no section, nor has any class that inherits them"
        for owner in owners:
            rows = listed[title(owner, LESSONS)]
            for binding in declared(cls):
                what = binding.tooltip or binding.description
                keys = next((k.split() for k, said in rows if said == what), None)
                assert keys is not None, f"{owner.__name__}'s help does not say '{what}'"
                for key in binding.key.split(","):
                    assert key_text(key) in keys, f"{owner.__name__}'s help leaves out {key} ({what})"


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found.union(*(_subclasses(c) for c in found))


def test_lesson_widgets_name_the_lessons_that_show_them():
    """The numbers come from the lessons: the lesson whose text embeds the widget, wherever it moves."""
    listed = [heading for heading, _ in sections(LESSONS)]
    for block, name in (("augment-gallery", "Augmentation gallery"), ("lr-cascade", "Learning-rate cascade"),
                        ("freeze-board", "Freeze board"), ("race", "The race")):
        numbers = [lesson.number for lesson in LESSONS if re.search(rf"^```+\s*tltui {block}\s*$", lesson.text, re.M)]
        assert len(numbers) == 1
        assert f"{name} · lesson {numbers[0]}" in listed, (name, numbers, listed)
    assert "Check of understanding · every lesson" in listed


async def test_the_help_starts_with_the_keys_that_work_here():
    """With the LR cascade focused: its keys, then the lesson screen's, then the app's (but L, the screen
    shown, and W, which only restarts a stopped worker), then every other class, the cascade not again; in a
    field of the form, start is ctrl+s and s is no key."""
    from tltui.ui.lesson.lr_cascade import LrCascade

    six = find_lesson(LESSONS, "learning-rates")
    app = TutorApp(LESSONS, start=six)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.lesson_screen.view.complete and app.link.state == "ready")
        app.lesson_screen.query_one(LrCascade).focus()
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        listed = help_screen.sections()
        cascade = f"Learning-rate cascade · lesson {six.number}"
        assert [heading for heading, _ in listed[:3]] == [f"Here: {cascade}", "Here: Lessons", "Here: Anywhere"]
        assert cascade not in [heading for heading, _ in listed]
        anywhere = {key for keys, _ in listed[2][1] for key in keys.split()}
        assert {"T", "R", "?", "q", "ctrl+q"} <= anywhere and not {"L", "W"} & anywhere
        await until(pilot, lambda: help_screen.complete, what="every module of the help")
        console = Console(width=200, record=True, file=io.StringIO())
        console.print(help_screen.query_one("#help Static").content)
        shown = console.export_text()
        for heading in {heading for heading, _ in sections(LESSONS)} - {cascade, "Lessons", "Anywhere"}:
            assert heading in shown, f"the open help does not list {heading}"
        await pilot.press("escape", "T")
        app.screen.query_one("#epochs", Input).focus()
        await pilot.pause()
        here = dict(section for _, section in HelpScreen(app.screen).here)
        training = {key for keys, _ in here["Here: Training screen (T)"] for key in keys.split()}
        assert "ctrl+s" in training and "s" not in training


async def test_the_help_is_laid_out_once_for_each_place_it_is_opened_from(monkeypatch):
    """Its forty tables are laid out once per width: not again for the second pass Textual makes over a
    Static (height, then lines), nor when the help is opened again from the same place; from another place
    (other keys come first) it is laid out anew, with those keys."""
    from textual.widgets import Static

    from tltui.ui.screens import help as help_module

    laid: list[int] = []
    real = help_module.LaidOut.__rich_console__

    def counted(self, console, options):
        if options.max_width not in self._lines:
            laid.append(options.max_width)
        return real(self, console, options)

    monkeypatch.setattr(help_module.LaidOut, "__rich_console__", counted)
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.lesson_screen.view.complete)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.complete)
        await pilot.pause()
        first = app.screen.query_one("#help Static", Static).content
        widths = len(laid)
        assert 1 <= len(first._lines) <= 2  # its width, and the width beside a scrollbar
        await pilot.press("escape", "question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        assert app.screen.query_one("#help Static", Static).content is first and len(laid) == widths
        await pilot.press("escape", "T", "question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        other = app.screen.query_one("#help Static", Static).content
        assert other is not first and len(laid) > widths
        assert "Here: Training screen (T)" in [heading for heading, _ in app.screen.sections()]
