"""Every bound key on every screen, and a long random walk of keys: the tutor stays up and shows no
error. The keys are read from the bindings themselves, so a new binding is pressed as soon as it exists.

Runs against the scripted fake worker (tests/fake_worker.py), so runs and pictures answer at once.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from textual.binding import Binding
from textual.command import CommandPalette
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget

from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons
from tltui.ui.screens.help import HelpScreen
from tltui.ui.widgets.contents import Contents

from conftest import Toasts, until

LESSONS = load_lessons()
SIZE = (80, 24)
#: Keys that end the app: the walk must go on.
QUITTING = ("quit", "app.quit")
#: Keys a learner presses that no binding lists (handled in on_key or by Textual itself).
UNLISTED = (*"0123456789", "tab", "shift+tab", "escape", "enter")


def declared(node: DOMNode) -> Iterator[Binding]:
    """The bindings ``node``'s classes declare in ``BINDINGS`` (inherited ones included)."""
    for cls in type(node).__mro__:
        for binding in cls.__dict__.get("BINDINGS", ()):
            yield binding if isinstance(binding, Binding) else Binding(*binding)
        if not getattr(cls, "INHERIT_BINDINGS", True):
            break


def bound_keys(app: TutorApp, levels: tuple[str, ...] = ("app", "screen", "widget")) -> list[str]:
    """Every key declared at ``levels``: the app's, the screen's, the focused widget's and its
    containers'; quitting keys left out, in a stable order."""
    screen = app.screen
    chain: list[DOMNode] = [app] if "app" in levels else []
    chain += [screen] if "screen" in levels else []
    if "widget" in levels and screen.focused is not None:
        chain += [screen.focused, *(a for a in screen.focused.ancestors if a is not screen and a is not app)]
    keys: dict[str, None] = {}
    for node in chain:
        for binding in declared(node):
            if binding.action in QUITTING:
                continue
            for key in binding.key.split(","):
                keys[key.strip()] = None
    return list(keys)


def healthy(app: TutorApp, toasts: Toasts, what: str) -> None:
    assert app.is_running and app.crash is None, f"the app died after {what}: {app.crash!r}"
    assert not toasts.errors(), f"error shown after {what}: {toasts.errors()}"


async def settle(pilot) -> None:
    """Wait until the open lesson has mounted all its parts."""
    view = pilot.app.lesson_screen.view
    if not view.complete:
        await until(pilot, lambda: view.complete, 120, f"lesson {view.lesson.number} to mount every part")
        await pilot.pause()


async def restore(pilot, mode: str, lesson=None, focus: Widget | None = None) -> None:
    """Back to ``mode`` (and ``lesson``), with ``focus`` focused, overlays closed."""
    app: TutorApp = pilot.app
    while len(app.screen_stack) > 1:
        app.pop_screen()
        await pilot.pause()
    if app.current_mode != mode:
        await app.switch_mode(mode)
        await pilot.pause()
    if lesson is not None and app.lesson_screen.lesson is not lesson:
        await app.lesson_screen.show_lesson(lesson)
    if mode == "lessons":
        await settle(pilot)
    if focus is None:
        app.screen.set_focus(None)
    elif app.screen.focused is not focus:
        if isinstance(focus, Contents):
            await app.lesson_screen.show_contents()
        elif not focus.display:
            return
        focus.focus()
        await pilot.pause()


async def press_every_key(pilot, toasts: Toasts, mode: str, lesson=None, focus: Widget | None = None,
                          levels: tuple[str, ...] = ("widget",)) -> int:
    """Press each key bound at ``levels`` where ``focus`` is focused (None: nothing is), restoring that
    state before each; the count."""
    app: TutorApp = pilot.app
    await restore(pilot, mode, lesson, focus)
    keys = bound_keys(app, levels)
    where = f"{mode} {lesson.name if lesson else ''} {type(focus).__name__ if focus else ''}"
    for key in keys:
        await restore(pilot, mode, lesson, focus)
        await pilot.press(key)
        healthy(app, toasts, f"{key!r} on {where}")
    return len(keys)


def focusable_in(screen: Screen, root: Widget) -> list[Widget]:
    """The widgets of ``root`` that take focus."""
    return [w for w in screen.focus_chain if root in w.ancestors]


@pytest.mark.slow
async def test_every_bound_key_on_every_screen_keeps_the_app_up():
    toasts = Toasts()
    app = TutorApp(LESSONS)
    pressed = 0
    async with app.run_test(size=SIZE, message_hook=toasts) as pilot:
        for lesson in LESSONS:
            await restore(pilot, "lessons", lesson)
            # nothing focused: the lesson screen's keys (and the app's, once)
            levels = ("app", "screen") if lesson is LESSONS[0] else ("screen",)
            pressed += await press_every_key(pilot, toasts, "lessons", lesson, None, levels)
            for widget in focusable_in(app.screen, app.lesson_screen.view):
                pressed += await press_every_key(pilot, toasts, "lessons", lesson, widget)
        await restore(pilot, "lessons", LESSONS[0])
        await app.lesson_screen.show_contents()
        pressed += await press_every_key(pilot, toasts, "lessons", LESSONS[0], app.lesson_screen.contents)
        for mode in ("train", "runs"):
            await restore(pilot, mode)
            for i, widget in enumerate(list(app.screen.focus_chain)):
                levels = ("widget",) if i else ("screen", "widget")
                pressed += await press_every_key(pilot, toasts, mode, focus=widget, levels=levels)
        await restore(pilot, "lessons", LESSONS[0])
        for opener, kind in (("question_mark", HelpScreen), ("ctrl+p", CommandPalette)):
            for key in await _overlay_keys(pilot, opener, kind):
                await restore(pilot, "lessons", LESSONS[0], app.lesson_screen.view)
                await pilot.press(opener)
                await pilot.pause()
                await pilot.press(key)
                await pilot.pause()
                healthy(app, toasts, f"{key!r} on {kind.__name__}")
                pressed += 1
    assert pressed > 300


async def _overlay_keys(pilot, opener: str, kind: type[Screen]) -> list[str]:
    await pilot.press(opener)
    await pilot.pause()
    assert isinstance(pilot.app.screen, kind)
    return bound_keys(pilot.app)


@pytest.mark.slow
async def test_a_random_walk_of_documented_keys_keeps_the_app_up():
    """500 keys chosen at random among those bound where the walk stands (quit excluded)."""
    toasts = Toasts()
    rng = random.Random(10)
    app = TutorApp(LESSONS)
    trail: list[str] = []
    async with app.run_test(size=SIZE, message_hook=toasts) as pilot:
        await settle(pilot)
        for _ in range(500):
            key = rng.choice(bound_keys(app) + list(UNLISTED))
            trail.append(f"{app.current_mode}/{type(app.screen.focused).__name__}:{key}")
            await pilot.press(key)
            await pilot.pause()
            healthy(app, toasts, " ".join(trail[-8:]))
    assert len(trail) == 500
