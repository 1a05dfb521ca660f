"""The capacity widget of lesson 3 at 80x24, by keys, against the scripted worker (tests/fake_worker.py
answers a Capacity request with made-up points of the real shape)."""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message

from tltui.core.protocol.requests import Capacity, Request
from tltui.ui.app import TutorApp
from tltui.ui.base.frame import StatusLine
from tltui.ui.lesson.capacity import CapacityChart, CapacitySweep, conclusion, memorised_up_to, spaced
from tltui.ui.lessons import find_lesson, load_lessons
from tltui.ui.link import WorkerLink

from conftest import focus_by_tab, until

SIZE = (80, 24)


def status(widget: CapacitySweep) -> str:
    return str(widget.query_one(StatusLine).render())


def legend(widget: CapacitySweep) -> str:
    return str(widget.query_one("#capacity-legend").render())


def keep(measured: list) -> Callable[[Message], None]:
    """A message hook that keeps each ``CapacitySweep.Measured`` in ``measured``."""
    def hook(message: Message) -> None:
        if isinstance(message, CapacitySweep.Measured):
            measured.append(message)
    return hook


async def measure(pilot, widget: CapacitySweep, measured: list) -> CapacitySweep.Measured:
    count = len(measured)
    await pilot.press("r")
    await until(pilot, lambda: len(measured) > count, what="the sweep")
    await pilot.pause()
    return measured[-1]


async def test_r_measures_and_the_chart_draws_both_curves_with_d_plus_one_and_chance(monkeypatch):
    sent: list[Request] = []
    original = WorkerLink.request

    async def spy(self, request, working=None):
        sent.append(request)
        return await original(self, request, working)

    monkeypatch.setattr(WorkerLink, "request", spy)
    measured: list[CapacitySweep.Measured] = []
    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, "feature-extraction"))
    hook = keep(measured)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        widget = await focus_by_tab(pilot, CapacitySweep)
        assert "shuffled labels of the first n builtin images, n around d + 1, on tiny's" in status(widget)
        assert "press r" in str(widget.query_one(CapacityChart).render())
        message = await measure(pilot, widget, measured)
        (request,) = [r for r in sent if isinstance(r, Capacity)]
        assert request.model == "tiny" and request.data == "builtin" and not request.sizes
        reply = message.reply
        assert message.sweep is widget and [p.n for p in reply.points] == [32, 64, 129, 258, 387, 516, 774, 1032]
        chart = str(widget.query_one(CapacityChart).render())
        assert "measured here · d = 128" in chart and all(tick in chart for tick in ("32", "129", "1032"))
        assert "⢕⢕ Gaussian  │ d+1 = 129  ─ chance 10%" in legend(widget) and "tiny features" in legend(widget)
        lines = chart.splitlines()
        axis = next(line for line in lines if "└" in line)
        under = lines[lines.index(axis) + 1]
        assert axis[under.index("129") + 1] == "┴"  # the line at d + 1 meets the axis at its tick
        assert any(line.strip().startswith("├") and "┼" in line for line in lines)  # chance crosses it
        # the fake's points: memorised up to 2.5 (d + 1) on real features, 4 (d + 1) on Gaussian ones
        assert status(widget) == conclusion(reply)
        assert "up to n = 258 with real features, up to n = 516 with Gaussian ones" in status(widget)
        assert "85 of the real features' 128 directions hold 99% of the variance (Gaussian: 126)" in status(widget)


async def test_b_offers_resnet50_only_where_its_weights_are(monkeypatch):
    lessons = load_lessons()
    app = TutorApp(lessons, start=find_lesson(lessons, "feature-extraction"))
    async with app.run_test(size=SIZE) as pilot:
        widget = await focus_by_tab(pilot, CapacitySweep)
        await until(pilot, lambda: app.link.state == "ready", what="the worker")
        await pilot.press("b")
        assert widget.picked == "tiny" and "No ImageNet weights for ResNet-50" in status(widget)
        assert widget.query_one(StatusLine).refused
    monkeypatch.setenv("FAKE_WEIGHTS", "imagenet")
    measured: list[CapacitySweep.Measured] = []
    app = TutorApp(lessons, start=find_lesson(lessons, "feature-extraction"))
    hook = keep(measured)
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        widget = await focus_by_tab(pilot, CapacitySweep)
        await until(pilot, lambda: app.link.state == "ready", what="the worker")
        await pilot.press("b")
        assert widget.picked == "resnet50" and "on resnet50's frozen features" in status(widget)
        reply = (await measure(pilot, widget, measured)).reply
        assert reply.dim == 2048 and "d+1 = 2049" in legend(widget)


def test_memorisation_stops_at_the_last_n_of_an_unbroken_run_of_near_perfect_fits():
    ns = [32, 64, 129, 258]
    assert memorised_up_to(ns, [1.0, 0.995, 0.9, 1.0]) == 64  # a later perfect fit does not extend it
    assert memorised_up_to(ns, [0.5, 1.0, 1.0, 1.0]) == 0
    assert memorised_up_to(ns, [1.0] * 4) == 258
    assert spaced([32, 64, 129, 258, 387, 516, 774, 1032]) == [32, 64, 129, 258, 516, 1032]


def test_the_help_has_the_widgets_keys():
    from tltui.ui.screens.help import sections

    keys = dict(sections())[f"{CapacitySweep.HELP_TITLE} · lesson 3"]  # the lesson read from the lessons
    assert [k for k, _ in keys] == ["r", "b"] and "shuffled labels" in keys[0][1]
