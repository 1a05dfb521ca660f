"""The race: the same data, split and seed, once from random weights and once from pretrained ones.

Both runs are real and go through the worker (one after the other on one device); their validation
curves share one chart. Without pretrained weights the widget says so and asks for a weights file: it
never draws a curve that was not measured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.widgets import Input, Label, Static

from tltui.core.client import WorkerError
from tltui.core.formatting import ui_words
from tltui.ui.link import WorkerLink
from tltui.core.protocol import RunConfig
from tltui.ui.run_model import RunModel
from tltui.ui.widgets import backbones
from tltui.ui.widgets.run_chart import RunChart

if TYPE_CHECKING:
    from tltui.ui.app import TutorApp

#: Both runs: everything trains, same LR, small data on purpose; only the starting weights differ.
RACE = RunConfig(data="builtin", limit_per_class=20, epochs=6, lr=1e-2, augment=("flip",), seed=0)


class Race(Vertical, can_focus=True):
    """``r`` starts the race, ``c`` cancels it."""

    app: TutorApp

    DEFAULT_CSS = """
    Race {
        height: 22;
        margin: 1 2;
        border: round $secondary;
        border-title-color: $text-accent;
        &:focus { border: round $accent; }
        RunChart { height: 1fr; }
        #race-status { height: auto; color: $text-muted; padding: 0 1; }
        #race-status.-refused { color: $text-error; }
        #weights-row { height: 1; display: none; padding: 0 1; }
        &.-ask-weights #weights-row { display: block; }
        #weights-row Label { width: auto; color: $warning; }
        #weights-row Input { width: 1fr; }
    }
    """

    HELP_TITLE = "The race (lesson 1)"
    BINDINGS = [
        Binding("r", "race", "Race", tooltip="start the race: scratch vs pretrained, both real runs"),
        Binding("c", "cancel", "Cancel race", tooltip="cancel both runs"),
        Binding("b", "backbone", "Backbone", tooltip="race the other backbone (resnet50 or tiny)"),
    ]

    def __init__(self, **_options: str) -> None:
        super().__init__()
        self.runs: dict[str, str] = {}
        """'scratch' / 'pretrained' -> run id."""
        self.picked = ""
        """The backbone the learner chose with b; '' follows the worker's pretrained one."""
        self.note = ""
        """Why the last r started nothing."""

    def compose(self) -> ComposeResult:
        yield RunChart()
        with Horizontal(id="weights-row"):
            yield Label("weights file: ")
            yield Input(placeholder="path to a ResNet-50 state_dict, then enter", compact=True, id="weights")
        yield Static(id="race-status")

    def on_mount(self) -> None:
        self.border_title = "The race: scratch vs pretrained (real runs)"
        self.border_subtitle = "focus with tab · r race · b backbone · c cancel"
        self.app.link.watch(self)
        self.app.link.ensure_started()
        self._refresh()

    def on_unmount(self) -> None:
        self.app.link.unwatch(self)

    def _models(self) -> list[tuple[str, RunModel]]:
        runs = self.app.link.runs
        return [(f"{side}: {runs[i].label}", runs[i]) for side, i in self.runs.items() if i in runs]

    def _refresh(self) -> None:
        link = self.app.link
        status = self.query_one("#race-status", Static)
        self.query_one(RunChart).show(self._models(), "press r to race")
        status.set_class(bool(self.note), "-refused")
        if self.note:
            status.update(Content(self.note))
            return
        if link.state in ("idle", "starting"):
            status.update("The worker is starting (it loads torch)…")
            return
        if link.state == "gone":
            status.update(Content(f"The worker stopped: {link.error}. Press W to restart it."))
            return
        model = backbones.chosen(link, self.picked)
        self.set_class(not link.has_pretrained(model) and not self.runs, "-ask-weights")
        if self._models():
            status.update(Content("  ·  ".join(f"{label}: {self._state(m)}" for label, m in self._models())))
        elif link.has_pretrained(model):
            status.update(Content(f"r races {model} · {backbones.WEIGHTS[model]} against the same network from "
                                  f"random weights: {RACE.epochs} epochs on {RACE.limit_per_class} images per class, "
                                  "same data, split and seed. b switches the backbone."))
        else:
            status.update(Content(f"{link.missing_weights(model)}: give a ResNet-50 weights file above, or b "
                                  f"picks {backbones.other(model)}. No curve is drawn that was not measured."))

    @staticmethod
    def _state(run: RunModel) -> str:
        best = run.best
        if run.running and not run.epochs:
            return "queued" if run.started is None else "starting"
        text = run.status + (f", best {best.val_acc:.0%}" if best else "")
        return text

    def action_race(self) -> None:
        typed = self.query_one("#weights", Input).value.strip()
        link = self.app.link
        model = backbones.chosen(link, self.picked)
        if link.has_pretrained(model):
            self._start(model, "pretrained")
        elif typed:
            self._start("resnet50", typed)
        elif link.capabilities is None:
            self._say("The worker is still starting: r again in a moment.")
        else:
            self._say(f"{link.missing_weights(model)}: give a weights file above first, or b picks "
                      f"{backbones.other(model)}.")

    def action_backbone(self) -> None:
        self.picked = backbones.other(backbones.chosen(self.app.link, self.picked))
        self.note = ""
        self._refresh()

    def _say(self, note: str) -> None:
        self.note = ui_words(note)
        self._refresh()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_race()

    @work(exclusive=True, group="race")
    async def _start(self, model: str, weights: str) -> None:
        if any(self.app.link.runs[i].running for i in self.runs.values() if i in self.app.link.runs):
            self._say("The race is still going: c cancels it.")
            return
        self.runs, self.note = {}, ""
        link = self.app.link
        try:  # the pretrained side first: weights the worker refuses start neither run
            pretrained = await link.start_run(msgspec.structs.replace(RACE, model=model, weights=weights))
        except WorkerError as error:
            self._say(f"The race did not start: {error}")
            return
        try:
            scratch = await link.start_run(msgspec.structs.replace(RACE, model=model, weights="none"))
        except WorkerError as error:
            await link.cancel(pretrained.run_id)
            self._say(f"The race did not start: {error}")
            return
        self.runs = {"scratch": scratch.run_id, "pretrained": pretrained.run_id}
        self._refresh()

    @work(group="race-cancel")
    async def action_cancel(self) -> None:
        runs = self.app.link.runs
        going = [run_id for run_id in self.runs.values() if run_id in runs and runs[run_id].running]
        if not going:
            self._say("No race is going: r starts one.")
        for run_id in going:
            try:
                await self.app.link.cancel(run_id)
            except WorkerError:
                pass  # it ended meanwhile

    def on_worker_link_changed(self, message: WorkerLink.Changed) -> None:
        self._refresh()

    def on_worker_link_run_changed(self, message: WorkerLink.RunChanged) -> None:
        if message.run_id in self.runs.values():
            self._refresh()
