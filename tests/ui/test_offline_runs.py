"""Offline (no ImageNet weights), every key that starts a run trains the tiny backbone for real through
the real worker, and the widget that started it shows the measured accuracy."""

from __future__ import annotations

import re

import pytest

from tltui.core.client import local_worker_command
from tltui.ui.app import TutorApp
from tltui.ui.lesson.freeze_board import FreezeBoard
from tltui.ui.lesson.lr_cascade import LrCascade
from tltui.ui.lesson.unfreeze_timeline import UnfreezeTimeline
from tltui.ui.lessons import find_lesson, load_lessons

from conftest import lesson_mounted, until

SIZE = (80, 24)
MEASURED = re.compile(r"val acc \d+%")


def real_app(lesson: str) -> TutorApp:
    lessons = load_lessons()
    return TutorApp(lessons, start=find_lesson(lessons, lesson), worker_command=local_worker_command())


async def focused(pilot, widget_type):
    await lesson_mounted(pilot)
    widget = pilot.app.screen.query_one(widget_type)
    widget.focus()
    await until(pilot, lambda: pilot.app.link.state == "ready", timeout=120, what="the worker's hello")
    await pilot.pause()
    return widget


@pytest.mark.slow
async def test_the_lr_cascade_and_the_timeline_train_the_tiny_backbone_offline():
    app = real_app("learning-rates")
    async with app.run_test(size=SIZE) as pilot:
        for widget_type in (LrCascade, UnfreezeTimeline):
            widget = await focused(pilot, widget_type)
            assert str(widget.query_one(".-backbone").render()).startswith("trains tiny · pretrained on fractals")
            await pilot.press("r")
            link = app.link
            def ended() -> bool:  # until() calls it within this iteration: this iteration's widget
                return widget.run_id in link.runs and link.runs[widget.run_id].end is not None  # noqa: B023

            await until(pilot, ended, timeout=240, what=f"the {widget_type.__name__} run")
            run = link.runs[widget.run_id]
            assert run.status == "finished" and run.config.model == "tiny" and run.config.weights == "pretrained"
            await until(pilot, lambda: MEASURED.search(str(widget.query_one(".-status").render())),  # noqa: B023
                        what=f"the {widget_type.__name__}'s measured accuracy")


@pytest.mark.slow
async def test_the_freeze_board_trains_the_tiny_backbone_offline():
    app = real_app("playground")
    async with app.run_test(size=SIZE) as pilot:
        board = await focused(pilot, FreezeBoard)
        assert str(board.query_one("#controls").render()).startswith("tiny · fractals")
        await pilot.press("enter")
        await until(pilot, lambda: board.measured and app.link.runs[board.measured[0][0]].end is not None,
                    timeout=240, what="the board's run")
        def measured() -> str:
            return str(board.query_one("#measured").render())

        await until(pilot, lambda: MEASURED.search(measured()), what="the board's measured accuracy")
        assert measured().startswith("measured for this setting: finished")


@pytest.mark.slow
async def test_a_bad_weights_file_in_the_race_starts_neither_run(tmp_path):
    from textual.widgets import Input

    from tltui.ui.lesson.race import Race

    bad = tmp_path / "not-weights.pt"
    bad.write_text("these are not weights")
    app = real_app("why-transfer")
    async with app.run_test(size=SIZE) as pilot:
        race = await focused(pilot, Race)
        await pilot.press("b")  # resnet50: no ImageNet weights here, so it asks for a file
        assert race.has_class("-ask-weights")
        race.query_one("#weights", Input).value = str(bad)
        race.query_one("#weights", Input).focus()
        await pilot.press("enter")
        status = race.query_one("#race-status")
        await until(pilot, lambda: status.refused, timeout=120, what="the refusal")
        said = str(status.render())
        assert said.startswith("The race did not start") and "not-weights.pt" in said and "--" not in said
        assert not race.runs
        assert await app.link.refresh_runs() == []  # the worker's run store has no run either
