"""Diagnose in the tutor: the widget of lesson 12 and ``D`` on the training screen (scripted worker replaying
a recorded diagnose run, tests/data/diagnose.jsonl)."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Select, Static

from tltui.core import diagnosis
from tltui.core.presets import configure
from tltui.ui.app import TutorApp
from tltui.ui.base.frame import StatusLine
from tltui.ui.dialogs.diagnose import DiagnoseScreen
from tltui.ui.lesson.diagnose import Diagnose
from tltui.ui.lesson.view import LessonView
from tltui.ui.lessons import find_lesson, load_lessons
from tltui.ui.screens.runs import RunsScreen
from tltui.ui.screens.train import TrainScreen
from tltui.ui.widgets.run_form import RunForm
from tltui.ui.widgets.run_view import RunView

from conftest import focus_by_tab, until

SIZE = (80, 24)


def table(widget: Diagnose) -> str:
    return str(widget.query_one("#diagnose-table", Static).render())


async def test_the_lesson_widget_diagnoses_the_forms_data_by_keys():
    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, "your-own-data"))
    app.progress.form = {"data": "builtin-shifted", "limit_per_class": "4"}
    async with app.run_test(size=SIZE) as pilot:
        widget = await focus_by_tab(pilot, Diagnose)
        assert widget.has_focus
        assert "d diagnoses builtin-shifted, 4 per class" in str(widget.query_one(StatusLine).render())
        await pilot.press("d")
        await until(pilot, lambda: widget.run is not None and widget.run.end is not None, what="the diagnosis")
        await pilot.pause()
        run = widget.run
        assert run.config.data == "builtin-shifted" and run.config.limit_per_class == 4
        assert {m.strategy for m in run.measured} == {"knn", "feature-extraction", "head-then-unfreeze",
                                                      "fine-tune-all", "scratch"}
        shown = table(widget)
        assert "feature extraction" in shown and "Quadrant 1: small data, similar domain" in shown
        assert diagnosis.line(run.end.command) in shown
        assert "Start from --preset feature-extraction" in shown and "95% interval" in shown
        assert "Done" in str(widget.query_one(StatusLine).render())


async def test_D_on_the_training_screen_diagnoses_the_form_as_it_stands():
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen), 10)
        screen = app.screen
        screen.query_one("#data", Input).value = "builtin-shifted"
        screen.query_one("#limit_per_class", Input).value = "7"
        screen.query_one(RunForm).model = "tiny"
        screen.query_one("#data", Input).blur()
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, DiagnoseScreen), 10)
        widget = app.screen.query_one(Diagnose)
        await until(pilot, lambda: widget.run is not None and widget.run.end is not None, what="the diagnosis")
        await pilot.pause()
        config = widget.run.config
        assert (config.data, config.limit_per_class, config.model) == ("builtin-shifted", 7, "tiny")
        assert "Quadrant" in table(widget)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen, 10)


def form_config(screen: TrainScreen):
    return screen.query_one(RunForm).config()


async def test_a_after_D_puts_the_recommended_command_in_the_form():
    """The preset, the epochs and the settings the diagnosis ran with; a field the learner had changed goes
    back to its default, so the preset's own value holds."""
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen), 10)
        screen = app.screen
        screen.query_one("#data", Input).value = "builtin-shifted"
        screen.query_one("#limit_per_class", Input).value = "7"
        screen.query_one("#lr", Input).value = "0.5"
        screen.query_one(RunForm).model = "tiny"
        screen.query_one("#data", Input).blur()
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, DiagnoseScreen), 10)
        widget = app.screen.query_one(Diagnose)
        await until(pilot, lambda: widget.run is not None and widget.run.end is not None, what="the diagnosis")
        end = widget.run.end
        epochs = int(end.command[end.command.index("--epochs") + 1])
        await pilot.press("a")
        await until(pilot, lambda: app.screen is screen, 10)
        await pilot.pause()
        assert screen.query_one("#preset", Select).value == end.recommend
        assert screen.query_one("#epochs", Input).value == str(epochs)
        assert form_config(screen) == configure(end.recommend, data="builtin-shifted", model="tiny", limit_per_class=7,
                                                epochs=epochs)


async def test_a_in_the_lesson_takes_the_command_to_the_training_form():
    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, "your-own-data"))
    app.progress.form = {"data": "builtin-shifted", "limit_per_class": "4"}
    async with app.run_test(size=SIZE) as pilot:
        widget = await focus_by_tab(pilot, Diagnose)
        await pilot.press("a")
        assert "No recipe yet" in str(widget.query_one(StatusLine).render())
        await pilot.press("d")
        await until(pilot, lambda: widget.run is not None and widget.run.end is not None, what="the diagnosis")
        end = widget.run.end
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen), 10)
        await pilot.pause()
        config = form_config(app.screen)
        assert (config.preset, config.data, config.limit_per_class) == (end.recommend, "builtin-shifted", 4)
        assert config.epochs == int(end.command[end.command.index("--epochs") + 1])


async def test_D_with_a_form_that_cannot_run_says_why_in_the_form():
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen), 10)
        screen = app.screen
        screen.query_one("#epochs", Input).value = "0"
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, TrainScreen)
        assert "epochs" in str(screen.query_one("#reason", Static).render())


async def test_a_backbone_without_weights_is_said_with_the_key_that_helps():
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen), 10)
        app.screen.query_one(RunForm).model = "resnet50"
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, DiagnoseScreen), 10)
        status = app.screen.query_one(StatusLine)
        await until(pilot, lambda: status.refused, what="the refusal")
        assert "No ImageNet weights" in str(status.render()) and "b picks tiny" in str(status.render())
        await pilot.press("b", "d")
        widget = app.screen.query_one(Diagnose)
        await until(pilot, lambda: widget.run is not None and widget.run.end is not None, what="the diagnosis")
        assert widget.run.config.model == "tiny"


async def test_a_diagnosis_on_the_runs_screen_shows_its_folds_its_advice_and_its_table():
    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, "your-own-data"))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query(LessonView) and app.screen.view.complete)
        widget = app.screen.query_one(Diagnose)
        widget.focus()
        await pilot.press("d")
        await until(pilot, lambda: widget.run is not None and widget.run.end is not None, what="the diagnosis")
        run = widget.run
        last, end = run.measured[-1], run.end
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.query_one(DataTable).row_count)
        table_ = app.screen.query_one(DataTable)
        row = [str(cell) for cell in table_.get_row_at(0)]
        assert row[4] == f"fold {last.fold}/{last.folds}"  # not "0/5": a diagnosis trains no epochs
        assert row[5] == f"{max(r.acc for r in end.results.values()):.1%} cv"  # cross-validated, not a val score
        assert row[6] == f"diagnose → {end.recommend}"
        await pilot.press("enter")
        view = app.screen.query_one(RunView)
        await until(pilot, lambda: view.has_class("-results"), what="the diagnosis's table")
        shown = str(view.query_one("#results", Static).render())
        assert "95% interval" in shown and f"start from --preset {end.recommend}" in shown
        assert f"start from --preset {end.recommend}" in str(view.query_one("#progress", Static).render())
