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
from textual.widgets import Input, Label, Static

from tltui.client import WorkerError
from tltui.link import WorkerLink
from tltui.protocol import RunConfig
from tltui.run_model import RunModel
from tltui.widgets.run_chart import RunChart

if TYPE_CHECKING:
    from tltui.app import TutorApp

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
        #weights-row { height: 1; display: none; padding: 0 1; }
        &.-ask-weights #weights-row { display: block; }
        #weights-row Label { width: auto; color: $warning; }
        #weights-row Input { width: 1fr; }
    }
    """

    BINDINGS = [
        Binding("r", "race", "Race"),
        Binding("c", "cancel", "Cancel race"),
    ]

    def __init__(self, **_options: str) -> None:
        super().__init__()
        self.runs: dict[str, str] = {}
        """'scratch' / 'pretrained' -> run id."""

    def compose(self) -> ComposeResult:
        yield RunChart()
        with Horizontal(id="weights-row"):
            yield Label("weights file: ")
            yield Input(placeholder="path to a ResNet-50 state_dict, then enter", compact=True, id="weights")
        yield Static(id="race-status")

    def on_mount(self) -> None:
        self.border_title = "The race: scratch vs pretrained (real runs)"
        self.border_subtitle = "focus with tab · r race · c cancel"
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
        if link.state in ("idle", "starting"):
            status.update("The worker is starting (it loads torch)…")
            return
        if link.state == "gone":
            status.update(f"The worker stopped: {link.error}. Press W to restart it.")
            return
        backbone = link.pretrained_backbone
        self.set_class(backbone != "resnet50" and not self.runs, "-ask-weights")
        if self._models():
            status.update("  ·  ".join(f"{label}: {self._state(m)}" for label, m in self._models()))
        elif backbone == "resnet50":
            status.update(f"r runs ResNet-50 {RACE.epochs} epochs on {RACE.limit_per_class} images per class, "
                          "twice: from random weights and from ImageNet's. Same data, split and seed.")
        elif backbone == "tiny":
            status.update(
                f"No ImageNet weights for ResNet-50 here (looked in {link.capabilities.weights_dir}): r races "
                "the tiny backbone, random vs its shipped weights (pretrained on generated fractals). Or give "
                "a ResNet-50 weights file above."
            )
        else:
            status.update(
                f"No pretrained weights here (looked in {link.capabilities.weights_dir}): give a ResNet-50 "
                "weights file above. No curve is drawn that was not measured."
            )

    @staticmethod
    def _state(run: RunModel) -> str:
        best = run.best
        if run.running and not run.epochs:
            return "queued" if run.started is None else "starting"
        text = run.status + (f", best {best.val_acc:.0%}" if best else "")
        return text

    def action_race(self) -> None:
        typed = self.query_one("#weights", Input).value.strip()
        backbone = self.app.link.pretrained_backbone
        if typed:
            self._start("resnet50", typed)
        elif backbone:
            self._start(backbone, "pretrained")
        else:
            self.notify("Give a pretrained weights file first.", severity="warning")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_race()

    @work(exclusive=True, group="race")
    async def _start(self, model: str, weights: str) -> None:
        if any(self.app.link.runs[i].running for i in self.runs.values() if i in self.app.link.runs):
            self.notify("The race is still going.", timeout=2)
            return
        self.runs = {}
        try:
            for side, start in (("scratch", "none"), ("pretrained", weights)):
                run = await self.app.link.start_run(msgspec.structs.replace(RACE, model=model, weights=start))
                self.runs[side] = run.run_id
        except WorkerError as error:
            self.notify(str(error), title="race", severity="error", timeout=10)
        self._refresh()

    @work(group="race-cancel")
    async def action_cancel(self) -> None:
        for run_id in self.runs.values():
            run = self.app.link.runs.get(run_id)
            if run and run.running:
                try:
                    await self.app.link.cancel(run_id)
                except WorkerError:
                    pass

    def on_worker_link_changed(self, message: WorkerLink.Changed) -> None:
        self._refresh()

    def on_worker_link_run_changed(self, message: WorkerLink.RunChanged) -> None:
        if message.run_id in self.runs.values():
            self._refresh()
