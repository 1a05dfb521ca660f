"""Footers that fit: on every screen, with each kind of widget focused (each focus of every lesson with a
live widget, the contents, each field and view of the training and runs screens), at 80 and 120 columns,
the footer shows whole keys only (no ``^p paletteq``, no ``q Qui``), and the help key whenever no text
field takes it."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Input
from textual.widgets._footer import FooterKey

from conftest import until
from keyboard import idle, screen_lines, send
from tltui.ui.app import TutorApp
from tltui.ui.lessons import WidgetPart, load_lessons
from tltui.ui.widgets.footer import KeysFooter

LESSONS = load_lessons()
SIZES = ((80, 24), (120, 40))
#: The lessons that show each kind of live widget: the first (its checks and the race) and every one that
#: embeds a widget other than a check (the others hold checks only, like the first).
SHOWN = [lesson for lesson in LESSONS if lesson is LESSONS[0] or any(
    isinstance(part, WidgetPart) and part.name != "check" for part in lesson.parts)]


def label(key: FooterKey) -> str:
    return key.key_display + (f" {key.description}" if key.description else "")


async def footer_fits(pilot, where: str) -> int:
    """The footer's line holds each key it shows whole, and nothing else but spaces and the palette key's
    bar; the help key is there unless a text field has the keys. How many keys it shows."""
    app = pilot.app
    footer = app.screen.query_one(KeysFooter)
    for _ in range(3):  # the footer is built again after the refresh that follows a change of focus
        await idle(app)
        await asyncio.sleep(0.02)
    line = screen_lines(app)[footer.region.y]
    shown = [key for key in footer.query(FooterKey) if key.display]
    rest = line
    for key in shown:
        assert label(key) in rest, f"{where}: {label(key)!r} is cut in {line!r}"
        rest = rest.replace(label(key), "", 1)
        assert key.region.right <= app.size.width, f"{where}: {label(key)!r} runs off the edge"
    assert not rest.replace("▏", "").strip(), f"{where}: stray {rest.strip()!r} in {line!r}"
    if not isinstance(app.screen.focused, Input):
        assert "? Help" in line, f"{where}: no help key in {line!r}"
    return len(shown)


@pytest.mark.slow
@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
async def test_every_footer_shows_whole_keys(size):
    app = TutorApp(LESSONS)
    checked = 0
    async with app.run_test(size=size) as pilot:
        screen = app.lesson_screen
        for lesson in SHOWN:
            await screen.show_lesson(lesson)
            await until(pilot, lambda: screen.view.complete, what="the lesson to mount")
            checked += await footer_fits(pilot, f"lesson {lesson.number}")
            seen = []
            while True:
                await send(app, ["tab"])
                await idle(app)
                if screen.focused is None or screen.focused in seen:
                    break
                seen.append(screen.focused)
                checked += await footer_fits(pilot, f"lesson {lesson.number}, {type(screen.focused).__name__}")
        screen.set_focus(None)
        await pilot.press("t")
        checked += await footer_fits(pilot, "the contents")
        for key in ("T", "R"):
            await pilot.press(key)
            checked += await footer_fits(pilot, f"{key}, nothing focused")
            for widget in list(app.screen.focus_chain):
                widget.focus()
                checked += await footer_fits(pilot, f"{key}, {type(widget).__name__} {widget.id or ''}")
    assert checked > 100
