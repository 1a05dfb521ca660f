"""The quadrant quiz driven by keys at 80x24 in lesson 5, against the scripted fake worker."""

from __future__ import annotations

import json

from tltui.ui.app import TutorApp
from tltui.ui.content.check_runs import check_backbone, check_runs
from tltui.ui.content.quadrants import load_quiz
from tltui.ui.lesson.quiz import CELLS, KEY, QuadrantQuiz, shuffled
from tltui.ui.lesson.view import LessonView
from tltui.ui.lessons import find_lesson, load_lessons
from tltui.ui.widgets.run_chart import RunChart

from conftest import until, workers_done

SIZE = (80, 24)
LESSONS = load_lessons()
QUIZ_LESSON = find_lesson(LESSONS, "how-much-to-freeze")
QUIZ = load_quiz()
IDS = [s.id for s in QUIZ.scenarios]
SCENARIOS = {s.id: s for s in QUIZ.scenarios}
STRATEGIES = list(QUIZ.strategies)


def seed_with_first(scenario_id: str) -> int:
    return next(seed for seed in range(10_000) if shuffled(IDS, seed)[0] == scenario_id)


def save_seed(data_dir, seed: int) -> None:
    (data_dir / "progress.json").write_text(json.dumps({"quiz": {KEY: {"seed": seed}}}))


async def open_quiz(pilot) -> QuadrantQuiz:
    """Wait for the quiz in lesson 5, then give it the keys with tab, as a learner does."""
    await until(pilot, lambda: pilot.app.screen.query(QuadrantQuiz))
    quiz = pilot.app.screen.query_one(QuadrantQuiz)
    await until(pilot, lambda: pilot.app.screen.query_one(LessonView).complete)
    await pilot.press("tab")
    await until(pilot, lambda: quiz.has_focus)
    return quiz


def text(quiz: QuadrantQuiz, selector: str) -> str:
    return str(quiz.query_one(selector).render())


def arrows_to(quadrant: int) -> list[str]:
    """Arrow presses from the grid's starting cell (small, similar) to ``quadrant``."""
    row, column = next(cell for cell, q in CELLS.items() if q == quadrant)
    return ["up"] * (1 - row) + ["right"] * column


async def test_answers_by_keys_get_feedback_and_score(data_dir):
    save_seed(data_dir, 3)
    first, second = (SCENARIOS[i] for i in shuffled(IDS, 3)[:2])
    app = TutorApp(LESSONS, start=QUIZ_LESSON)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(pilot)
        assert quiz.scenario.id == first.id and quiz.stage == "quadrant"
        assert first.title in text(quiz, "#qq-scenario")
        # right quadrant by arrows and enter, right strategy by its digit
        await pilot.press(*arrows_to(first.quadrants[0]), "enter")
        assert quiz.stage == "strategy" and quiz.quadrant == first.quadrants[0]
        await pilot.press(str(STRATEGIES.index(first.strategies[0]) + 1))
        feedback = text(quiz, "#qq-feedback-text")
        assert feedback.count("right") == 2 and "✗" not in feedback
        assert first.reasons["quadrant"][:30] in feedback and first.reasons["debatable"][:30] in feedback
        assert quiz.score == 2 and "score 2/2" in quiz.border_title
        await pilot.press("enter")
        assert quiz.scenario.id == second.id and quiz.stage == "quadrant"
        # wrong quadrant and wrong strategy, by digits
        wrong_q = next(q for q in (1, 2, 3, 4) if q not in second.quadrants)
        wrong_s = next(s for s in STRATEGIES if s not in second.strategies)
        await pilot.press(str(wrong_q), str(STRATEGIES.index(wrong_s) + 1))
        feedback = text(quiz, "#qq-feedback-text")
        assert feedback.count("✗") == 2
        assert f"the answer is Q{second.quadrants[0]}" in feedback
        assert QUIZ.strategies[second.strategies[0]].name in feedback
        assert quiz.score == 2 and "score 2/4" in quiz.border_title


async def test_a_second_right_answer_names_the_one_the_answer_key_prefers(data_dir):
    """An answer the key also accepts is right, and the line says which answer the key prefers, never in
    words that read as the learner's own first choice."""
    first = next(s for s in QUIZ.scenarios if len(s.strategies) > 1)
    save_seed(data_dir, seed_with_first(first.id))
    app = TutorApp(LESSONS, start=QUIZ_LESSON)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(pilot)
        await pilot.press(str(first.quadrants[0]), str(STRATEGIES.index(first.strategies[1]) + 1))
        feedback = text(quiz, "#qq-feedback-text")
        chosen, preferred = (QUIZ.strategies[s].name for s in first.strategies[:2][::-1])
        assert f"✓ {chosen}: right too, though the answer key prefers {preferred}" in feedback, feedback
        assert "first choice" not in feedback and quiz.score == 2


async def test_score_and_answers_are_saved_and_restored(data_dir):
    save_seed(data_dir, 5)
    first, second, third = (SCENARIOS[i] for i in shuffled(IDS, 5)[:3])
    app = TutorApp(LESSONS, start=QUIZ_LESSON)
    async with app.run_test(size=SIZE) as pilot:
        await open_quiz(pilot)
        await pilot.press(str(first.quadrants[0]), str(STRATEGIES.index(first.strategies[0]) + 1), "enter")
        wrong_q = next(q for q in (1, 2, 3, 4) if q not in second.quadrants)
        await pilot.press(str(wrong_q), str(STRATEGIES.index(second.strategies[0]) + 1), "enter")
    saved = json.loads((data_dir / "progress.json").read_text())["quiz"][KEY]
    assert saved["seed"] == 5 and saved["best"] == 3
    assert saved["answers"] == {
        first.id: {"quadrant": first.quadrants[0], "strategy": first.strategies[0],
                   "quadrant_ok": True, "strategy_ok": True},
        second.id: {"quadrant": wrong_q, "strategy": second.strategies[0],
                    "quadrant_ok": False, "strategy_ok": True},
    }
    again = TutorApp(LESSONS, start=QUIZ_LESSON)
    async with again.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(pilot)
        assert quiz.scenario.id == third.id and quiz.stage == "quadrant"
        assert quiz.score == 3 and "3/" in quiz.border_title and "score 3/4" in quiz.border_title


async def test_the_order_is_shuffled_by_a_saved_or_fixed_seed(data_dir, tmp_path):
    orders = []
    for _ in range(2):
        app = TutorApp(LESSONS, start=QUIZ_LESSON)
        async with app.run_test(size=SIZE) as pilot:
            quiz = await open_quiz(pilot)
            orders.append(quiz.order)
    assert orders[0] == orders[1] and sorted(orders[0]) == sorted(IDS)  # a fresh seed, saved and reused
    assert shuffled(IDS, 11) == shuffled(IDS, 11) != shuffled(IDS, 12) != IDS
    # a seed in the lesson block wins over the saved one
    (tmp_path / "01-quiz.md").write_text("# Quiz\n\nText.\n\n```tltui quadrant-quiz\nseed: 11\n```\n")
    app = TutorApp(load_lessons(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(pilot)
        assert quiz.order == shuffled(IDS, 11)


async def test_keys_the_stage_does_not_use_go_to_the_lesson(data_dir):
    save_seed(data_dir, 3)
    first = SCENARIOS[shuffled(IDS, 3)[0]]
    app = TutorApp(LESSONS, start=QUIZ_LESSON)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(pilot)
        await pilot.press("right", "e")  # on the grid: the cursor moves; no check before an answer
        assert quiz.cell == (1, 1) and quiz.stage == "quadrant"
        assert app.screen.lesson is QUIZ_LESSON
        await pilot.press(str(first.quadrants[0]), "1")
        assert quiz.stage == "feedback"
        await pilot.press("escape")
        assert app.screen.focused is None
        await pilot.press("right")  # the lesson has the keys again: next lesson
        assert app.screen.lesson.number == QUIZ_LESSON.number + 1


async def test_a_full_round_ends_with_a_summary_and_a_new_round_keeps_the_best(data_dir):
    save_seed(data_dir, 3)
    app = TutorApp(LESSONS, start=QUIZ_LESSON)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(pilot)
        for sid in quiz.order:
            await pilot.press(str(SCENARIOS[sid].quadrants[0]), str(STRATEGIES.index("from-scratch") + 1), "enter")
        assert quiz.stage == "done"
        expected = 2 * len(IDS) - sum("from-scratch" not in SCENARIOS[s].strategies for s in IDS)
        assert quiz.score == quiz.best == expected
        assert f"Round complete: {expected} of {2 * len(IDS)} points" in text(quiz, "#qq-done-text")
        await pilot.press("r")
        assert quiz.stage == "quadrant" and quiz.answers == {} and quiz.best == expected
    saved = json.loads((data_dir / "progress.json").read_text())["quiz"][KEY]
    assert saved["answers"] == {} and saved["best"] == expected


async def test_check_it_starts_the_runs_it_shows_and_draws_their_curves(data_dir, monkeypatch):
    monkeypatch.setenv("FAKE_WEIGHTS", "imagenet")
    save_seed(data_dir, seed_with_first("builtin-sketches"))
    app = TutorApp(LESSONS, start=QUIZ_LESSON)
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(pilot)
        await pilot.press("3", "4")
        assert "e runs the real experiment" in text(quiz, "#qq-feedback-text")
        await pilot.press("e")
        assert quiz.stage == "check"
        await until(pilot, lambda: len(quiz.experiment.models("sketches")) == 2
                    and all(run.end is not None for _, run in quiz.experiment.models("sketches")))
        expected = check_runs("sketches", check_backbone(app.link.capabilities))
        sent_runs = quiz.experiment.runs["sketches"]
        sent = [(label, app.link.runs[run_id].config) for label, run_id in sent_runs]
        assert sent == expected
        assert {config.model for _, config in sent} <= {"tiny", "resnet50"}
        await workers_done(pilot)  # the runs' news has reached the chart
        chart = quiz.query_one(RunChart)
        await until(pilot, lambda: chart.drawn, what="the chart of the check's runs")
        assert [label for label, _ in chart.series] == ["feature extraction", "fine-tune all"]
        assert all(run.curves().val_acc for _, run in chart.series)
        measured = text(quiz, "#qq-measured")
        for label, run in chart.series:
            assert f"{label}: best val {run.best.val_acc:.0%}" in measured
        assert "prediction (not a measurement)" in text(quiz, "#qq-caveat")
        await pilot.press("e")
        assert quiz.stage == "feedback"
        await pilot.press("e")  # the runs are done: shown again, not run again
        assert len(app.link.runs) == 2
    saved = json.loads((data_dir / "progress.json").read_text())["quiz"][KEY]
    assert saved["checks"] == {"sketches": [list(pair) for pair in sent_runs]}


async def test_check_it_against_the_real_worker(data_dir):
    """The check runs for real (the tiny backbone: seconds on a CPU) and shows what was measured."""
    from tltui.core.client import local_worker_command

    save_seed(data_dir, seed_with_first("builtin-sketches"))
    app = TutorApp(LESSONS, start=QUIZ_LESSON, worker_command=local_worker_command())
    async with app.run_test(size=SIZE) as pilot:
        quiz = await open_quiz(pilot)
        await pilot.press("3", "4", "e")
        await until(pilot, lambda: len(quiz.experiment.models("sketches")) == 2
                    and all(run.end is not None for _, run in quiz.experiment.models("sketches")), timeout=240)
        runs = [run for _, run in quiz.experiment.models("sketches")]
        assert [run.status for run in runs] == ["finished", "finished"]
        assert [run.config.model for run in runs] == ["tiny", "tiny"]
        assert runs[0].started.path.startswith("cached")  # feature extraction: the backbone ran once
        measured = text(quiz, "#qq-measured")
        for label, run in zip(("feature extraction", "fine-tune all"), runs, strict=False):
            assert len(run.epochs) == run.config.epochs
            assert f"{label}: best val {run.best.val_acc:.0%} (epoch {run.best.epoch})" in measured
        assert "generated fractals" in measured
