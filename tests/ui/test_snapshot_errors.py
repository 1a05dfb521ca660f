"""SVG snapshots of a finished run's results and errors view at 80x24, on the fake worker's made-up error
analysis and pictures (update with --snapshot-update after a deliberate change)."""

from __future__ import annotations

from test_snapshots import SIZE, _start_training

from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons

from conftest import workers_done


def test_results_with_the_error_analysis(snap_compare, monkeypatch):
    monkeypatch.setenv("FAKE_ANALYSIS", "1")
    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE, run_before=_start_training)


def test_errors_view_third_top_loss(snap_compare, monkeypatch):
    monkeypatch.setenv("FAKE_ANALYSIS", "1")

    async def errors(pilot) -> None:
        await _start_training(pilot)
        await pilot.press("e")
        await workers_done(pilot)
        await pilot.press("right", "right")
        await pilot.pause()

    assert snap_compare(TutorApp(load_lessons()), terminal_size=SIZE, run_before=errors)
