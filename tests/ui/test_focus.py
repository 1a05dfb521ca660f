"""Focus a learner can see and trust: every Tab stop is a live widget (or a text field in one), drawn
focused in characters, not in colour only; a text field takes every printable key; digits open lessons only
while the lesson has the keys; the contents takes the keys only from ``t`` and shows it has them."""

from __future__ import annotations

import string

import pytest
from textual.widget import Widget
from textual.widgets import Input

from tltui.ui.app import TutorApp
from tltui.ui.base.frame import LiveFrame
from tltui.ui.lessons import find_lesson, load_lessons
from tltui.ui.screens.lesson import LessonScreen

from conftest import until
from keyboard import idle, screen_lines, send

LESSONS = load_lessons()
SIZE = (80, 24)
#: Every printable ASCII character but the space (Input takes it too; it is typed in the middle below).
PRINTABLE = [c for c in string.printable if c.isprintable() and c != " "]


def frame_of(widget: Widget) -> LiveFrame | None:
    """The live widget ``widget`` is (or is in)."""
    return widget if isinstance(widget, LiveFrame) else next(
        (a for a in widget.ancestors if isinstance(a, LiveFrame)), None)


async def settled(pilot) -> None:
    app = pilot.app
    await until(pilot, lambda: app.lesson_screen.view.complete, what="the lesson to mount")
    await pilot.pause()


async def drawn(app: TutorApp, widget: Widget) -> list[str]:
    await idle(app)
    return screen_lines(app, widget.region)


@pytest.mark.slow
async def test_tab_walks_every_live_widget_of_every_lesson_each_drawn_focused():
    """From nothing focused, tab visits each stop once and comes back round. A stop is a live widget, or a
    text field inside one (none other: no unlit second stop such as a code view); it is on the screen, it
    has a title that says what it is, and its frame looks different, in characters, from the same frame
    unfocused."""
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        for lesson in LESSONS:
            await app.lesson_screen.show_lesson(lesson)
            await settled(pilot)
            live = [w for w in app.lesson_screen.view.query(LiveFrame) if w.display]
            stops: list[Widget] = []
            for _ in range(len(live) * 3 + 2):
                await pilot.press("tab")
                focused = app.screen.focused
                if focused is None or focused in stops:
                    break
                stops.append(focused)
                frame = frame_of(focused)
                where = f"lesson {lesson.number}, stop {len(stops)} ({type(focused).__name__})"
                assert frame is not None and (focused is frame or isinstance(focused, Input)), \
                    f"{where} is not a live widget or a text field in one"
                assert frame.border_title, f"{where} has no title"
                assert focused.region.intersection(app.screen.region), f"{where} is off the screen"
                lit = await drawn(app, frame)
                app.screen.set_focus(None)
                unlit = await drawn(app, frame)
                assert lit != unlit, f"{where} looks the same focused and not, colours aside"
                focused.focus()
                await pilot.pause()
            frames = {frame_of(stop) for stop in stops}
            assert frames == set(live), f"lesson {lesson.number}: tab never reaches {set(live) - frames}"


async def test_a_text_field_takes_every_printable_key():
    """On the training screen, each field of the form takes every printable character, the keys of the
    screen (s starts, c cancels, f hides the form) and the app's (T, R, L, ?, q) included; ctrl+s starts."""
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        screen = app.screen
        typed = "".join(PRINTABLE[:47]) + " " + "".join(PRINTABLE[47:])
        for field in screen.query(Input):
            field.focus()
            await pilot.pause()
            field.value = ""
            await send(app, typed)
            await idle(app)
            await pilot.pause()
            assert field.value == typed, f"field {field.id} took {field.value!r}"
            assert app.screen is screen and screen.focused is field and screen.run is None
        screen.query_one("#epochs", Input).value = "2"
        screen.query_one("#data", Input).value = "builtin"
        screen.query_one("#data", Input).focus()
        await until(pilot, lambda: app.link.state == "ready", what="the worker")
        for field in screen.query(Input):
            if field.id not in ("data", "epochs"):
                field.value = ""
        await pilot.press("ctrl+s")
        await until(pilot, lambda: screen.run is not None, what="ctrl+s to start the run")


async def test_a_wrong_value_is_named_once_and_s_in_a_field_starts_nothing():
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        field = app.screen.query_one("#lr_decay", Input)
        field.value = "8"
        field.focus()
        await pilot.press("end", "s")
        reason = str(app.screen.query_one("#reason").render())
        assert field.value == "8s" and app.screen.run is None
        assert reason == "✗ lr decay: '8s' is not a number", reason


async def test_digits_open_lessons_only_while_the_lesson_has_the_keys():
    """Answering 2 in lesson 6's widgets, or 3 2 in the quiz's reasoning, stays in the lesson; once escape
    gives the keys back, 2 opens lesson 2; with the contents open, digits open lessons too."""
    from tltui.ui.lesson.lr_cascade import LrCascade
    from tltui.ui.lesson.quiz import QuadrantQuiz
    from tltui.ui.lesson.unfreeze_timeline import UnfreezeTimeline

    six = find_lesson(LESSONS, "learning-rates")
    app = TutorApp(LESSONS, start=six)
    async with app.run_test(size=SIZE) as pilot:
        await settled(pilot)
        screen: LessonScreen = app.lesson_screen
        for kind in (LrCascade, UnfreezeTimeline):
            screen.query_one(kind).focus()
            await pilot.press("2")
            assert screen.lesson is six, f"2 with the {kind.__name__} focused opened another lesson"
        await screen.show_lesson(find_lesson(LESSONS, "how-much-to-freeze"))
        await settled(pilot)
        quiz = screen.query_one(QuadrantQuiz)
        quiz.focus()
        await pilot.press("1", "1")  # a quadrant, then a strategy: the reasoning follows
        assert quiz.stage == "feedback"
        await send(app, ["3", "2"])
        await idle(app)
        await pilot.pause()
        assert screen.lesson.name == "how-much-to-freeze" and quiz.stage == "feedback"
        await pilot.press("escape", "2")
        assert screen.lesson.number == 2
        await pilot.press("t", "4")
        assert screen.lesson.number == 4


async def test_the_docked_contents_takes_the_keys_only_from_t_and_shows_it():
    """At 120 columns the contents sits beside the lesson: tab walks the lesson's widgets, never the list;
    t gives it the keys, which its frame and cursor show (in characters: NO_COLOR shows it too); j, G and
    space move the cursor; escape gives the keys back."""
    app = TutorApp(LESSONS)
    async with app.run_test(size=(120, 40)) as pilot:
        await settled(pilot)
        screen: LessonScreen = app.lesson_screen
        contents = screen.contents
        assert contents is not None and contents.display
        for _ in range(8):
            await pilot.press("tab")
            assert screen.focused is not contents
        screen.set_focus(None)
        unlit = await drawn(app, contents)
        await pilot.press("t")
        assert contents.has_focus
        assert await drawn(app, contents) != unlit
        await pilot.press("j")
        assert contents.highlighted == 1
        await pilot.press("G")
        assert contents.highlighted == len(LESSONS) - 1
        await pilot.press("g", "space")
        assert contents.highlighted > 1
        await pilot.press("escape")
        assert screen.focused is None and contents.display
        await pilot.press("tab")
        assert screen.focused is not contents
