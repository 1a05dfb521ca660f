"""SVG snapshots of what a learner sees at 80x24 (update with --snapshot-update after a deliberate change)."""

from __future__ import annotations

from tltui.app import TutorApp
from tltui.lessons import load_lessons
from tltui.widgets.lesson_view import LessonView

SIZE = (80, 24)


async def lesson_complete(pilot) -> None:
    """Wait until the open lesson has every part mounted."""
    await pilot.pause()
    while not pilot.app.screen.query(LessonView) or not pilot.app.screen.view.complete:
        await pilot.pause(0.01)
    await pilot.pause()


def test_first_lesson(snap_compare):
    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE, run_before=lesson_complete)


def test_help_overlay(snap_compare):
    async def open_help(pilot) -> None:
        await lesson_complete(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE, run_before=open_help)


def test_contents_over_a_lesson_with_a_code_block(snap_compare):
    async def open_contents(pilot) -> None:
        await pilot.press("3")
        await lesson_complete(pilot)
        await pilot.press("G", "t")
        await pilot.pause()

    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE, run_before=open_contents)
