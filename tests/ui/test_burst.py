"""Keys that arrive together, as a fast typist or a held key sends them: the tutor takes them in any
order its widgets are ready for, and never crashes."""

from __future__ import annotations

import asyncio
import time

from textual import events
from textual.command import CommandPalette

from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons
from tltui.ui.paging import guard_paging

from conftest import until, until_over, workers_done

LESSONS = load_lessons()
START = 7
"""The contents opens with this lesson (counted from 0) highlighted: a page either way moves it."""


TRIES = 10
"""Tutors started until one takes ``key`` before the contents' layout (nearly always the first)."""


async def _contents_then(key: str, *after: str) -> int | None:
    """``t`` and ``key`` as one burst at 80x24: ``key`` lands once the contents has the keys but before it is
    laid out (where Textual's OptionList._move_page raised KeyError and ended the tutor). The lesson the
    contents highlights once ``key`` is taken. On a loaded machine the layout can come first, which is not
    the case under test: that tutor is dropped and another started."""
    for _ in range(TRIES):
        app = TutorApp(LESSONS, start=LESSONS[START])
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            app._driver.send_message(events.Key("t", "t"))
            deadline = time.monotonic() + 10
            while app.lesson_screen.contents is None or not app.lesson_screen.contents.has_focus:
                assert time.monotonic() < deadline, "t never gave the contents the keys"
                await asyncio.sleep(0)  # a turn of the loop, not a time: the next key must beat the layout
            if app.lesson_screen.contents.scrollable_content_region:
                continue  # laid out already
            for sent in (key, *after):
                app._driver.send_message(events.Key(sent, "\r" if sent == "enter" else None))
            contents = app.lesson_screen.contents
            if after:  # enter: the lesson it opens
                await until(pilot, lambda c=contents, a=app: not c.has_focus or a.crash is not None,
                            timeout=10, what=f"{key} {' '.join(after)} to open a lesson")
                await workers_done(pilot)
                assert app.is_running and app.crash is None, app.crash
                return LESSONS.index(app.lesson_screen.lesson)
            await until(pilot, lambda c=contents, a=app: c.highlighted != START or a.crash is not None,
                        timeout=10, what=f"{key} to move the highlight")
            assert app.is_running and app.crash is None, f"{key} ended the tutor: {app.crash!r}"
            # the warm-up's screens built before the tutor closes (quitting during it is tested elsewhere)
            await until(pilot, lambda a=app: {"train", "runs"} <= a._screen_stacks.keys(), what="the warm-up")
            return contents.highlighted
    raise AssertionError(f"the contents was laid out before {key} in each of {TRIES} tutors")


async def test_t_then_a_page_key_in_one_burst_pages_the_contents():
    for key, moved_to in (("pagedown", len(LESSONS) - 1), ("pageup", 0)) * 2:
        assert await _contents_then(key) == moved_to


async def test_enter_after_a_page_key_in_the_same_burst_opens_the_paged_lesson():
    """t, PageDown, enter as one burst: the page key waited for the list's layout while enter went ahead and
    opened the lesson highlighted before the page."""
    for key, moved_to in (("pagedown", len(LESSONS) - 1), ("pageup", 0)):
        assert await _contents_then(key, "enter") == moved_to


async def test_keys_typed_behind_t_go_to_the_contents():
    """t, PageDown, enter in one read of the terminal, the contents built (the tutor idle a moment): the
    contents took the focus after the keys already queued, so PageDown scrolled the lesson and enter did
    nothing (found in tmux, 2 s after start)."""
    from keyboard import send

    for keys, opened in ((("t", "pagedown", "enter"), LESSONS[-1]), (("t", "pageup", "enter"), LESSONS[0])):
        app = TutorApp(LESSONS, start=LESSONS[START])
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda a=app: a.lesson_screen.contents is not None, what="the contents built")
            await send(app, keys)
            await until(pilot, lambda a=app, o=opened: a.lesson_screen.lesson is o or a.crash is not None,
                        timeout=10, what=f"{' '.join(keys)} to open {opened.name}")
            assert app.crash is None, app.crash


async def test_any_option_list_pages_before_its_first_layout():
    """The guard is on Textual's OptionList itself, so the training form's selects and the command palette
    (option lists of Textual's own) are covered: a list shown and paged in the same turn, before any layout,
    pages."""
    from textual.app import App, ComposeResult
    from textual.widgets import OptionList

    class OneList(App[None]):
        CSS = "OptionList { display: none; height: 10; }"

        def compose(self) -> ComposeResult:
            yield OptionList(*(f"option {i}" for i in range(40)))

    guard_paging()
    app = OneList()
    async with app.run_test(size=(40, 12)) as pilot:
        options = app.query_one(OptionList)
        options.highlighted = 1
        options.display = True
        options.action_page_down()  # before the refresh that lays it out: Textual raised KeyError here
        await pilot.pause()
        await pilot.pause()
        assert app.is_running
        assert options.highlighted > 1, "the page key was dropped"


async def test_the_palette_closed_before_it_has_started_ends_nothing():
    """ctrl+p then escape in one burst could close Textual's command palette before its start had run: it
    then looked for the screen under it (IndexError), and the next ctrl+p clashed with the dead palette's id.
    The escape is run here right after the palette is pushed, the order such a burst can give."""
    app = TutorApp(LESSONS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        for _ in range(2):
            app.action_command_palette()
            palette = app.screen
            await app.screen.run_action("escape")
            await until(pilot, lambda: not palette.is_attached, what="the palette to close")  # noqa: B023
            await workers_done(pilot)  # its start, had it run late, would have raised by now
            assert app.is_running and app.crash is None, app.crash
            assert app.screen is app.lesson_screen
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette), "a palette no longer opens"


async def test_a_lesson_chosen_twice_in_the_palette_closes_it_once():
    """On the runs screen, ctrl+p, l, then enter among more keys: the palette's choice came twice (its
    list's selection queued behind the first), and the second dismiss, after the first had closed the palette
    and switched to the lessons, popped the lessons' only screen (ScreenStackError: the tutor gone; the
    keyboard monkey found it). A palette no longer shown closes nothing."""
    app = TutorApp(LESSONS)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("R")
        await until(pilot, lambda: type(app.screen).__name__ == "RunsScreen")
        await pilot.press("ctrl+p")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette) and app.screen.is_mounted)
        palette = app.screen
        await pilot.press("3", "enter")
        await until(pilot, lambda: app.screen is app.lesson_screen, what="the chosen lesson")
        palette.dismiss()  # the second choice of the same burst
        await workers_done(pilot)
        assert app.is_running and app.crash is None, app.crash
        assert app.screen is app.lesson_screen and len(app.screen_stack) == 1


async def test_keys_in_the_burst_that_quits_are_dropped():
    """q then n (or t, T, a digit) in one burst: the tutor quit with MountError, the next lesson mounted in a
    screen already taken down. It now quits with status 0 whatever follows q or ctrl+q."""
    from keyboard import send

    for keys in (["q", "n"], ["q", "t"], ["q", "T"], ["q", "R", "5"], [*"question_mark"], ["ctrl+q", "n", "t", "p"]):
        app = TutorApp(LESSONS)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.lesson_screen.view.complete)  # noqa: B023 - called in this iteration
            await send(app, keys)
            await until_over(app, what=f"{' '.join(keys)} to quit the tutor")
        assert app.crash is None and app.return_code == 0, (keys, app.crash, app.return_code)


async def test_a_digit_typed_after_n_or_p_in_one_burst_opens_the_lesson_it_names():
    """``n`` then ``4`` in one burst opened lesson 5: ``n`` is a binding, handled once the key has come back
    up to the app, and the digit was handled on the screen on the way down, before it. Every pair below,
    with the lessons it must end on, whatever the typist's pace."""
    from keyboard import send

    app = TutorApp(LESSONS, start=LESSONS[0])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.lesson_screen
        for keys, number in ((["n", "4"], 4), (["p", "6"], 6), (["4", "n"], 5), (["n", "n", "3", "p"], 2)):
            await send(app, keys)
            await until(pilot, lambda n=number: screen.lesson.number == n,
                        10, f"{' '.join(keys)} to end on lesson {number}")
            await pilot.pause(0.3)
            assert screen.lesson.number == number, f"{' '.join(keys)} ended on lesson {screen.lesson.number}"
            await pilot.pause(1.3)  # past the window that makes two digits one number
