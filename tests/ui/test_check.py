"""The check of understanding driven by keys at 80x24, against the scripted fake worker."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from rich.text import Text
from textual.content import Content
from textual.widgets import Static

from tltui.ui.app import TutorApp
from tltui.ui.content.check_runs import check_backbone, check_runs
from tltui.ui.lesson.check import LessonCheck, readable
from tltui.ui.lesson.prose import CODE_STYLE
from tltui.ui.lesson.view import LessonView
from tltui.ui.lessons import find_lesson, load_lessons
from tltui.ui.widgets.contents import Contents
from tltui.ui.widgets.run_chart import RunChart

from conftest import until

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

Why: with few images in many dimensions, any labelling can be fitted.

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
        assert "any labelling can be fitted" in feedback and "Measured: 99% with" in feedback
        assert "e runs it for real" in feedback
        assert "score 1/2" in check.border_title
    assert saved(data_dir) == {"answers": {"first": 2, "second": 2}, "right": 1, "best": 1, "total": 3,
                               "checks": {}}


async def test_the_check_is_as_tall_as_what_it_shows():
    """Lesson 1's first check: the question and its options fill the frame (no empty rows but the one under
    the question); a reasoning longer than the room scrolls in a frame no taller than a quiz, which the
    lesson scrolls into view as it grows; the experiment's chart gets the height of a quiz."""
    from keyboard import idle, screen_lines

    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, "why-transfer"))
    async with app.run_test(size=SIZE) as pilot:
        check = await open_check(pilot)
        await idle(app)
        inside = [line[1:-1] for line in screen_lines(app, check.region)[1:-1]]
        assert len(inside) == check.region.height - 2 and inside[-1].strip(), inside
        assert sum(not line.strip() for line in inside) == 1, inside
        await pilot.press("tab")  # the race's check: its reasoning is longer than the room
        check = app.screen.focused
        assert isinstance(check, LessonCheck) and check.named == ("race-gap",)
        await pilot.press("2")
        await idle(app)
        await pilot.pause()
        reasoning = check.query_one("#ck-feedback")
        assert check.region.height <= 20 and reasoning.max_scroll_y > 0
        assert app.lesson_screen.view.region.contains_region(check.region), "the reasoning is not all in view"
        await pilot.press("down")
        assert reasoning.scroll_y == 1
        await pilot.press("e")
        await idle(app)
        assert check.stage == "run" and check.region.height == 20


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


MARKED = """# Checks: Marked

## marked

answer: 2

Sum `conv1`'s weights and feed the *same* grey image: the outputs are...

1. Different, by 93.8 %
2. The **same**, up to rounding

Why: a convolution is linear, so `conv1` gives the *same* result either way.
"""


def drawn(check: LessonCheck, selector: str):
    """The Content a Static of the check draws (its markup parsed)."""
    return check.query_one(selector, Static).visual


def styled(content, word: str) -> list[str]:
    """The styles of the spans of ``content`` that cover exactly ``word``."""
    return [str(span.style) for span in content.spans if content.plain[span.start:span.end] == word]


async def test_inline_code_and_emphasis_are_drawn_never_shown_raw(tmp_path, data_dir):
    (tmp_path / "01-marked.md").write_text("# Marked\n\n```tltui check\n```\n")
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "01-marked.md").write_text(MARKED)
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        check = await open_check(pilot)
        question = drawn(check, "#ck-question")
        assert "Sum conv1's weights and feed the same grey image" in question.plain
        assert "`" not in question.plain and "*" not in question.plain
        assert styled(question, "conv1") == [CODE_STYLE] and styled(question, "same") == ["i"]
        options = text(check, "#ck-choose")
        assert "2. The same, up to rounding" in options and "93.8%" in options
        assert "`" not in options and "*" not in options
        await pilot.press("1")
        feedback = drawn(check, "#ck-feedback-text")
        assert "conv1 gives the same result" in feedback.plain and "by 93.8%: the answer is" in feedback.plain
        assert "`" not in feedback.plain and "*" not in feedback.plain
        assert styled(feedback, "conv1") == [CODE_STYLE] and styled(feedback, "same") == ["b", "i"]


@pytest.mark.parametrize("source", ["was 93.8 % and ± 1.2 points", "was 93.8 %."])
def test_a_number_is_never_split_from_its_percent_sign(source):
    """At every width, in the header's and the reasoning's wrapping (Textual) and the options' (Rich)."""
    padded = [("x" * pad + " ") * 3 + source for pad in range(1, 12)]
    for line in padded:
        shown = Content.from_markup(readable(line))
        for width in range(8, len(line) + 2):
            wrapped = [part.plain for part in shown.wrap(width)]
            assert not any(part.lstrip().startswith(("%", "1.2")) for part in wrapped[1:]), (line, width, wrapped)
            console = Console(width=width, file=io.StringIO(), color_system=None)
            with console.capture() as captured:
                console.print(Text.from_markup(readable(line, "bold")))
            assert not any(row.startswith("%") for row in captured.get().splitlines()), (line, width)


SPLIT = """# One

## Before

```tltui check
questions: second
```

Text that gives the answer away.

## Check yourself

```tltui check
```
"""


async def test_a_block_naming_questions_asks_only_those_and_the_last_block_asks_the_rest(tmp_path, data_dir):
    (tmp_path / "01-one.md").write_text(SPLIT)
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "01-one.md").write_text(CHECKS)
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        early, late = await until_both(pilot)
        assert [q.id for q in early.shown] == ["second"] and [q.id for q in late.shown] == ["first", "third"]
        await focus(pilot, early)
        assert "Predict, then see." in text(early, "#ck-question")
        await pilot.press("1")
        assert early.border_title == "Check · 1/1 · score 1/1 · lesson best 1/3"
        await pilot.press("enter")
        assert early.stage == "done" and "1 of 1 right (lesson best 1 of 3)" in text(early, "#ck-done-text")
        await focus(pilot, late)
        assert "Which number is even?" in text(late, "#ck-question")
        await pilot.press("2", "enter", "3")
        assert late.stage == "feedback" and late.border_title == "Check · 2/2 · score 2/2 · lesson best 3/3"
    assert saved(data_dir) == {"answers": {"second": 1, "first": 2, "third": 3}, "right": 3, "best": 3,
                               "total": 3, "checks": {}}
    again = TutorApp(load_lessons(tmp_path))
    async with again.run_test(size=SIZE) as pilot:
        early, late = await until_both(pilot)
        assert early.stage == late.stage == "done" and early.answers == {"second": 1}
        await focus(pilot, late)
        await pilot.press("r", "1")  # a new round of the last block keeps the early block's answer
    assert saved(data_dir)["answers"] == {"second": 1, "first": 1} and saved(data_dir)["best"] == 3


async def until_both(pilot) -> list[LessonCheck]:
    await until(pilot, lambda: len(pilot.app.screen.query(LessonCheck)) == 2
                and all(check.content for check in pilot.app.screen.query(LessonCheck)))
    await until(pilot, lambda: pilot.app.screen.query_one(LessonView).complete)
    return list(pilot.app.screen.query(LessonCheck))


async def focus(pilot, check: LessonCheck) -> None:
    for _ in range(6):
        if check.has_focus:
            return
        await pilot.press("tab")
    raise AssertionError("tab never reached the check")


async def test_a_block_naming_a_question_its_file_lacks_says_so(tmp_path, data_dir):
    (tmp_path / "01-one.md").write_text("# One\n\n```tltui check\nquestions: first, fourth\n```\n")
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "01-one.md").write_text(CHECKS)
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: pilot.app.screen.query(LessonCheck))
        check = pilot.app.screen.query_one(LessonCheck)
        await until(pilot, lambda: check.problem != "")
        assert "01-one.md has no question 'fourth'" in text(check, "#ck-question")


@pytest.mark.parametrize(("experiment", "images", "seeds"), [
    ("eight-seeds", "20 per class", "seeds 0 to 7"),
    ("race", "20 per class", "seed 0"),
    ("shuffled-all", "every image, labels shuffled", "seed 0"),
])
async def test_an_experiment_of_many_runs_draws_each_and_says_what_they_share(
        tmp_path, data_dir, experiment, images, seeds):
    (tmp_path / "01-one.md").write_text("# One\n\n```tltui check\n```\n")
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "01-one.md").write_text(
        f"# Checks\n\n## only\n\nanswer: 1\nrun: {experiment}\n\nPredict?\n\n1. This\n2. That\n\n"
        "Why: because the runs say so, as the experiment shows.\n")
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        check = await open_check(pilot)
        await pilot.press("1", "e")
        await until(pilot, lambda: app.link.capabilities is not None)  # the hello names the backbone
        expected = check_runs(experiment, check_backbone(app.link.capabilities))
        await until(pilot, lambda: len(check.experiment.models(experiment)) == len(expected)
                    and all(run.end is not None for _, run in check.experiment.models(experiment)))
        await until(pilot, lambda: check.query_one(RunChart).drawn)
        assert [(label, run.config) for label, run in check.experiment.models(experiment)] == expected
        measured = text(check, "#ck-measured")
        assert f"on builtin, {images}, {seeds}:" in measured
        assert all(f"{label}: best val" in measured for label, _ in expected)
