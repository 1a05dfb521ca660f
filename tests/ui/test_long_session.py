"""A long session: lessons read and left, dialogs opened and closed, screens shown again. What it leaves
behind must not grow, so that no key gets slower and quitting stays quick (benchmarks/soak.py times it).

Runs against the scripted fake worker (tests/fake_worker.py).
"""

from __future__ import annotations

import gc
import weakref

from textual.widget import Widget

from tltui.ui.app import TutorApp
from tltui.ui.dialogs.lr_finder import LrCurve, LrFinderScreen
from tltui.ui.lesson.view import LessonView
from tltui.ui.lessons import load_lessons
from tltui.ui.release import signals
from tltui.ui.screens.help import HelpScreen
from tltui.ui.screens.lesson import KEPT_VIEWS, LessonScreen
from tltui.ui.screens.runs import RunsScreen
from tltui.ui.screens.train import TrainScreen

from conftest import until, workers_done

LESSONS = load_lessons()
SIZE = (80, 24)


async def read(pilot, number: int) -> LessonView:
    """Open lesson ``number`` and wait until it has every part mounted."""
    screen = pilot.app.lesson_screen
    await screen.show_lesson(LESSONS[number - 1])
    await until(pilot, lambda: screen.view.complete, what=f"lesson {number} to fill in")
    return screen.view


async def show(pilot, key: str, screen_type: type) -> None:
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, screen_type), what=f"{key} to show {screen_type.__name__}")


async def tour(pilot) -> None:
    """Every lesson, the training and runs screens, the help, the LR finder; back to the last lesson."""
    for number in range(1, len(LESSONS) + 1):
        await read(pilot, number)
        await show(pilot, "T", TrainScreen)
        await show(pilot, "R", RunsScreen)
        await show(pilot, "L", LessonScreen)
    await show(pilot, "question_mark", HelpScreen)
    await show(pilot, "escape", LessonScreen)
    await show(pilot, "T", TrainScreen)
    await show(pilot, "F", LrFinderScreen)
    await show(pilot, "escape", TrainScreen)
    await show(pilot, "L", LessonScreen)
    await views_dropped(pilot)


async def views_dropped(pilot) -> None:
    """Wait until the lesson views beyond the last read are removed (after the painting of the last one)."""
    screen = pilot.app.lesson_screen
    await until(pilot, lambda: len(screen.query(LessonView)) <= KEPT_VIEWS, what="the old lessons' views removed")
    await workers_done(pilot)


def held(app: TutorApp) -> dict[str, int]:
    """What the session keeps: live widgets, each signal's subscribers, the app's watchers."""
    gc.collect()
    counts = {"widgets alive": sum(isinstance(o, Widget) for o in gc.get_objects())}
    counts |= {f"{signal._name} subscribers": len(signal._subscriptions) for signal in signals(app)}
    counts |= {f"{name} watchers": len(watchers) for name, watchers in getattr(app, "__watchers", {}).items()}
    return counts


async def test_a_second_tour_of_every_lesson_and_screen_leaves_no_more_behind_than_the_first():
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.link.state == "ready")
        await tour(pilot)
        first = held(app)
        await tour(pilot)
        second = held(app)
        assert {k: v for k, v in second.items() if v > first.get(k, 0)} == {}, (first, second)
        # quitting has only the lessons kept and the three screens to unmount
        assert len(app.lesson_screen.query(LessonView)) <= KEPT_VIEWS
        assert not [w for w in app.lesson_screen.query(LessonView) if w.lesson.name not in app.lesson_screen.views]


def widgets(root: Widget) -> list[weakref.ref]:
    """Weak references to ``root`` and every widget under it."""
    return [weakref.ref(node) for node in root.walk_children(with_self=True)]


async def test_no_widget_of_a_lesson_left_or_a_dialog_closed_is_kept():
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.link.state == "ready")
        gone = widgets(await read(pilot, 2))  # live pictures: they hear the worker and the theme
        await show(pilot, "question_mark", HelpScreen)
        gone += widgets(app.screen)
        await show(pilot, "escape", LessonScreen)
        await show(pilot, "T", TrainScreen)
        await show(pilot, "F", LrFinderScreen)  # its chart hears the theme
        await until(pilot, lambda: app.screen.query(LrCurve), what="the finder's chart")
        await workers_done(pilot)
        gone += widgets(app.screen)
        await show(pilot, "escape", TrainScreen)
        await show(pilot, "L", LessonScreen)
        for number in range(3, 3 + KEPT_VIEWS):
            await read(pilot, number)  # lesson 2 is no longer among the views kept
        await views_dropped(pilot)
        await until(pilot, lambda: not any(node() is not None and node().is_attached for node in gone),
                    what="lesson 2 and the dialogs taken off the screen")
        await workers_done(pilot)
        gc.collect()
        kept = [type(node()).__name__ for node in gone if node() is not None]
        assert len(gone) > 100 and kept == []


async def test_a_lesson_left_before_its_first_paint_waits_idle_until_it_is_shown_again(monkeypatch):
    """``n`` then ``T`` in one burst: the new lesson asked after every refresh whether it was laid out, and
    used 60 % of the CPU for as long as the training screen was shown. It waits now, and fills in on ``L``."""
    from keyboard import send

    asked = []
    after_first_paint = LessonView._after_first_paint
    monkeypatch.setattr(LessonView, "_after_first_paint",
                        lambda view, *args: (asked.append(view.lesson.name), after_first_paint(view, *args)))
    app = TutorApp(LESSONS)
    async with app.run_test(size=SIZE) as pilot:
        await read(pilot, 1)
        await send(app, ["n", "T"])
        await until(pilot, lambda: isinstance(app.screen, TrainScreen), what="T to show the training screen")
        await pilot.pause(0.5)
        second = LESSONS[1].name
        before = asked.count(second)
        await pilot.pause(1.0)
        assert asked.count(second) == before, "the lesson left behind is still being laid out"
        assert not app.lesson_screen.view.complete
        await show(pilot, "L", LessonScreen)
        await until(pilot, lambda: app.lesson_screen.view.complete, what="the lesson to fill in once shown")
