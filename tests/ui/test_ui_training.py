"""Live training in the tutor against the real worker: tiny CPU runs started from the form."""

from __future__ import annotations

import os
import signal

from textual.widgets import Input

from tltui.core.client import local_worker_command
from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons
from tltui.ui.screens.train import TrainScreen
from tltui.ui.widgets.run_chart import RunChart
from tltui.ui.widgets.run_view import RunView
from tltui.worker.store import RunStore

from conftest import until as wait_until

SIZE = (80, 24)
TINY = {"data": "builtin", "weights": "none", "image_size": "32", "epochs": "2", "limit_per_class": "4",
        "augment": "none"}


async def until(pilot, condition, timeout: float = 240, what: str = "") -> None:
    """As conftest's, with room for real CPU training."""
    await wait_until(pilot, condition, timeout, what)


async def start_from_form(pilot, **values: str) -> TrainScreen:
    await pilot.press("T")
    await until(pilot, lambda: isinstance(pilot.app.screen, TrainScreen), 10)
    screen = pilot.app.screen
    for name, value in {**TINY, **values}.items():
        screen.query_one(f"#{name}", Input).value = value
    await pilot.press("s")
    await until(pilot, lambda: screen.run is not None, what="the run to start")
    return screen


def real_app() -> TutorApp:
    return TutorApp(load_lessons(), worker_command=local_worker_command())


async def test_a_run_from_the_form_finishes_and_the_plot_holds_every_epoch():
    app = real_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await start_from_form(pilot)
        run = screen.run
        await until(pilot, lambda: run.status == "finished", what="the run to finish")
        assert [e.epoch for e in run.epochs] == [1, 2]
        chart = screen.query_one(RunChart)
        await until(pilot, lambda: chart.series and chart.drawn, 30, "the chart of the finished run")
        (label, shown), = chart.series
        assert shown is run and len(shown.curves().val_acc) == 2
        assert any(x < 1 for x, _, _ in run.train_points)  # sub-epoch progress points
        view = screen.query_one(RunView)
        assert view.has_class("-results")
        assert "best val acc" in str(view.query_one("#progress").render())
        assert "resnet50" in label and "none" in label
        assert "CPU" in app.worker_status and "torch" in app.worker_status


async def test_cancel_stops_the_run():
    app = real_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await start_from_form(pilot, epochs="6", limit_per_class="10")
        run = screen.run
        await until(pilot, lambda: run.progress is not None or run.epochs, what="training to begin")
        await pilot.press("c")
        await until(pilot, lambda: run.status == "cancelled", what="the cancel")
        assert len(run.epochs) < 6


async def test_a_dropped_connection_loses_nothing():
    app = real_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await start_from_form(pilot, epochs="4", limit_per_class="10")
        run = screen.run
        await until(pilot, lambda: len(run.train_points) >= 1, what="the first measured points")
        app.link.kill()  # the connection (the bridge process) dies; the daemon trains on
        await until(pilot, lambda: app.link.state == "gone", 30, "the loss to be noticed")
        await until(pilot, lambda: screen.query_one("#ending").display, 30, "the ending to show the loss")
        assert run.lost and "stopped" in app.worker_status
        await pilot.press("escape", "W")
        await until(pilot, lambda: run.status == "finished", what="the reattached run to finish")
        stored = RunStore().get(run.run_id).events()
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
        assert run.last_seq == len(stored)
        assert [e.epoch for e in run.epochs] == [1, 2, 3, 4]
        assert not run.lost and not screen.query_one("#ending").display


async def test_a_killed_worker_is_survived_and_its_run_marked_failed(data_dir):
    app = real_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await start_from_form(pilot, epochs="6", limit_per_class="10")
        run = screen.run
        await until(pilot, lambda: len(run.train_points) >= 1, what="the first measured points")
        seen = run.last_seq
        points = list(run.train_points)
        os.kill(int((data_dir / "sock" / "daemon.pid").read_text()), signal.SIGKILL)
        await until(pilot, lambda: app.link.state == "gone", 30, "the loss to be noticed")
        await until(pilot, lambda: screen.query_one("#ending").display, 30, "the ending to show the loss")
        assert run.status == "interrupted" and run.lost
        assert run.train_points[: len(points)] == points  # the curve up to the failure stays
        ending = screen.query_one("#ending")
        assert ending.display and "worker lost" in ending.border_title
        await pilot.press("escape", "W")
        await until(pilot, lambda: run.status == "failed", 120, "the new worker to mark the run failed")
        assert "worker stopped" in run.end.reason
        # Resuming is offered only when there is a checkpoint to resume from (killed in epoch 1: none).
        checkpoint = (RunStore().get(run.run_id).path / "resume.pt").is_file()
        assert run.end.hint == (f"resume it from its last checkpoint: tltui runs resume {run.run_id}" if checkpoint
                                else "it saved no checkpoint before it stopped: start it again")
        stored = RunStore().get(run.run_id).events()
        assert [e.seq for e in stored] == list(range(1, len(stored) + 1)) and len(stored) > seen
