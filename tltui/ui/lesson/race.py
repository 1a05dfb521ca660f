"""The race: the same data, split and seed, once from random weights and once from pretrained ones.

Both runs are real and go through the worker (one after the other on one device); their validation
curves share one chart, and the status line gives each run's training and validation accuracy after its
latest epoch (their gap is memorisation). A line names the backbone ``r`` races (``b`` switches it).
Without pretrained weights the widget says so and asks for a weights file: it never draws a curve that was
not measured.
"""

from __future__ import annotations

import msgspec
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Input, Label, Static

from tltui.core.formatting import ui_words
from tltui.core.protocol.config import RunConfig
from tltui.ui.base import backbones
from tltui.ui.base.frame import LiveFrame, StatusLine
from tltui.ui.base.run_owner import KeptRuns
from tltui.ui.keys import bindings, hint
from tltui.ui.run_model import RunModel
from tltui.ui.widgets.run_chart import RunChart

#: Both runs: everything trains, same LR, small data on purpose; only the starting weights differ.
RACE = RunConfig(data="builtin", limit_per_class=20, epochs=6, optimizer="sgd", lr=1e-2, augment=("flip",),
                 seed=0)


class Race(KeptRuns, LiveFrame):
    """``r`` starts the race, ``c`` cancels it."""

    DEFAULT_CSS = """
    Race {
        height: 22;
        RunChart { height: 1fr; }
        #race-status { padding: 0 1; }
        .-backbone { height: 1; padding: 0 1; color: $text-muted; }
        #weights-row { height: 1; display: none; padding: 0 1; }
        &.-ask-weights #weights-row { display: block; }
        #weights-row Label { width: auto; color: $warning; }
        #weights-row Input { width: 1fr; }
    }
    """

    HELP_TITLE = "The race"
    NOTHING_TO_CANCEL = hint("No race is going: {Race.race} starts one.")
    KEEP_AS = "race"
    BINDINGS = bindings("Race")

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
        yield Static(classes="-backbone")
        yield StatusLine(id="race-status")

    def on_mount(self) -> None:
        self.border_title = "The race: scratch vs pretrained (real runs)"
        self.border_subtitle = hint("focus with tab · {Race.race} race · {Race.backbone} backbone · "
                                    "{Race.cancel_race} cancel")

    def _sides(self) -> list[tuple[str, RunModel]]:
        """('scratch' / 'pretrained', run) of the race's runs that the link knows."""
        runs = self.app.link.runs
        return [(side, runs[i]) for side, i in self.runs.items() if i in runs]

    def _models(self) -> list[tuple[str, RunModel]]:
        return [(f"{side}: {run.label}", run) for side, run in self._sides()]

    def redraw(self) -> None:
        self.query_one(RunChart).show(self._models(), hint("press {Race.race} to race"))
        self.set_class(self._asks_weights(), "-ask-weights")
        self.query_one(".-backbone", Static).update(Content.assemble(
            ("backbone ", "dim"), backbones.label(self.app.link, self.picked), ("  (b switches)", "dim")))
        self.query_one(StatusLine).say(*self._status())

    def _asks_weights(self) -> bool:
        """Whether the weights field shows: the worker has said hello, and lacks ImageNet's weights for
        the chosen ResNet-50 (the field takes a file of them instead)."""
        link = self.app.link
        model = backbones.chosen(link, self.picked)
        return link.capabilities is not None and model == "resnet50" and not link.has_pretrained(model)

    def _missing(self, model: str) -> str:
        """Why ``model`` cannot race, and what helps: the field above (only where it shows), or b."""
        field = "give a ResNet-50 weights file above, or " if self._asks_weights() else ""
        return f"{self.app.link.missing_weights(model)}: {field}b picks {backbones.other(model)}."

    def _status(self) -> tuple[str, bool]:
        """The status line, and whether it says why r started nothing."""
        link = self.app.link
        if self.note:
            return self.note, True
        if link.state in ("idle", "starting"):
            return "The worker is starting (it loads torch)…", False
        if link.state == "gone":
            return hint(f"The worker stopped: {link.error}. Press {{TutorApp.restart_worker}} to restart it."), False
        model = backbones.chosen(link, self.picked)
        if self._sides():
            return "\n".join(f"{side} {self._state(run)}" for side, run in self._sides()), False
        if link.has_pretrained(model):
            return (f"r races it pretrained against the same network from random weights: {RACE.epochs} epochs on "
                    f"{RACE.limit_per_class} images per class, same data, split and seed."), False
        return f"{self._missing(model)} No curve is drawn that was not measured.", False

    @staticmethod
    def _state(run: RunModel) -> str:
        """Where ``run`` is, and its training and validation accuracy after its latest epoch."""
        if run.running and not run.epochs:
            return "queued" if run.started is None else "starting"
        if not run.epochs:
            return run.status
        last = run.epochs[-1]
        where = f"epoch {last.epoch}/{run.config.epochs}" if run.running and run.config else run.status
        return f"{where}, train {last.train_acc:.0%}, val {last.val_acc:.0%}"

    def action_race(self) -> None:
        typed = self.query_one("#weights", Input).value.strip()
        link = self.app.link
        model = backbones.chosen(link, self.picked)
        if link.has_pretrained(model):
            self._start(model, "pretrained")
        elif typed and self._asks_weights():
            self._start("resnet50", typed)
        elif link.capabilities is None:
            self.say(hint("The worker is still starting: {Race.race} again in a moment."))
        else:
            self.say(self._missing(model))

    def action_backbone(self) -> None:
        self.picked = backbones.other(backbones.chosen(self.app.link, self.picked))
        self.note = ""
        self.redraw()

    def say(self, note: str) -> None:
        self.note = ui_words(note)
        self.redraw()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_race()

    @work(exclusive=True, group="race")
    async def _start(self, model: str, weights: str) -> None:
        if any(run.running for run in self.owned_runs()):
            self.say("The race is still going: c cancels it.")
            return
        self.runs, self.note = {}, ""
        refused = "The race did not start"
        # the pretrained side first: weights the worker refuses start neither run
        pretrained = await self.start_run(msgspec.structs.replace(RACE, model=model, weights=weights), refused)
        if pretrained is None:
            return
        scratch = await self.start_run(msgspec.structs.replace(RACE, model=model, weights="none"), refused)
        if scratch is None:
            await self.app.link.cancel(pretrained.run_id)
            return
        self.runs = {"scratch": scratch.run_id, "pretrained": pretrained.run_id}
        self.keep(self.runs)
        self.redraw()
