"""Lesson 6's LR cascade and unfreezing timeline, driven by keys at 80x24 against the scripted fake worker:
what each widget shows is exactly the RunConfig it sends."""

from __future__ import annotations

import math

import pytest

from tltui.core.codegen import generate
from tltui.core.groups import BACKBONE, GROUPS
from tltui.core.protocol.config import ConfigError
from tltui.ui.app import TutorApp
from tltui.ui.base.frame import StatusLine
from tltui.ui.lesson.lr_cascade import LRS, LrBars, LrCascade
from tltui.ui.lesson.unfreeze_timeline import ROWS, Grid, UnfreezeTimeline
from tltui.ui.lessons import find_lesson, load_lessons
from tltui.ui.widgets.code_view import CodeView
from tltui.ui.widgets.run_chart import RunChart

from conftest import focus_by_tab, until, workers_done

SIZE = (80, 24)


@pytest.fixture
def app():
    lessons = load_lessons()
    return TutorApp(lessons, start=find_lesson(lessons, "learning-rates"))


async def run_to_the_end(pilot, widget) -> None:
    await pilot.press("r")
    link = pilot.app.link
    await until(pilot, lambda: widget.run_id in link.runs and link.runs[widget.run_id].end is not None,
                what="the widget's run to end")
    await until(pilot, lambda: "finished" in shown_status(widget), what="the widget to say its run finished")


def shown_status(widget) -> str:
    return str(widget.query_one(".-status").render())


async def test_cascade_keys_set_the_lrs_the_bars_the_code_and_the_run(app):
    async with app.run_test(size=SIZE) as pilot:
        cascade = await focus_by_tab(pilot, LrCascade)
        await pilot.press("right", "right", "down", "f", "f")
        config = cascade.config
        assert (config.lr, config.lr_decay, config.frozen) == (5e-2, 0.2, ("stem", "layer1"))
        trainable = ("layer2", "layer3", "layer4", "head")
        assert config.trainable_at(1) == trainable
        bars = cascade.query_one(LrBars)
        assert bars.values == {g: config.group_lr(g) for g in trainable}
        assert bars.values["layer2"] == pytest.approx(5e-2 * 0.2**3)
        assert "layer2 moves 125x slower than the head" in shown_status(cascade)

        await pilot.press("v")
        code = cascade.query_one(CodeView)
        assert code.display and code.code == generate(config)
        assert '*opt_groups(model, "layer2", HEAD_LR * DECAY**3),' in code.code
        assert 'opt_groups(model, "layer1"' not in code.code

        await run_to_the_end(pilot, cascade)
        sent = app.link.runs[cascade.run_id].config  # as the worker echoed it back
        assert sent == config
        assert {g: sent.group_lr(g) for g in sent.trainable_at(1)} == bars.values
        chart = cascade.query_one(RunChart)
        assert chart.display and [run.run_id for _, run in chart.series] == [cascade.run_id]
        assert "finished" in shown_status(cascade)

        await pilot.press("escape")
        assert app.screen.focused is None
        await pilot.press("right")  # the lesson's keys again: next lesson
        assert app.screen.lesson.number == find_lesson(app.lessons, "learning-rates").number + 1


async def test_cascade_sliders_stop_at_their_ends_and_freezing_cycles(app):
    async with app.run_test(size=SIZE) as pilot:
        cascade = await focus_by_tab(pilot, LrCascade)
        await pilot.press(*["left"] * (len(LRS) + 2), *["up"] * 12)
        assert (cascade.config.lr, cascade.config.lr_decay) == (LRS[0], 1.0)
        assert set(cascade.query_one(LrBars).values.values()) == {LRS[0]}
        await pilot.press(*["right"] * (len(LRS) + 2), *["down"] * 12)
        assert (cascade.config.lr, cascade.config.lr_decay) == (1.0, 0.1)
        await pilot.press(*["f"] * 5)
        assert cascade.config.frozen == BACKBONE
        assert cascade.query_one(LrBars).values == {"head": 1.0}
        assert "only the head trains" in shown_status(cascade)
        await pilot.press("f")
        assert cascade.config.frozen == ()
        assert list(cascade.query_one(LrBars).values) == list(GROUPS)


def grid_rows(timeline) -> dict[str, list[int]]:
    """Per group, the epochs the grid draws as training."""
    lines = str(timeline.query_one(Grid).render()).splitlines()[1:]
    rows = {}
    for line in lines:
        group, cells = line[:8].strip(), line[8:]
        rows[group] = [e for e in range(1, timeline.config.epochs + 1)
                       if cells[(e - 1) * 4:(e - 1) * 4 + 3] in ("███", "[█]")]  # [ ] is the cursor
    return rows


async def test_timeline_keys_set_who_joins_when_and_the_run_gets_exactly_that(app):
    async with app.run_test(size=SIZE) as pilot:
        timeline = await focus_by_tab(pilot, UnfreezeTimeline)
        assert timeline.group == "layer4" and timeline.cursor[1] == 3
        await pilot.press("down", "left", "enter")  # layer3 joins at epoch 2
        await pilot.press("down", "right", "right", "enter")  # layer2 joins at epoch 4
        await pilot.press("up", "up", "left", "left", "left", "enter")  # layer4 trains from epoch 1
        await pilot.press("plus")
        await pilot.press("down", "down", "down", "x")  # layer1: frozen all run (it was)
        config = timeline.config
        assert timeline.group == "layer1"
        assert config.epochs == 7
        assert config.frozen == ("stem", "layer1", "layer2", "layer3")
        assert config.unfreeze == {"layer2": 4, "layer3": 2}
        assert grid_rows(timeline) == {g: [e for e in range(1, 8) if g in config.trainable_at(e)] for g in ROWS}
        assert grid_rows(timeline)["layer2"] == [4, 5, 6, 7]
        assert timeline.query_one(CodeView).code == generate(config)

        await run_to_the_end(pilot, timeline)
        sent = app.link.runs[timeline.run_id].config
        assert (sent.frozen, sent.unfreeze, sent.epochs) == (config.frozen, config.unfreeze, 7)
        assert sent == config


async def test_timeline_explains_a_setting_that_cannot_run_and_starts_nothing(app, data_dir):
    async with app.run_test(size=SIZE) as pilot:
        timeline = await focus_by_tab(pilot, UnfreezeTimeline)
        await pilot.press("minus", "minus")  # 4 epochs: layer3 still joins at 5
        with pytest.raises(ConfigError) as error:
            timeline.config.check()
        message = str(error.value)
        assert "between 2 and --epochs (4)" in message and "\n" not in message
        assert shown_status(timeline) == "unfreeze 5:layer3: the epoch must be between 2 and epochs (4)"
        assert timeline.query_one(".-status", StatusLine).refused
        assert grid_rows(timeline)["layer3"] == []
        await pilot.press("r", "w")
        await workers_done(pilot)  # r's worker: it would have started the run
        assert timeline.run_id == "" and not app.link.runs
        assert timeline.query_one(".-status", StatusLine).refused
        assert not list(data_dir.glob("tltui_*.py"))

        await pilot.press("plus")  # 5 epochs: it can run again
        assert not timeline.query_one(".-status", StatusLine).refused
        await pilot.press("up", "x")  # the head frozen all run: nothing trains in epoch 1
        assert timeline.group == "head" and "nothing trains in epoch 1" in shown_status(timeline)
        await pilot.press("left", "left", "enter")  # the head trains from epoch 1 again
        assert shown_status(timeline).startswith("5 epochs · unfreeze 3:layer4, 5:layer3")


@pytest.mark.parametrize("widget_type, name", [(LrCascade, "tltui_lr_cascade.py"),
                                               (UnfreezeTimeline, "tltui_unfreeze_timeline.py")])
async def test_w_writes_the_code_shown(app, data_dir, widget_type, name):
    async with app.run_test(size=SIZE) as pilot:
        widget = await focus_by_tab(pilot, widget_type)
        await pilot.press("up", "w")
        path = data_dir / name
        assert path.read_text(encoding="utf-8") == widget.query_one(CodeView).code == generate(widget.config)
        assert f"Wrote the code: python {path}" in shown_status(widget)
        assert not widget.query_one(".-status", StatusLine).refused
        compile(path.read_text(encoding="utf-8"), name, "exec")


async def test_timeline_draws_its_cursor_on_the_first_focus(app):
    async with app.run_test(size=SIZE) as pilot:
        timeline = await focus_by_tab(pilot, UnfreezeTimeline)
        assert timeline.query_one(Grid).show_cursor


async def test_cascade_says_same_lr_and_its_bars_differ_when_the_lrs_do(app):
    from tltui.ui.lesson.lr_cascade import log_range

    async with app.run_test(size=SIZE) as pilot:
        cascade = await focus_by_tab(pilot, LrCascade)
        for _ in range(10):
            await pilot.press("up")  # factor 1.0: every group at the head's LR
        assert cascade.config.lr_decay == 1.0
        assert "same LR as the head" in shown_status(cascade) and "1x" not in shown_status(cascade)
        await pilot.press("down")  # factor 0.9
        assert "moves 1.69x slower" in shown_status(cascade)  # stem, five steps down: 1 / 0.9**5
        low, high = log_range(*(f(map(math.log10, cascade.query_one(LrBars).values.values())) for f in (min, max)))
        rows = 12  # the bars' plot area at 80x24
        steps = sorted({round(math.log10(v), 6) for v in cascade.query_one(LrBars).values.values()})
        assert all((b - a) / (high - low) * rows >= 0.8 for a, b in zip(steps, steps[1:], strict=False))  # about a row
