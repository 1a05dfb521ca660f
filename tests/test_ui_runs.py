"""Runs, the race and the form, driven by keys against the scripted fake worker."""

from __future__ import annotations

import shlex

from textual.widgets import DataTable, Input

from conftest import FAKE_WORKER, until
from tltui.app import TutorApp
from tltui.lessons import load_lessons
from tltui.screens.runs import RunsScreen
from tltui.screens.train import TrainScreen
from tltui.widgets.race import Race
from tltui.widgets.run_chart import RunChart
from tltui.widgets.run_form import RunForm
from tltui.widgets.run_view import RunView

SIZE = (80, 24)


async def start_two_runs(pilot) -> None:
    await pilot.press("T")
    await until(pilot, lambda: isinstance(pilot.app.screen, TrainScreen))
    screen = pilot.app.screen
    await until(pilot, lambda: pilot.app.link.state == "ready")
    screen.query_one(RunForm).model = "resnet50"
    for weights in ("none", "imagenet"):
        screen.query_one("#weights", Input).value = weights
        await pilot.press("s")
        await until(pilot, lambda: screen.run is not None and screen.run.end is not None)
        first = screen.run_id
        if weights == "none":
            screen.run_id = ""
    assert first


async def test_runs_are_listed_marked_overlaid_and_opened():
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await start_two_runs(pilot)
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.screen.query_one(DataTable).row_count == 2)
        screen = app.screen
        await pilot.press("space", "down", "space")
        await until(pilot, lambda: len(screen.marked) == 2)
        await pilot.pause(0.3)
        overlay = screen.query_one("#overlay", RunChart)
        labels = [label for label, _ in overlay.series]
        assert len(labels) == 2 and any("none" in label for label in labels)
        assert all(len(run.curves().val_acc) == 6 for _, run in overlay.series)
        await pilot.press("space")
        assert len(screen.marked) == 1
        await pilot.press("enter")
        await until(pilot, lambda: screen.has_class("-detail"))
        assert screen.query_one(RunView).run is not None
        await pilot.press("escape")
        assert not screen.has_class("-detail")


async def test_the_form_reports_bad_input_in_one_line():
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        form = app.screen.query_one(RunForm)
        form.query_one("#frozen", Input).value = "layer9"
        await pilot.pause()
        assert form.query_one("#label-frozen").has_class("-invalid")  # marked as it is typed
        reason = str(form.query_one("#reason").render())
        assert reason.startswith("✗ freeze:") and "unknown group 'layer9'" in reason and "--" not in reason
        form.query_one("#frozen", Input).value = "layer4"
        await pilot.pause()
        assert not form.query_one("#label-frozen").has_class("-invalid")
        form.query_one("#epochs", Input).value = "0"
        await pilot.press("s")
        await pilot.pause(0.2)
        assert form.query_one("#label-epochs").has_class("-invalid")
        assert "epochs must be at least 1" in str(form.query_one("#reason").render())
        assert app.screen.run is None


async def test_race_without_imagenet_weights_races_the_tiny_backbone_or_a_file():
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query(Race))
        race = app.screen.query_one(Race)
        await until(pilot, lambda: app.link.state == "ready")
        await pilot.pause(0.1)
        assert not race.has_class("-ask-weights")
        assert str(race.query_one("#race-status").render()).startswith("r races tiny · pretrained on fractals")
        race.focus()
        await pilot.press("b")  # ResNet-50: no ImageNet weights here, so it asks for a file
        assert race.has_class("-ask-weights")
        status = str(race.query_one("#race-status").render())
        assert "No ImageNet weights for ResNet-50 on fake-host" in status and "b picks tiny" in status
        await pilot.press("r")  # nothing to race it from: says so where the learner looks
        assert race.query_one("#race-status").has_class("-refused") and not race.runs
        await pilot.press("b", "r")
        await until(pilot, lambda: len(race.runs) == 2
                    and all(app.link.runs[r].end is not None for r in race.runs.values()))
        configs = {side: app.link.runs[run_id].config for side, run_id in race.runs.items()}
        assert {c.model for c in configs.values()} == {"tiny"}
        assert (configs["scratch"].weights, configs["pretrained"].weights) == ("none", "pretrained")
        assert configs["scratch"].data == configs["pretrained"].data == "builtin"
        assert configs["scratch"].seed == configs["pretrained"].seed
        await pilot.press("b")  # ResNet-50 from a weights file of the learner's
        race.query_one("#weights", Input).value = "/data/my-resnet50.pt"
        race.query_one("#weights", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: app.link.runs[race.runs["pretrained"]].config.weights == "/data/my-resnet50.pt")
        assert app.link.runs[race.runs["pretrained"]].config.model == "resnet50"
        assert app.link.runs[race.runs["scratch"]].config.model == "resnet50"


async def test_race_with_pretrained_weights_runs_both_on_one_chart(monkeypatch):
    monkeypatch.setenv("FAKE_WEIGHTS", "imagenet")
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query(Race))
        race = app.screen.query_one(Race)
        await until(pilot, lambda: app.link.state == "ready")
        race.focus()
        await pilot.press("r")
        await until(pilot, lambda: len(race.runs) == 2
                    and all(app.link.runs[r].end is not None for r in race.runs.values()))
        await pilot.pause(0.3)
        chart = race.query_one(RunChart)
        assert [label.split(":")[0] for label, _ in chart.series] == ["scratch", "pretrained"]
        pretrained = app.link.runs[race.runs["pretrained"]].config
        assert (pretrained.model, pretrained.weights) == ("resnet50", "pretrained")


async def test_without_imagenet_weights_the_form_starts_from_the_tiny_backbone_and_says_so():
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.link.state == "ready")
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        await pilot.pause(0.1)
        form = app.screen.query_one(RunForm)
        assert form.model == "tiny"
        assert any("No ImageNet weights on fake-host" in n.message for n in app._notifications)
        await pilot.press("s")
        await until(pilot, lambda: app.screen.run is not None)
        assert app.screen.run.config.model == "tiny"


async def test_the_form_keeps_resnet50_where_its_weights_are_or_the_learner_chose(monkeypatch):
    monkeypatch.setenv("FAKE_WEIGHTS", "imagenet")
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.link.state == "ready")
        await pilot.pause(0.1)
        assert app.screen.query_one(RunForm).model == "resnet50"
        assert not any("No ImageNet" in n.message for n in app._notifications)
    monkeypatch.delenv("FAKE_WEIGHTS")
    monkeypatch.setenv("TLTUI_WORKER_CMD", f"sh -c 'sleep 1; exec \"$0\" \"$@\"' {shlex.join(FAKE_WORKER)}")
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        assert app.link.state != "ready"  # the learner types before the worker's hello
        app.screen.query_one("#weights", Input).value = "none"
        await until(pilot, lambda: app.link.state == "ready")
        await pilot.pause(0.1)
        assert app.screen.query_one(RunForm).model == "resnet50"
