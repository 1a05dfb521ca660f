"""c in each widget that owns runs: with nothing going it says so in the widget's own words; with runs
going it asks the worker to cancel each of them. Against the scripted fake worker, whose runs stay
mid-way (FAKE_STOP_AFTER)."""

from __future__ import annotations

import pytest

from tltui.ui.app import TutorApp
from tltui.ui.lesson.backbone_compare import BackboneCompare
from tltui.ui.lesson.diagnose import Diagnose
from tltui.ui.lesson.lr_cascade import LrCascade
from tltui.ui.lesson.race import Race
from tltui.ui.lessons import find_lesson, load_lessons

from conftest import focus_by_tab, until

SIZE = (80, 24)
OWNERS = [("why-transfer", Race, "r", 2), ("learning-rates", LrCascade, "r", 1), ("your-own-data", Diagnose, "d", 1),
          ("choosing-a-backbone", BackboneCompare, "r", 6)]


@pytest.mark.parametrize(("lesson", "owner", "start", "runs"), OWNERS, ids=[o[1].__name__ for o in OWNERS])
async def test_c_cancels_the_widgets_runs_or_says_none_is_going(monkeypatch, lesson, owner, start, runs):
    monkeypatch.setenv("FAKE_STOP_AFTER", "3")  # started, a little progress, never an end
    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, lesson))
    async with app.run_test(size=SIZE) as pilot:
        widget = await focus_by_tab(pilot, owner)

        await pilot.press("c")
        await until(pilot, lambda: "going" in widget.note, what="the answer to c")
        assert widget.note == owner.NOTHING_TO_CANCEL

        asked: list[str] = []
        cancel = app.link.cancel

        async def spy(run_id: str):
            asked.append(run_id)
            return await cancel(run_id)

        monkeypatch.setattr(app.link, "cancel", spy)
        widget.note = ""
        await pilot.press(start)
        await until(pilot, lambda: len([r for r in widget.owned_runs() if r.running]) == runs, what="the runs")
        await pilot.press("c")
        await until(pilot, lambda: len(asked) == runs, what="the cancel requests")
        assert sorted(asked) == sorted(r.run_id for r in widget.owned_runs())
        assert widget.note != owner.NOTHING_TO_CANCEL
