"""SVG snapshots of what a learner sees at 80x24 (update with --snapshot-update after a deliberate change)."""

from __future__ import annotations

from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons

from conftest import footer_shows, lesson_mounted, until, workers_done

SIZE = (80, 24)


def test_first_lesson(snap_compare):
    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE, run_before=lesson_mounted)


def test_help_overlay(snap_compare):
    async def open_help(pilot) -> None:
        await lesson_mounted(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE, run_before=open_help)


def test_contents_over_a_lesson_with_a_code_block(snap_compare):
    async def open_contents(pilot) -> None:
        await pilot.press("3")
        await lesson_mounted(pilot)
        await pilot.press("G", "t")
        await pilot.pause()

    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE, run_before=open_contents)


async def charts_drawn(pilot) -> None:
    """Let every message land, then wait until each chart shows the latest data."""
    from tltui.ui.widgets.run_chart import RunChart

    await workers_done(pilot)
    await until(pilot, lambda: all(chart.drawn for chart in pilot.app.screen.query(RunChart)), what="the charts")
    await pilot.pause()


async def _start_training(pilot, stop_after: int | None = None) -> None:
    """Open the training screen, start the form's run on the fake worker, wait for its events."""
    from tltui.ui.screens.train import TrainScreen

    await pilot.press("T")
    await until(pilot, lambda: isinstance(pilot.app.screen, TrainScreen), what="the training screen")
    screen = pilot.app.screen
    await until(pilot, lambda: pilot.app.link.state == "ready" and screen._backbone_checked,
                what="the worker's hello, heard by the form (no ImageNet weights there: it starts from tiny)")
    await pilot.press("s")
    pilot.app.clear_notifications()  # the form's note that it starts from the tiny backbone
    await until(pilot, lambda: screen.run is not None
                and (screen.run.last_seq >= stop_after if stop_after else screen.run.end is not None),
                what=f"the run's {stop_after} events" if stop_after else "the run to end")
    await charts_drawn(pilot)


def test_training_screen_mid_run(snap_compare, monkeypatch):
    monkeypatch.setenv("FAKE_STOP_AFTER", "6")
    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE,
                        run_before=lambda pilot: _start_training(pilot, stop_after=6))


def test_training_screen_finished(snap_compare):
    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE, run_before=_start_training)


def test_race(snap_compare, monkeypatch):
    monkeypatch.setenv("FAKE_WEIGHTS", "imagenet")

    async def race(pilot) -> None:
        from tltui.ui.lesson.race import Race

        await lesson_mounted(pilot)
        widget = pilot.app.screen.query_one(Race)
        await until(pilot, lambda: pilot.app.link.state == "ready", what="the worker's hello")
        widget.focus()
        await pilot.press("r")
        await until(pilot, lambda: len(widget.runs) == 2
                    and all(pilot.app.link.runs[r].end is not None for r in widget.runs.values()), what="the race")
        await charts_drawn(pilot)

    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE, run_before=race)


def test_race_offers_the_tiny_backbone_without_imagenet_weights(snap_compare):
    async def wait_ready(pilot) -> None:
        from tltui.ui.lesson.race import Race

        await lesson_mounted(pilot)
        await until(pilot, lambda: pilot.app.link.state == "ready", what="the worker's hello")
        race = pilot.app.screen.query_one(Race)
        race.focus()
        await workers_done(pilot)
        await footer_shows(pilot, race)

    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE, run_before=wait_ready)


def test_freeze_board(snap_compare):
    from tltui.ui.lesson.freeze_board import FreezeBoard
    from tltui.ui.lessons import find_lesson

    async def focus_board(pilot) -> None:
        await lesson_mounted(pilot)
        board = pilot.app.screen.query_one(FreezeBoard)
        board.focus()
        await pilot.press("up", "space")
        await workers_done(pilot)
        await footer_shows(pilot, board)

    lessons = load_lessons()
    assert snap_compare(TutorApp(lessons, start=find_lesson(lessons, "playground")), terminal_size=SIZE,
                        run_before=focus_board)
