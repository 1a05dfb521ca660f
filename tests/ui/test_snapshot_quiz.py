"""SVG snapshots of the quadrant quiz at 80x24 (update with --snapshot-update after a deliberate change)."""

from __future__ import annotations

import json

from tltui.ui.app import TutorApp
from tltui.ui.lessons import find_lesson, load_lessons
from tltui.ui.widgets.lesson_view import LessonView
from tltui.ui.widgets.quiz import KEY, QuadrantQuiz, shuffled
from tltui.ui.widgets.quiz_scenarios import load_quiz

SIZE = (80, 24)
IDS = [s.id for s in load_quiz().scenarios]


def quiz_app(data_dir, first: str = "shelter-dogs") -> TutorApp:
    """Lesson 5 with a saved seed that asks ``first`` first."""
    seed = next(seed for seed in range(10_000) if shuffled(IDS, seed)[0] == first)
    (data_dir / "progress.json").write_text(json.dumps({"quiz": {KEY: {"seed": seed}}}))
    lessons = load_lessons()
    return TutorApp(lessons, start=find_lesson(lessons, "how-much-to-freeze"))


async def focus_quiz(pilot, *keys: str) -> None:
    """Wait for the whole lesson, tab to the quiz, press ``keys``."""
    while not pilot.app.screen.query(LessonView) or not pilot.app.screen.view.complete:
        await pilot.pause(0.01)
    await pilot.press("tab")
    while not pilot.app.screen.query_one(QuadrantQuiz).has_focus:
        await pilot.pause(0.01)
    await pilot.press(*keys)
    await pilot.pause(0.1)


def test_quiz_grid(snap_compare, data_dir):
    assert snap_compare(quiz_app(data_dir), terminal_size=SIZE, run_before=lambda pilot: focus_quiz(pilot, "right"))


def test_quiz_feedback(snap_compare, data_dir):
    assert snap_compare(quiz_app(data_dir), terminal_size=SIZE,
                        run_before=lambda pilot: focus_quiz(pilot, "1", "2"))
