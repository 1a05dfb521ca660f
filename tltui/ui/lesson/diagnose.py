"""Diagnose: the strategies measured on the learner's data, its quadrant and the recipe to start from.

The lesson widget (``tltui diagnose`` in "Your own data") diagnoses the data the training form names;
the training screen's ``D`` opens it on the form as it stands. Both start a real diagnose run on the
worker (``StartDiagnosis``) and draw its measurements as they arrive; ``a`` then puts the recommended
command (its preset, epochs and settings) into the training form.
"""

from __future__ import annotations

from collections.abc import Collection

import msgspec
from textual import work
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import Static

from tltui.core import diagnosis
from tltui.core.client import WorkerError
from tltui.core.formatting import duration, ui_words
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import Diagnosis
from tltui.ui.base import backbones
from tltui.ui.base.frame import Dialog, LiveFrame, StatusLine
from tltui.ui.base.run_owner import RunOwner
from tltui.ui.keys import bindings, hint
from tltui.ui.run_model import RunModel


class Diagnose(RunOwner, LiveFrame):
    """``d`` diagnoses the data (the training form's, unless given), ``b`` switches the backbone, ``c`` cancels,
    ``a`` takes the recommended command into the training form."""

    DEFAULT_CSS = """
    Diagnose {
        height: auto;
        #diagnose-table { padding: 0 1; height: auto; }
        #diagnose-status { padding: 0 1; }
    }
    """

    HELP_TITLE = hint("Diagnose (also {TrainScreen.diagnose} on the training screen)")
    BINDINGS = bindings("Diagnose")
    STARTS_WORKER = False
    NOTHING_TO_CANCEL = hint("No diagnosis is going: {Diagnose.diagnose} starts one.")

    def __init__(self, config: RunConfig | None = None, data: str = "", per_class: str = "", **_options: str) -> None:
        super().__init__()
        self.given = config
        """The training screen's config; None: the lesson's, read from the form when d is pressed."""
        self.data, self.per_class = data, int(per_class or 0)
        self.picked = config.model if config else ""
        self.run_id = ""
        self.note = ""

    def compose(self) -> ComposeResult:
        yield Static(id="diagnose-table")
        yield StatusLine(id="diagnose-status")

    def on_mount(self) -> None:
        self.border_title = "Diagnose your data (real runs)"
        self.border_subtitle = hint("focus with tab · {Diagnose.diagnose} diagnose · {Diagnose.use_it} use it · "
                                    "{Diagnose.backbone} backbone · {Diagnose.cancel} cancel")
        self._refresh()
        if self.given is not None:
            self.action_diagnose()

    def run_ids(self) -> Collection[str]:
        return (self.run_id,)

    def worker_changed(self) -> None:
        self._refresh()

    def runs_changed(self) -> None:
        self._refresh()

    def say(self, note: str) -> None:
        self.note = ui_words(note)
        self._refresh()

    @property
    def run(self) -> RunModel | None:
        return self.app.link.runs.get(self.run_id)

    def config(self) -> RunConfig:
        """What d diagnoses: the given config, else the form's data (or the lesson's) with the chosen backbone."""
        if self.given is not None:
            return msgspec.structs.replace(self.given, model=backbones.chosen(self.app.link, self.picked))
        data = self.data or self.app.progress.form.get("data", "") or "builtin"
        per_class = self.per_class or int(self.app.progress.form.get("limit_per_class", "") or 0)
        return RunConfig(data=data, model=backbones.chosen(self.app.link, self.picked), augment=(),
                         limit_per_class=per_class)

    def action_diagnose(self) -> None:
        self._start(self.config())

    async def action_use(self) -> None:
        """The recommended command into the training form: the screen under ``D``'s, else the training screen's."""
        end = self.run.end if self.run is not None else None
        if not isinstance(end, Diagnosis) or not end.command:
            self.say("No recipe yet: d diagnoses the data, then a puts its command in the training form.")
            return
        if isinstance(self.screen, Dialog):  # the training screen's D: the dialog answers with it
            self.screen.dismiss(end.command)
            return
        await self.app.train_with(end.command)

    def action_backbone(self) -> None:
        self.picked = backbones.other(backbones.chosen(self.app.link, self.picked))
        self.note = ""
        self._refresh()

    @work(exclusive=True, group="diagnose")
    async def _start(self, config: RunConfig) -> None:
        if self.run is not None and self.run.running:
            self.say("A diagnosis is going: c cancels it.")
            return
        if not await self.ready():
            return
        refusal = backbones.refusal(self.app.link, config.model)
        if refusal:
            self.say(refusal)
            return
        self.note = ""
        try:
            run = await self.app.link.start_diagnosis(config)
        except WorkerError as error:
            self.say(f"The worker refused the diagnosis: {error}")
            return
        self.run_id = run.run_id
        self._refresh()

    # -- drawing ---------------------------------------------------------------------------------

    def _refresh(self) -> None:
        self.query_one("#diagnose-table", Static).update(self._table())
        self.query_one(StatusLine).say(*self._status())

    def _status(self) -> tuple[str, bool]:
        link, run = self.app.link, self.run
        if self.note:
            return self.note, True
        if link.state == "gone":
            return hint(f"The worker stopped: {link.error}. Press {{TutorApp.restart_worker}} to restart it."), False
        if run is None:
            cfg = self.config()
            limit = f", {cfg.limit_per_class} per class" if cfg.limit_per_class else ""
            return hint(f"{{Diagnose.diagnose}} diagnoses {cfg.data}{limit} with {backbones.label(link, self.picked)} "
                        "(the training form's data; {Diagnose.backbone} switches the backbone)."), False
        if isinstance(run.end, Diagnosis):
            return hint("Done: {Diagnose.use_it} puts the command in the training form; {Diagnose.diagnose} runs it "
                        "again. Each number is a real measurement on held-out folds."), False
        if run.end is not None or run.lost:
            return ui_words(run.lost or next((n for n in reversed(run.notes)), run.status)), run.status == "failed"
        last = run.measured[-1] if run.measured else None
        if last is None:
            return (run.notes[-1] if run.notes else "queued: the worker loads the data and the backbone…"), False
        return (f"fold {last.fold}/{last.folds} · {duration(last.elapsed)} elapsed · "
                f"about {duration(last.eta)} to go"), False

    def _table(self) -> Content:
        run = self.run
        if run is None:
            return Content("k-NN · linear probe · feature extraction · head then unfreeze · fine-tune everything · "
                           "from scratch:\neach preset as tltui train trains it, on held-out folds of your data, "
                           "with a 95% interval.")
        lines = [f"{'strategy':<27} {'folds':<15} {'mean':>5}  95% interval"]
        end = run.end if isinstance(run.end, Diagnosis) else None
        for name in diagnosis.STRATEGIES:
            accs = [m.acc for m in run.measured if m.strategy == name]
            if not accs and (end is None or name not in end.results):
                continue
            folds = " ".join(f"{a * 100:.0f}" for a in accs)[:15]
            if end is not None and name in end.results:
                r = end.results[name]
                lines.append(f"{diagnosis.label(name):<27} {folds:<15} {r.acc:5.0%}  {r.low:.0%}-{r.high:.0%}")
            else:
                lines.append(f"{diagnosis.label(name):<27} {folds:<15} {sum(accs) / len(accs):5.0%}")
        if end is not None:
            held = end.held_out
            if held is not None:
                lines.append(f"{'val/: ' + diagnosis.label(held.strategy):<27} {f'{held.images} images':<15} "
                             f"{held.acc:5.0%}  {held.low:.0%}-{held.high:.0%}")
            lines += ["", f"Quadrant {end.quadrant}: {diagnosis.QUADRANTS[end.quadrant]}. "
                          f"Start from --preset {end.recommend}.", end.because]
            if end.command:
                lines += ["", f"{diagnosis.line(end.command)}  (a: into the training form)"]
        return Content("\n".join(lines))
