"""The check of understanding driven by keys at 80x24, against the scripted fake worker."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from conftest import until
from tltui.ui.app import TutorApp
from tltui.ui.lessons import find_lesson, load_lessons
from tltui.ui.widgets.check import LessonCheck
from tltui.ui.widgets.contents import Contents
from tltui.ui.widgets.lesson_view import LessonView
from tltui.ui.widgets.quiz_check import check_backbone, check_runs
from tltui.ui.widgets.run_chart import RunChart

SIZE = (80, 24)

CHECKS = """# Checks: One

## first

answer: 2

Which number is even?

1. One
2. Two
3. Three

Why: two is divisible by two, one and three are not.

## second

answer: 1
run: shuffled-probe

Predict: will a linear probe memorise shuffled labels?

1. Yes, nearly all of them
2. No

Why: with fewer images than weights, any labelling can be fitted.

Measured: 99 % with the command in lesson 3.

## third

answer: 3

Which is a group of ResNet-50?

1. encoder
2. decoder
3. layer4

Why: tltui's six groups are stem, layer1 to layer4 and head.
"""


@pytest.fixture
def lessons(tmp_path):
    """Two lessons, the first with only a check in it, and its checks file."""
    (tmp_path / "01-one.md").write_text("# One\n\nSome text.\n\n```tltui check\n```\n\nAfter.\n")
    (tmp_path / "02-two.md").write_text("# Two\n\nMore text.\n")
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "01-one.md").write_text(CHECKS)
    return load_lessons(tmp_path)


async def open_check(pilot) -> LessonCheck:
    """Wait for the check, then give it the keys with tab, as a learner does."""
    await until(pilot, lambda: pilot.app.screen.query(LessonCheck))
    check = pilot.app.screen.query_one(LessonCheck)
    await until(pilot, lambda: pilot.app.screen.query_one(LessonView).complete)
    await pilot.press("tab")
    await until(pilot, lambda: check.has_focus)
    await pilot.pause()
    return check


def text(check: LessonCheck, selector: str) -> str:
    """What a Static of the check shows, as plain text (a table of options included)."""
    console = Console(width=70, file=io.StringIO(), color_system=None)
    with console.capture() as captured:
        console.print(check.query_one(selector).content)
    return captured.get()


def saved(data_dir) -> dict:
    return json.loads((data_dir / "progress.json").read_text())["checks"]["one"]


async def test_answers_by_digit_and_by_arrows_show_the_reasoning_and_keep_the_score(lessons, data_dir):
    app = TutorApp(lessons)
    async with app.run_test(size=SIZE) as pilot:
        check = await open_check(pilot)
        assert check.stage == "question" and check.index == 0
        assert "Which number is even?" in text(check, "#ck-question")
        assert "2. Two" in text(check, "#ck-choose")
        # a digit answers (right), and does not jump to lesson 2
        await pilot.press("2")
        assert app.screen.lesson is lessons[0]
        assert check.stage == "feedback"
        feedback = text(check, "#ck-feedback-text")
        assert "✓ 2. Two: right" in feedback and "divisible by two" in feedback
        assert "score 1/1" in check.border_title and "best 1/3" in check.border_title
        # enter goes on; arrows and enter answer the next (wrong) one
        await pilot.press("enter")
        assert check.index == 1 and check.stage == "question"
        assert "Predict, then see." in text(check, "#ck-question")
        await pilot.press("down", "enter")
        feedback = text(check, "#ck-feedback-text")
        assert "✗ 2. No: the answer is 1. Yes, nearly all of them" in feedback
        assert "any labelling can be fitted" in feedback and "Measured: 99 %" in feedback
        assert "e runs it for real" in feedback
        assert "score 1/2" in check.border_title
    assert saved(data_dir) == {"answers": {"first": 2, "second": 2}, "right": 1, "best": 1, "total": 3,
                               "checks": {}}


async def test_the_round_ends_with_a_summary_and_starts_again_keeping_the_best(lessons, data_dir):
    app = TutorApp(lessons)
    async with app.run_test(size=SIZE) as pilot:
        check = await open_check(pilot)
        await pilot.press("2", "enter", "1", "enter", "1", "enter")
        assert check.stage == "done"
        done = text(check, "#ck-done-text")
        assert "2 of 3 right" in done and "the answer: layer4" in done
        await pilot.press("r")
        assert check.stage == "question" and check.index == 0 and check.answers == {}
        await pilot.press("1")
        assert check.score == 0 and check.best == 2
    assert saved(data_dir)["best"] == 2 and saved(data_dir)["answers"] == {"first": 1}


async def test_a_check_resumes_where_it_was_left(lessons, data_dir):
    app = TutorApp(lessons)
    async with app.run_test(size=SIZE) as pilot:
        await open_check(pilot)
        await pilot.press("2", "enter")
    again = TutorApp(lessons)
    async with again.run_test(size=SIZE) as pilot:
        check = await open_check(pilot)
        assert check.index == 1 and check.stage == "question"
        assert check.score == 1 and "score 1/1" in check.border_title


async def test_keys_it_does_not_use_go_to_the_lesson(lessons, data_dir):
    app = TutorApp(lessons)
    async with app.run_test(size=SIZE) as pilot:
        check = await open_check(pilot)
        await pilot.press("e", "r")  # nothing to run before an answer; no round to restart
        assert check.stage == "question" and check.index == 0
        await pilot.press("2")
        await pilot.press("escape")
        assert app.screen.focused is None
        await pilot.press("right")
        assert app.screen.lesson is lessons[1]


async def test_the_contents_show_each_checks_best_score(lessons, data_dir):
    app = TutorApp(lessons)
    async with app.run_test(size=SIZE) as pilot:
        await open_check(pilot)
        await pilot.press("2", "enter", "1")
        await pilot.press("escape", "t")
        contents = app.screen.query_one(Contents)
        await until(pilot, lambda: contents.has_focus)
        lines = [str(contents.get_option_at_index(i).prompt) for i in range(contents.option_count)]
        assert lines[0].startswith("> 1. One") and lines[0].endswith("2/3")
        assert lines[1].rstrip() == "  2. Two"


async def test_run_it_starts_the_experiment_and_draws_what_was_measured(lessons, data_dir, monkeypatch):
    app = TutorApp(lessons)
    async with app.run_test(size=SIZE) as pilot:
        check = await open_check(pilot)
        await pilot.press("2", "enter", "1", "e")
        assert check.stage == "run"
        await until(pilot, lambda: len(check.experiment.models("shuffled-probe")) == 1
                    and all(run.end is not None for _, run in check.experiment.models("shuffled-probe")))
        sent_runs = check.experiment.runs["shuffled-probe"]
        sent = [(label, app.link.runs[run_id].config) for label, run_id in sent_runs]
        assert sent == check_runs("shuffled-probe", check_backbone(app.link.capabilities))
        assert sent[0][1].shuffle_labels
        chart = check.query_one(RunChart)
        await until(pilot, lambda: chart.drawn)
        measured = text(check, "#ck-measured")
        assert "labels shuffled" in measured and "probe, shuffled labels: best val" in measured
        await pilot.press("e")
        assert check.stage == "feedback"
        await pilot.press("enter")
        assert check.index == 2
    assert saved(data_dir)["checks"] == {"shuffled-probe": [list(pair) for pair in sent_runs]}


async def test_a_lesson_without_its_checks_file_says_so(tmp_path, data_dir):
    (tmp_path / "01-lonely.md").write_text("# Lonely\n\nText.\n\n```tltui check\n```\n")
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: pilot.app.screen.query(LessonCheck))
        check = pilot.app.screen.query_one(LessonCheck)
        await until(pilot, lambda: check.problem != "")
        assert "no checks file 01-lonely.md" in text(check, "#ck-question")
        assert check.border_title == "Check (not available)"


async def test_a_real_lesson_check_answered_by_keys(data_dir):
    lessons = load_lessons()
    lesson = find_lesson(lessons, "beyond-vision")
    app = TutorApp(lessons, start=lesson)
    async with app.run_test(size=SIZE) as pilot:
        check = await open_check(pilot)
        questions = check.content.questions
        assert check.content.name == "beyond-vision" and 3 <= len(questions) <= 5
        for question in questions:
            await pilot.press(str(question.answer), "enter")
        assert check.stage == "done" and check.score == check.best == len(questions)
    scores = json.loads((data_dir / "progress.json").read_text())["checks"]["beyond-vision"]
    assert scores["best"] == scores["total"] == len(questions)
