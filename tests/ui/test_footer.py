"""Screens that read right: on every screen, with each of its stops focused in turn as Tab walks them
(every live widget of every lesson, the contents, each field and view of the training and runs screens), at
80x24 and 120x40, the footer shows whole keys only (no ``^p paletteq``, no ``q Qui``), and the help key
whenever no text field takes it; and no raw markdown shows (``**``, backticks, ``](``, a leading ``#``)
outside the code a lesson shows as code."""

from __future__ import annotations

import re

import pytest
from textual.widgets import Input
from textual.widgets._footer import FooterKey
from textual.widgets._markdown import MarkdownFence

from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons
from tltui.ui.widgets.code_view import CodeView
from tltui.ui.widgets.footer import KeysFooter

from conftest import until
from keyboard import idle, screen_lines, send

LESSONS = load_lessons()
SIZES = ((80, 24), (120, 40))
#: Markdown that must be drawn, never shown: bold marks, a code span's backtick, the middle of a link, a
#: heading's hashes at the start of a line (after a frame's border, if any).
RAW_MARKDOWN = re.compile(r"\*\*|`|\]\(|^[\s│┃▕▏]*#{1,6} ")
#: What shows code or the learner's own typing as it is: Python may well hold ``**`` or ``# ``.
AS_TYPED = (MarkdownFence, CodeView, Input)


def label(key: FooterKey) -> str:
    return key.key_display + (f" {key.description}" if key.description else "")


def no_raw_markdown(app, where: str) -> None:
    """No line of the screen shows markdown undrawn, the code and the fields that show text as typed aside."""
    lines = screen_lines(app)
    for widget in app.screen.query("*"):
        if isinstance(widget, AS_TYPED) and widget.display:
            box = widget.region.intersection(app.screen.region)
            for y in range(box.y, min(box.bottom, len(lines))):
                lines[y] = lines[y][:box.x] + " " * box.width + lines[y][box.right:]
    raw = [line for line in lines if RAW_MARKDOWN.search(line)]
    assert not raw, f"{where}: raw markdown in {raw}"


async def reads_right(pilot, where: str) -> int:
    """The footer fits (``footer_fits``) and no raw markdown shows; how many keys the footer shows."""
    shown = await footer_fits(pilot, where)
    no_raw_markdown(pilot.app, where)
    return shown


async def tab_walk(app, where: str):
    """Press tab until the focus comes back round (or to nothing), yielding a description of each stop."""
    seen = []
    while True:
        await send(app, ["tab"])
        await idle(app)
        focused = app.screen.focused
        if focused is None or focused in seen:
            return
        seen.append(focused)
        yield f"{where}, {type(focused).__name__} {focused.id or ''}"


async def footer_fits(pilot, where: str) -> int:
    """The footer's line holds each key it shows whole, and nothing else but spaces and the palette key's
    bar; the help key is there unless a text field has the keys. How many keys it shows."""
    app = pilot.app
    footer = app.screen.query_one(KeysFooter)
    await idle(app)
    # the footer is built again after the refresh that follows a change of focus: until it has been built
    # from the keys of where the walk stands (what it would build now is what it built last)
    await until(pilot, lambda: footer._drawn == footer._shown(), what=f"{where}: the footer's keys")
    await pilot.pause()
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
async def test_every_screen_shows_whole_keys_and_no_raw_markdown(size):
    app = TutorApp(LESSONS)
    checked = 0
    async with app.run_test(size=size) as pilot:
        screen = app.lesson_screen
        for lesson in LESSONS:
            await screen.show_lesson(lesson)
            await until(pilot, lambda: screen.view.complete, what="the lesson to mount")
            checked += await reads_right(pilot, f"lesson {lesson.number}")
            async for where in tab_walk(app, f"lesson {lesson.number}"):
                checked += await reads_right(pilot, where)
        screen.set_focus(None)
        await pilot.press("t")
        checked += await reads_right(pilot, "the contents")
        for key in ("T", "R"):
            await pilot.press(key)
            app.screen.set_focus(None)
            checked += await reads_right(pilot, f"{key}, nothing focused")
            async for where in tab_walk(app, key):
                checked += await reads_right(pilot, where)
    assert checked > 100
