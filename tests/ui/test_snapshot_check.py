"""SVG snapshots of the check of understanding at 80x24 (update with --snapshot-update after a deliberate
change)."""

from __future__ import annotations

from tltui.ui.app import TutorApp
from tltui.ui.lessons import find_lesson, load_lessons
from tltui.ui.widgets.check import LessonCheck
from tltui.ui.widgets.lesson_view import LessonView

SIZE = (80, 24)


def check_app() -> TutorApp:
    lessons = load_lessons()
    return TutorApp(lessons, start=find_lesson(lessons, "beyond-vision"))


async def focus_check(pilot, *keys: str) -> None:
    """Wait for the whole lesson, tab to the check, press ``keys``."""
    while not pilot.app.screen.query(LessonView) or not pilot.app.screen.view.complete:
        await pilot.pause(0.01)
    await pilot.press("tab")
    while not pilot.app.screen.query_one(LessonCheck).has_focus:
        await pilot.pause(0.01)
    await pilot.press(*keys)
    await pilot.pause(0.1)


def test_check_question(snap_compare):
    assert snap_compare(check_app(), terminal_size=SIZE, run_before=lambda pilot: focus_check(pilot, "down"))


def test_check_feedback(snap_compare):
    assert snap_compare(check_app(), terminal_size=SIZE, run_before=lambda pilot: focus_check(pilot, "2"))


def test_check_feedback_draws_inline_code(snap_compare):
    """The fourth question's reasoning quotes `B A x`: drawn as code, not between backticks."""
    assert snap_compare(check_app(), terminal_size=SIZE,
                        run_before=lambda pilot: focus_check(pilot, "1", "enter", "2", "enter", "2", "enter", "1"))
