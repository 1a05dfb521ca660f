"""The training screen: describe a run, start it on the worker, watch it learn."""

from __future__ import annotations

from collections.abc import Collection

from textual import work
from textual.app import ComposeResult

from tltui.core.protocol.config import ConfigError, RunConfig
from tltui.ui.base.run_owner import RunOwner
from tltui.ui.dialogs.lr_finder import LrFinderScreen
from tltui.ui.keys import bindings, hint
from tltui.ui.run_model import RunModel
from tltui.ui.screens.mode import ModeScreen
from tltui.ui.widgets.footer import KeysFooter
from tltui.ui.widgets.run_form import RunForm, texts
from tltui.ui.widgets.run_view import RunView
from tltui.ui.widgets.top_bar import TopBar


class TrainScreen(RunOwner, ModeScreen):
    """A form above, the run below. ``s`` (or enter in the form) starts, ``c`` cancels; the form's last
    line says why a run did not start."""

    DEFAULT_CSS = """
    TrainScreen {
        &.-hide-form RunForm { display: none; }
    }
    """

    MODE = "train"
    HELP_TITLE = hint("Training screen ({TutorApp.train})")
    BINDINGS = bindings("TrainScreen")
    KEEP_AS = "train"
    STARTS_WORKER = False  # built ahead while idle: the worker starts when the screen is first shown

    def __init__(self) -> None:
        super().__init__()
        self.run_id = ""
        self._backbone_checked = False

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield RunForm(values=self.app.progress.form)
        yield RunView()
        yield KeysFooter(show_command_palette=False)  # ctrl+p is in ?

    def on_mount(self) -> None:
        self.query_one(TopBar).title = "tltui — training"
        self.query_one(RunView).show(None, "fill in the form, then s (or Start)")
        self.query_one(RunView).focus()

    def on_first_show(self) -> None:
        self.app.link.ensure_started()
        self._check_backbone()
        if self.kept():
            self._bring_back()

    @work(group="train-back")
    async def _bring_back(self) -> None:
        """Show the last run started here (in an earlier session too), from the worker's run store."""
        run_id = (await self.bring_back(self.kept())).get("run", "")
        if run_id and not self.run_id:  # no run started meanwhile
            self.run_id = run_id
            self.query_one(RunView).show(self.run)

    @property
    def run(self) -> RunModel | None:
        return self.app.link.runs.get(self.run_id)

    def run_ids(self) -> Collection[str]:
        return (self.run_id,)

    def say(self, note: str) -> None:
        self.query_one(RunForm).mark(note)  # the form stays, the reason on its last line
        self.remove_class("-hide-form")

    def action_start(self) -> None:
        self.query_one(RunForm).submit()

    def on_run_form_submitted(self, message: RunForm.Submitted) -> None:
        if self.run is not None and self.run.running:
            self.notify("A run is going: c cancels it, or wait for it.", severity="warning")
            return
        self._start(message.config)

    def on_run_form_edited(self, message: RunForm.Edited) -> None:
        """The form's fields outlive the session (in the progress file), as they are now: once the learner
        has changed one (a form at its defaults, as it is built, saves nothing: ``_check_backbone`` reads an
        empty saved form as a learner who has not chosen yet)."""
        if message.values != self.app.progress.form and message.form.is_mounted \
                and (message.form.touched or self.app.progress.form):
            self.app.progress.form = message.values
            self.app.save_progress()

    @work(exclusive=True, group="start")
    async def _start(self, config: RunConfig) -> None:
        run = await self.start_run(config, refused="the worker refused it")
        if run is None:
            return
        self.run_id = run.run_id
        self.keep({"run": run.run_id})
        self.add_class("-hide-form")
        self.query_one(RunView).show(run)
        self.query_one(RunView).focus()

    @work(group="cancel")
    async def action_cancel(self) -> None:
        cancelling = await self.cancel_runs()
        if cancelling is None:
            self.notify("No run is going.", timeout=2)
        elif cancelling:
            self.notify("Cancelling at the end of this batch; the last checkpoint is kept.", timeout=4)

    def action_diagnose(self) -> None:
        """Diagnose the form's data with its backbone, weights, image size and images per class; the command
        it recommends, if taken, goes into the form."""
        from tltui.ui.dialogs.diagnose import DiagnoseScreen

        try:
            config = self.query_one(RunForm).config()
        except (ConfigError, ValueError) as error:
            self.say(str(error))
            return
        self.app.push_screen(DiagnoseScreen(config), self.take_command)

    def take_command(self, command: list[str] | None) -> None:
        """A diagnosis's ``tltui train`` arguments into the form: its preset, epochs and settings, every other
        field back to its default, so the preset's own values hold."""
        from tltui.core import diagnosis

        if not command:
            return
        form = self.query_one(RunForm)
        defaults = {**texts(RunConfig()), "model": RunConfig().model, "preset": ""}
        for name, text in {**defaults, **diagnosis.settings(command)}.items():
            form.set_value(name, text)
        self.remove_class("-hide-form")
        self.notify(hint(f"In the form: {diagnosis.line(command)}. {{TrainScreen.start}} starts it."), timeout=6)

    def action_find_lr(self) -> None:
        """The LR finder on the setting the form describes; its suggestion, if taken, goes into the form."""
        form = self.query_one(RunForm)
        try:
            config = form.config()
        except ConfigError as error:
            self.say(str(error))
            return
        self.app.push_screen(LrFinderScreen(config), self._take_lr)

    def _take_lr(self, lr: float | None) -> None:
        if lr is not None:
            self.query_one(RunForm).set_value("lr", f"{lr:.2g}")
            self.remove_class("-hide-form")
            self.notify(hint(f"LR {lr:.2g} from the finder is in the form: {{TrainScreen.start}} starts the run."),
                        timeout=4)

    def action_toggle_form(self) -> None:
        self.toggle_class("-hide-form")
        if self.has_class("-hide-form"):
            self.query_one(RunView).focus()
        else:
            self.query_one(RunForm).query_one("#data").focus()

    async def action_back(self) -> None:
        """From a form field to the run; from the run back to the lessons."""
        view = self.query_one(RunView)
        if view.has_focus:
            await self.app.action_mode("lessons")
        else:
            view.focus()

    def runs_changed(self) -> None:
        self.query_one(RunView).show(self.run)

    def worker_changed(self) -> None:
        if self.run is not None:
            self.query_one(RunView).show(self.run)
        self._check_backbone()

    def _check_backbone(self) -> None:
        """Once the worker has said hello: without ImageNet weights there, start the form from the
        tiny backbone (its weights ship with tltui) and say so, unless the learner chose already."""
        link = self.app.link
        if self._backbone_checked or link.capabilities is None or not self.shown:  # (built ahead: says it when seen)
            return
        self._backbone_checked = True
        form = self.query_one(RunForm)
        if link.pretrained_backbone == "tiny" and form.model == "resnet50" and not form.touched \
                and not self.app.progress.form:
            form.model = "tiny"
            self.notify(f"No ImageNet weights on {link.capabilities.host}: the form starts from the tiny backbone.",
                        title="backbone", timeout=8)
