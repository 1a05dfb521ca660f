"""Runs, the race and the form, driven by keys against the scripted fake worker."""

from __future__ import annotations

from textual.widgets import DataTable, Input

from tltui.core.protocol.config import RunConfig
from tltui.ui.app import TutorApp
from tltui.ui.base.frame import StatusLine
from tltui.ui.lesson.race import Race
from tltui.ui.lessons import load_lessons
from tltui.ui.screens.runs import RunsScreen
from tltui.ui.screens.train import TrainScreen
from tltui.ui.widgets.run_chart import RunChart
from tltui.ui.widgets.run_form import RunForm
from tltui.ui.widgets.run_view import RunView

from conftest import Toasts, until, workers_done
from keyboard import send

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
        await until(pilot, lambda: isinstance(app.screen, RunsScreen)
                    and app.screen.query_one(DataTable).row_count == 2)
        screen = app.screen
        await pilot.press("space", "down", "space")
        await until(pilot, lambda: len(screen.marked) == 2)
        overlay = screen.query_one("#overlay", RunChart)
        await until(pilot, lambda: len(overlay.series) == 2, what="the overlay of the two runs marked")
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
        await workers_done(pilot)  # s's worker: it would have started the run
        assert form.query_one("#label-epochs").has_class("-invalid")
        assert "epochs must be between 1 and 1000, not 0" in str(form.query_one("#reason").render())
        assert app.screen.run is None


def shown(race: Race, selector: str) -> str:
    return str(race.query_one(selector).render())


def field_shows(race: Race) -> bool:
    """Whether the weights field is on the screen, above the status line."""
    field = race.query_one("#weights", Input)
    return field.parent.display and field.region.height > 0 and \
        field.region.y < race.query_one("#race-status").region.y


async def test_race_without_imagenet_weights_races_the_tiny_backbone_or_a_file():
    """A line names the backbone r races, b switches it; the weights field shows whenever ResNet-50 is
    chosen without its weights (after a race too), and only then does a refusal send the learner "above" to
    it; a finished race gives each run's training and validation accuracy after its last epoch."""
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query(Race))
        race = app.screen.query_one(Race)
        await until(pilot, lambda: app.link.state == "ready")
        await until(pilot, lambda: shown(race, ".-backbone").startswith("backbone tiny · pretrained on fractals"),
                    what="the race to hear the worker's hello")
        await workers_done(pilot)
        assert not race.has_class("-ask-weights") and not field_shows(race)
        assert shown(race, "#race-status").startswith("r races it pretrained")
        race.focus()
        await pilot.press("b")  # ResNet-50: no ImageNet weights here, so it asks for a file
        assert race.has_class("-ask-weights")
        assert shown(race, ".-backbone").startswith("backbone resnet50 · ImageNet")
        status = shown(race, "#race-status")
        assert "No ImageNet weights for ResNet-50 on fake-host" in status and "b picks tiny" in status
        await pilot.press("r")  # nothing to race it from: says so where the learner looks
        assert race.query_one("#race-status", StatusLine).refused and not race.runs
        assert "weights file above" in shown(race, "#race-status") and field_shows(race)
        await pilot.press("b", "r")
        assert shown(race, ".-backbone").startswith("backbone tiny")
        await until(pilot, lambda: len(race.runs) == 2
                    and all(app.link.runs[r].end is not None for r in race.runs.values()))
        configs = {side: app.link.runs[run_id].config for side, run_id in race.runs.items()}
        assert {c.model for c in configs.values()} == {"tiny"}
        assert (configs["scratch"].weights, configs["pretrained"].weights) == ("none", "pretrained")
        assert configs["scratch"].data == configs["pretrained"].data == "builtin"
        assert configs["scratch"].seed == configs["pretrained"].seed
        await pilot.pause()
        status = shown(race, "#race-status")
        for side, run_id in race.runs.items():
            last = app.link.runs[run_id].epochs[-1]
            assert f"{side} finished, train {last.train_acc:.0%}, val {last.val_acc:.0%}" in status, status
        await pilot.press("b")  # ResNet-50 from a weights file of the learner's, the race's curves still drawn
        await pilot.pause()
        assert shown(race, ".-backbone").startswith("backbone resnet50") and field_shows(race)
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
        chart = race.query_one(RunChart)
        await until(pilot, lambda: len(chart.series) == 2, what="the race's two curves")
        assert [label.split(":")[0] for label, _ in chart.series] == ["scratch", "pretrained"]
        pretrained = app.link.runs[race.runs["pretrained"]].config
        assert (pretrained.model, pretrained.weights) == ("resnet50", "pretrained")


async def test_without_imagenet_weights_the_form_starts_from_the_tiny_backbone_and_says_so():
    app = TutorApp(load_lessons())
    toasts = Toasts()
    async with app.run_test(size=SIZE, message_hook=toasts) as pilot:
        await until(pilot, lambda: app.link.state == "ready")
        await pilot.press("T")
        await until(pilot, lambda: toasts.said("No ImageNet weights on fake-host"))
        form = app.screen.query_one(RunForm)
        assert form.model == "tiny"
        await pilot.press("s")
        await until(pilot, lambda: app.screen.run is not None)
        assert app.screen.run.config.model == "tiny"


async def test_the_form_keeps_resnet50_where_its_weights_are_or_the_learner_chose(monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_WEIGHTS", "imagenet")
    app = TutorApp(load_lessons())
    toasts = Toasts()
    async with app.run_test(size=SIZE, message_hook=toasts) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.link.state == "ready")
        await workers_done(pilot)  # the form has heard the hello
        assert app.screen.query_one(RunForm).model == "resnet50"
        assert not toasts.said("No ImageNet")
    monkeypatch.delenv("FAKE_WEIGHTS")
    hello = tmp_path / "hello"
    monkeypatch.setenv("FAKE_HELLO_AFTER", str(hello))  # the worker says hello once the test says so
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        assert app.link.state != "ready"  # the learner types before the worker's hello
        app.screen.query_one("#weights", Input).value = "none"
        hello.touch()
        await until(pilot, lambda: app.link.state == "ready")
        await workers_done(pilot)  # the form has heard the hello
        assert app.screen.query_one(RunForm).model == "resnet50"


async def test_a_new_run_clears_the_last_ones_results_at_once(monkeypatch):
    monkeypatch.setenv("FAKE_DELAY", "0.1")  # a run takes a few seconds: long enough to look at it
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.link.state == "ready")
        screen = app.screen
        await pilot.press("s")
        await until(pilot, lambda: screen.run is not None and screen.run.end is not None)
        view = screen.query_one(RunView)
        await until(pilot, lambda: view.has_class("-results"))
        first = screen.run_id
        await send(app, ["s"])  # not pilot.press: it waits for the app to idle, up to a second: the whole run
        await until(pilot, lambda: screen.run_id != first, what="the second run")
        assert screen.run.end is None
        assert not view.has_class("-results") and str(view.query_one("#results").render()) == ""


async def test_m_while_a_run_trains_says_the_results_come_at_the_end(monkeypatch):
    monkeypatch.setenv("FAKE_STOP_AFTER", "4")  # the run stays mid-way
    notes: list[str] = []

    def hook(message) -> None:
        if type(message).__name__ == "Notify":
            notes.append(message.notification.message)

    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE, message_hook=hook) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.link.state == "ready")
        await pilot.press("s")
        await until(pilot, lambda: app.screen.run is not None and app.screen.run.epochs)
        await pilot.press("m")
        await pilot.pause()
        assert any("come when the run finishes" in n for n in notes)


async def test_the_runs_table_shows_each_runs_summary_and_strategy_up_front():
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await start_two_runs(pilot)
        app.link.runs.clear()  # a fresh UI: only the run store's summaries
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen)
                    and app.screen.query_one(DataTable).row_count == 2)
        table = app.screen.query_one(DataTable)
        rows = [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
        assert all(row[6] == f"all train · lr {RunConfig().lr:.0e}" for row in rows), rows  # the form's default LR
        assert all(row[3] == "builtin" for row in rows)


async def test_the_form_by_keys_marks_the_focused_field_and_only_starts_when_asked():
    from textual.widgets import Select

    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.link.state == "ready")
        screen, form = app.screen, app.screen.query_one(RunForm)
        form.query_one("#model", Select).focus()
        await pilot.pause()
        assert str(form.query_one("#label-model").render()).startswith("▶")
        await pilot.press("enter")  # a select opens; nothing starts
        assert form.query_one("#model", Select).expanded and screen.run is None
        await pilot.press("escape")
        form.query_one("#data", Input).focus()
        await pilot.pause()
        label = form.query_one("#label-data")
        assert str(label.render()).startswith("▶ data") and label.has_class("-focused")
        assert not str(form.query_one("#label-model").render()).startswith("▶")
        await pilot.press("enter")  # to the next field, not a run
        assert app.screen.focused.id == "weights" and screen.run is None
        assert str(form.query_one("#label-weights").render()).startswith("▶ weights")
        form.query_one("#nproc", Input).focus()
        await pilot.press("enter")  # the last field: start
        await until(pilot, lambda: screen.run is not None)


async def test_W_is_in_the_footer_exactly_while_the_worker_is_down():
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.link.state == "ready")

        def footer() -> set[str]:
            return {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}

        assert "W" not in footer()
        app.link.kill()
        await until(pilot, lambda: app.link.state == "gone")
        await pilot.pause()
        assert "W" in footer()
        await pilot.press("W")
        await until(pilot, lambda: app.link.state == "ready")
        await pilot.pause()
        assert "W" not in footer()


async def test_the_runs_table_changes_a_runs_row_in_place_as_its_events_arrive(monkeypatch):
    monkeypatch.setenv("FAKE_DELAY", "0.1")  # a run takes a few seconds: its row is seen going
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.link.state == "ready")
        table = app.screen.query_one(DataTable)
        run = await app.link.start_run(RunConfig(model="tiny", epochs=6))
        await until(pilot, lambda: table.row_count == 1 and run.epochs)
        row = table.rows[run.run_id]
        assert str(table.get_cell(run.run_id, "status")) == "running"
        await until(pilot, lambda: run.end is not None)
        await until(pilot, lambda: str(table.get_cell(run.run_id, "status")) == "finished", what="the row finished")
        assert table.rows[run.run_id] is row  # the same row, not the table filled again
        assert table.get_cell(run.run_id, "epochs") == "6/6"
        assert table.get_cell(run.run_id, "best") == f"{run.best_val_acc:.1%}"


async def test_the_hidden_runs_table_waits_and_is_current_when_shown_again(monkeypatch):
    """Built ahead and kept, the runs screen does no work for runs while hidden (its table rebuilt on each
    event cost every key more as a session's runs piled up); shown again, its rows are the runs' now."""
    monkeypatch.setenv("FAKE_DELAY", "0.05")
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and app.link.state == "ready")
        screen = app.screen
        table = screen.query_one(DataTable)
        await pilot.press("L")
        await until(pilot, lambda: not screen.is_current)
        fills = []
        monkeypatch.setattr(table, "clear", lambda *a, **k: fills.append(1) or DataTable.clear(table, *a, **k))
        monkeypatch.setattr(table, "update_cell", lambda *a, **k: fills.append(1))
        runs = [await app.link.start_run(RunConfig(model="tiny", epochs=3)) for _ in range(2)]
        await until(pilot, lambda: all(run.end is not None for run in runs), what="both runs finished")
        assert fills == [] and table.row_count == 0
        monkeypatch.undo()
        await pilot.press("R")
        await until(pilot, lambda: table.row_count == 2, what="the two runs' rows")
        for run in runs:
            assert str(table.get_cell(run.run_id, "status")) == "finished"
            assert table.get_cell(run.run_id, "epochs") == run.done


async def test_a_restarted_tutor_draws_the_last_race_and_training_run_again(monkeypatch):
    monkeypatch.setenv("FAKE_KEEP", "1")  # the fake worker keeps its runs, as the run store does
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query(Race) and app.link.state == "ready")
        race = app.screen.query_one(Race)
        race.focus()
        await pilot.press("r")
        await until(pilot, lambda: len(race.runs) == 2
                    and all(app.link.runs[r].end is not None for r in race.runs.values()))
        raced = dict(race.runs)
        await pilot.press("escape", "T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        await pilot.press("s")
        await until(pilot, lambda: app.screen.run is not None and app.screen.run.end is not None)
        trained = app.screen.run_id
    app = TutorApp(load_lessons())
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query(Race) and app.screen.query_one(Race).query(RunChart))
        race = app.screen.query_one(Race)  # (found as soon as it is mounted: its chart comes with its compose)
        chart = race.query_one(RunChart)
        await until(pilot, lambda: len(chart.series) == 2 and chart.drawn, what="the race drawn again")
        assert race.runs == raced
        assert [label.split(":")[0] for label, _ in chart.series] == ["scratch", "pretrained"]
        assert all(run.end is not None and len(run.curves().val_acc) == 6 for _, run in chart.series)
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen))
        view = app.screen.query_one(RunView)
        await until(pilot, lambda: app.screen.run_id == trained and view.run is not None, what="the last run")
        assert view.run.run_id == trained and view.run.end is not None
