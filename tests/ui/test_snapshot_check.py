"""SVG snapshots of the check of understanding at 80x24 (update with --snapshot-update after a deliberate
change)."""

from __future__ import annotations

from tltui.ui.app import TutorApp
from tltui.ui.lesson.check import LessonCheck
from tltui.ui.lessons import find_lesson, load_lessons

from conftest import footer_shows, lesson_mounted, until, workers_done

SIZE = (80, 24)


def check_app() -> TutorApp:
    lessons = load_lessons()
    return TutorApp(lessons, start=find_lesson(lessons, "beyond-vision"))


async def focus_check(pilot, *keys: str, stage: str) -> None:
    """Wait for the whole lesson, tab to the check, press ``keys``, wait for the check's ``stage``."""
    await lesson_mounted(pilot)
    await pilot.press("tab")
    check = pilot.app.screen.query_one(LessonCheck)
    await until(pilot, lambda: check.has_focus, what="the check to have the keys")
    await pilot.press(*keys)
    await until(pilot, lambda: check.stage == stage, what=f"the check's {stage} stage")
    await workers_done(pilot)
    await footer_shows(pilot, check)


def test_check_question(snap_compare):
    assert snap_compare(check_app(), terminal_size=SIZE,
                        run_before=lambda pilot: focus_check(pilot, "down", stage="question"))


def test_check_feedback(snap_compare):
    assert snap_compare(check_app(), terminal_size=SIZE,
                        run_before=lambda pilot: focus_check(pilot, "2", stage="feedback"))


def test_check_feedback_draws_inline_code(snap_compare):
    """The fourth question's reasoning quotes `B A x`: drawn as code, not between backticks."""
    assert snap_compare(check_app(), terminal_size=SIZE,
                        run_before=lambda pilot: focus_check(pilot, "1", "enter", "2", "enter", "2", "enter", "1",
                                                              stage="feedback"))
