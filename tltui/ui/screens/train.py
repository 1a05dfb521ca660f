"""The training screen: describe a run, start it on the worker, watch it learn."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from tltui.core.client import WorkerError
from tltui.ui.link import WorkerLink
from tltui.ui.widgets.run_form import RunForm
from tltui.ui.widgets.run_view import RunView
from tltui.ui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from tltui.ui.app import TutorApp


class TrainScreen(Screen):
    """A form above, the run below. ``s`` (or enter in the form) starts, ``c`` cancels."""

    app: TutorApp

    DEFAULT_CSS = """
    TrainScreen {
        &.-hide-form RunForm { display: none; }
    }
    """

    HELP_TITLE = "Training screen (T)"
    BINDINGS = [
        Binding("s,ctrl+s", "start", "Start", tooltip="start the run the form describes (ctrl+s inside a field)"),
        Binding("c", "cancel", "Cancel", tooltip="cancel the run (its last checkpoint is kept)"),
        Binding("f", "toggle_form", "Form", tooltip="show or hide the form"),
        Binding("escape", "back", "Back", tooltip="leave a form field; from the run, back to the lessons"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.run_id = ""
        self._backbone_checked = False

    def compose(self) -> ComposeResult:
        yield TopBar()
        yield RunForm(values=self.app.progress.form)
        yield RunView()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(TopBar).title = "tltui — training"
        self.app.link.watch(self)
        self.app.link.ensure_started()
        self.query_one(RunView).show(None, "fill in the form, then s (or Start)")
        self.query_one(RunView).focus()
        self._check_backbone()

    def on_unmount(self) -> None:
        self.app.link.unwatch(self)

    @property
    def run(self):
        return self.app.link.runs.get(self.run_id)

    def action_start(self) -> None:
        self.query_one(RunForm).submit()

    def on_run_form_submitted(self, message: RunForm.Submitted) -> None:
        if self.run is not None and self.run.running:
            self.notify("A run is going: c cancels it, or wait for it.", severity="warning")
            return
        self._start(message.config)

    def on_run_form_edited(self, message: RunForm.Edited) -> None:
        """The form's fields outlive the session (in the progress file), as they are now."""
        if message.values != self.app.progress.form and message.form.is_mounted:
            self.app.progress.form = message.values
            self.app.save_progress()

    @work(exclusive=True, group="start")
    async def _start(self, config) -> None:
        form = self.query_one(RunForm)
        try:
            run = await self.app.link.start_run(config)
        except WorkerError as error:
            form.mark(f"the worker refused it: {error}")  # the form stays, the reason on its last line
            self.remove_class("-hide-form")
            return
        self.run_id = run.run_id
        self.add_class("-hide-form")
        self.query_one(RunView).show(run)
        self.query_one(RunView).focus()

    @work(group="cancel")
    async def action_cancel(self) -> None:
        run = self.run
        if run is None or not run.running:
            self.notify("No run is going.", timeout=2)
            return
        try:
            await self.app.link.cancel(run.run_id)
            self.notify("Cancelling at the end of this batch; the last checkpoint is kept.", timeout=4)
        except WorkerError as error:
            self.notify(str(error), severity="error")

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

    def on_worker_link_run_changed(self, message: WorkerLink.RunChanged) -> None:
        if message.run_id == self.run_id:
            self.query_one(RunView).show(self.run)

    def on_worker_link_changed(self, message: WorkerLink.Changed) -> None:
        if self.run is not None:
            self.query_one(RunView).show(self.run)
        self._check_backbone()

    def _check_backbone(self) -> None:
        """Once the worker has said hello: without ImageNet weights there, start the form from the
        tiny backbone (its weights ship with tltui) and say so, unless the learner chose already."""
        link = self.app.link
        if self._backbone_checked or link.capabilities is None:
            return
        self._backbone_checked = True
        form = self.query_one(RunForm)
        if link.pretrained_backbone == "tiny" and form.model == "resnet50" and not form.touched \
                and not self.app.progress.form:
            form.model = "tiny"
            self.notify(f"No ImageNet weights on {link.capabilities.host}: the form starts from the tiny backbone.",
                        title="backbone", timeout=8)
