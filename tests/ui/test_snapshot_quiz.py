"""SVG snapshots of the quadrant quiz at 80x24 (update with --snapshot-update after a deliberate change)."""

from __future__ import annotations

import json

from tltui.ui.app import TutorApp
from tltui.ui.content.quadrants import load_quiz
from tltui.ui.lesson.quiz import KEY, QuadrantQuiz, shuffled
from tltui.ui.lessons import find_lesson, load_lessons

from conftest import footer_shows, lesson_mounted, until, workers_done

SIZE = (80, 24)
IDS = [s.id for s in load_quiz().scenarios]


def quiz_app(data_dir, first: str = "shelter-dogs") -> TutorApp:
    """Lesson 5 with a saved seed that asks ``first`` first."""
    seed = next(seed for seed in range(10_000) if shuffled(IDS, seed)[0] == first)
    (data_dir / "progress.json").write_text(json.dumps({"quiz": {KEY: {"seed": seed}}}))
    lessons = load_lessons()
    return TutorApp(lessons, start=find_lesson(lessons, "how-much-to-freeze"))


async def focus_quiz(pilot, *keys: str, stage: str) -> None:
    """Wait for the whole lesson, tab to the quiz, press ``keys``, wait for the quiz's ``stage``."""
    await lesson_mounted(pilot)
    await pilot.press("tab")
    quiz = pilot.app.screen.query_one(QuadrantQuiz)
    await until(pilot, lambda: quiz.has_focus, what="the quiz to have the keys")
    await pilot.press(*keys)
    await until(pilot, lambda: quiz.stage == stage, what=f"the quiz's {stage} stage")
    await workers_done(pilot)
    await footer_shows(pilot, quiz)


def test_quiz_grid(snap_compare, data_dir):
    assert snap_compare(quiz_app(data_dir), terminal_size=SIZE,
                        run_before=lambda pilot: focus_quiz(pilot, "right", stage="quadrant"))


def test_quiz_feedback(snap_compare, data_dir):
    assert snap_compare(quiz_app(data_dir), terminal_size=SIZE,
                        run_before=lambda pilot: focus_quiz(pilot, "1", "2", stage="feedback"))
