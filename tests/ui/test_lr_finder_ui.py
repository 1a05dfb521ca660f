"""The LR finder in the tutor, against the real worker: F on the training screen sweeps the form's
setting and a puts the suggestion into the form; F in the LR cascade puts it on the slider."""

from __future__ import annotations

import math

import pytest
from test_lr_widgets import focus_by_tab
from textual.widgets import Input

from tltui.core.client import local_worker_command
from tltui.ui.app import TutorApp
from tltui.ui.dialogs.lr_finder import LrCurve, LrFinderScreen
from tltui.ui.lesson.lr_cascade import LRS, LrCascade
from tltui.ui.lessons import find_lesson, load_lessons
from tltui.ui.screens.train import TrainScreen
from tltui.ui.widgets.run_form import RunForm

from conftest import until, workers_done

SIZE = (80, 24)
pytestmark = pytest.mark.slow


async def sweep(pilot) -> LrFinderScreen:
    await pilot.press("F")
    await until(pilot, lambda: isinstance(pilot.app.screen, LrFinderScreen), 10, "the finder to open")
    finder = pilot.app.screen
    await until(pilot, lambda: finder.found is not None, 240, "the sweep")
    await until(pilot, lambda: "suggested LR" in str(finder.query_one("#finder-status").render()),
                what="the finder to show its suggestion")
    return finder


async def test_F_on_the_training_screen_sweeps_the_form_and_a_takes_the_suggestion():
    app = TutorApp(load_lessons(), worker_command=local_worker_command())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen.query("RunForm #lr"), 10)
        await pilot.pause()
        screen = app.screen
        form = screen.query_one(RunForm)
        form.model = "tiny"
        for name, value in {"data": "builtin", "limit_per_class": "5", "lr_decay": "0.5"}.items():
            form.query_one(f"#{name}", Input).value = value
        await pilot.pause()
        finder = await sweep(pilot)
        found = finder.found
        assert found.config.model == "tiny" and found.config.lr_decay == 0.5 and found.config.limit_per_class == 5
        assert "suggested LR" in str(finder.query_one("#finder-status").render())
        assert finder.query_one(LrCurve).plt  # drawn
        await pilot.press("a")
        await until(pilot, lambda: app.screen is screen, 10, "the finder to close")
        assert form.query_one("#lr", Input).value == f"{found.suggested_lr:.2g}"
        assert form.config().lr == float(f"{found.suggested_lr:.2g}")


async def test_F_in_the_lr_cascade_puts_the_suggestion_on_the_slider_and_esc_keeps_it():
    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, "learning-rates"), worker_command=local_worker_command())
    async with app.run_test(size=SIZE) as pilot:
        cascade = await focus_by_tab(pilot, LrCascade)
        await until(pilot, lambda: app.link.state == "ready", 240, "the worker")
        await workers_done(pilot)  # the cascade has heard the hello
        before = cascade.config.lr
        finder = await sweep(pilot)
        assert finder.found.config.data == cascade.config.data == "builtin-shifted"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LrFinderScreen), 10)
        assert cascade.config.lr == before
        finder = await sweep(pilot)
        await pilot.press("a")
        await until(pilot, lambda: not isinstance(app.screen, LrFinderScreen), 10)
        nearest = min(LRS, key=lambda step: abs(math.log(step / finder.found.suggested_lr)))
        assert cascade.config.lr == nearest
