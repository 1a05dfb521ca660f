"""SVG snapshots of lesson 6's LR cascade and unfreezing timeline at 80x24 (update with --snapshot-update)."""

from __future__ import annotations

from tltui.ui.app import TutorApp
from tltui.ui.lessons import find_lesson, load_lessons

from conftest import footer_shows, lesson_mounted, workers_done

SIZE = (80, 24)


def lesson_six() -> TutorApp:
    lessons = load_lessons()
    return TutorApp(lessons, start=find_lesson(lessons, "learning-rates"))


def tab_to(widget_type: str, *keys: str):
    """Tab from the lesson to the widget, press ``keys``, let it draw."""

    async def run_before(pilot) -> None:
        await lesson_mounted(pilot)
        widget = pilot.app.screen.query_one(widget_type)
        for _ in range(20):
            if widget.has_focus:
                break
            await pilot.press("tab")
        assert widget.has_focus, f"tab never reached {widget_type}"
        await pilot.press(*keys)
        await workers_done(pilot)
        await footer_shows(pilot, widget)

    return run_before


def test_lr_cascade_bars(snap_compare):
    assert snap_compare(lesson_six(), terminal_size=SIZE, run_before=tab_to("LrCascade", "left", "down", "f"))


def test_unfreeze_timeline_with_its_code(snap_compare):
    keys = ("down", "left", "enter", "plus")  # layer3 joins at epoch 2; 7 epochs
    assert snap_compare(lesson_six(), terminal_size=SIZE, run_before=tab_to("UnfreezeTimeline", *keys))
