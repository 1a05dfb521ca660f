"""The training form with the measured defaults: AdamW at 2e-3 with crops when no preset is chosen; a
preset's optimizer, LR and augmentation where a field is left at the default; a typed value wins."""

from __future__ import annotations

from textual.widgets import Input, Select

from tltui.core.presets import PRESETS
from tltui.core.protocol.config import ConfigError, RunConfig
from tltui.ui.app import TutorApp
from tltui.ui.lessons import load_lessons
from tltui.ui.screens.train import TrainScreen
from tltui.ui.widgets.run_form import RunForm

from conftest import until


async def test_the_form_starts_at_the_defaults_and_leaves_a_presets_values_alone():
    app = TutorApp(load_lessons())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen.query("RunForm #lr"), 10)
        await pilot.pause()
        form = app.screen.query_one(RunForm)
        default = RunConfig()
        config = form.config()
        assert (config.optimizer, config.lr, config.augment) == (default.optimizer, default.lr, default.augment)
        form.query_one("#preset", Select).value = "feature-extraction"
        await pilot.pause()
        preset = PRESETS["feature-extraction"][1]
        config = form.config()
        assert (config.optimizer, config.lr, config.augment) == (preset["optimizer"], preset["lr"], preset["augment"])
        form.query_one("#lr", Input).value = "0.05"
        await pilot.pause()
        config = form.config()
        assert (config.optimizer, config.lr) == (preset["optimizer"], 0.05)


async def test_the_form_lists_the_probe_and_says_it_has_no_epochs_to_set():
    app = TutorApp(load_lessons())
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen.query("RunForm #lr"), 10)
        await pilot.pause()
        form = app.screen.query_one(RunForm)
        form.query_one("#preset", Select).value = "probe"
        await pilot.pause()
        assert str(form.query_one("#reason").render()).startswith("probe: one fit, no SGD epochs")
        config = form.config()  # the epochs field left at its default: the probe's one epoch holds
        assert (config.preset, config.epochs, config.head_first, config.augment) == ("probe", 1, True, ())
        form.query_one("#epochs", Input).value = "10"
        await pilot.pause()
        try:
            form.config()
        except ConfigError as error:
            form.mark(str(error))
        await pilot.pause()
        assert form.invalid == "epochs" and "epochs 10 with preset probe" in str(form.query_one("#reason").render())


async def test_the_model_list_offers_the_timm_models_the_worker_has_and_takes_one_a_command_names(monkeypatch):
    """The worker's hello names the timm models whose weights it has: the form lists them after the built-in
    backbones; a well-formed timm:NAME from a command (diagnose's a, an earlier session) is taken too."""
    monkeypatch.setenv("FAKE_TIMM_CACHED", "timm:convnext_tiny.in12k_ft_in1k")
    app = TutorApp(load_lessons())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("T")
        await until(pilot, lambda: isinstance(app.screen, TrainScreen) and app.screen.query("RunForm #lr"), 10)
        form = app.screen.query_one(RunForm)
        select = form.query_one("#model", Select)
        await until(pilot, lambda: app.link.capabilities is not None, 20, "the worker's hello")
        await until(pilot, lambda: "timm:convnext_tiny.in12k_ft_in1k" in form._models, 10, "the cached timm model")
        assert form._models[:2] == ["resnet50", "tiny"]
        form.set_value("model", "timm:test_vit")
        assert select.value == "timm:test_vit" and form.config().model == "timm:test_vit"
        form.set_value("model", "timm:no such model!")
        assert select.value == "timm:test_vit", "a malformed name was taken"
        form.set_value("model", "tiny")
        assert form.config().model == "tiny" and "timm:test_vit" in form._models
