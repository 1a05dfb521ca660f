"""Backbones compared on this worker: each backbone it has pretrained weights for (the tiny one always,
ResNet-50 with ImageNet's, each timm model whose weights are cached), as a probe and fine-tuned, three seeds
each, on the built-in set; per arm, the mean final validation accuracy and its 95% interval over the seeds.

Every number drawn was measured by the runs ``r`` starts. A line names the weights the worker did not find
(ResNet-50's, and the timm models lesson 13 names) and where it looked.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Static

from tltui.core.client import WorkerError
from tltui.core.diagnosis import over_folds
from tltui.core.formatting import ui_words
from tltui.core.presets import PROBE, configure
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.events import Failed
from tltui.core.protocol.requests import DescribeBackbone
from tltui.ui.base import backbones
from tltui.ui.base.frame import LiveFrame, StatusLine
from tltui.ui.base.run_owner import KeptRuns
from tltui.ui.keys import bindings, hint
from tltui.ui.run_model import RunModel

PER_CLASS = 20
SEEDS = (0, 1, 2)
EPOCHS = 5
"""The fine-tuned arm's epochs (the probe's one fit is its one epoch)."""
ARMS = {"probe": PROBE, "fine-tune": "fine-tune-all"}
"""Arm -> the preset it runs."""
NAMED = ("timm:convnext_tiny", "timm:vit_small_patch14_dinov2.lvd142m")
"""The timm models lesson 13 names: where their weights are not cached, the widget says where it looked."""
STRIP = 20
"""Columns of the strip that draws an arm's interval on 0..100%."""


def arm_config(model: str, arm: str, seed: int) -> RunConfig:
    """One run of the comparison: ``model`` from its pretrained weights on ``builtin``, ``PER_CLASS`` training
    images per class, as ``arm``; the tiny backbone at 32 px, the others at the worker's size for them (a
    timm model's own; ResNet-50's 64 px on a CPU, 224 on a GPU)."""
    epochs = {"epochs": EPOCHS} if arm == "fine-tune" else {}
    return configure(ARMS[arm], model=model, weights="pretrained", data="builtin", limit_per_class=PER_CLASS,
                     seed=seed, image_size=32 if model == "tiny" else 0, **epochs)


def strip(low: float, mean: float, high: float) -> str:
    """``low``..``high`` as a line on 0..100% with the mean as a dot."""
    cells = [" "] * (STRIP + 1)
    for i in range(round(low * STRIP), round(high * STRIP) + 1):
        cells[i] = "─"
    cells[round(mean * STRIP)] = "●"
    return "│" + "".join(cells) + "│"


class BackboneCompare(KeptRuns, LiveFrame):
    """``r`` runs the comparison, ``c`` cancels it."""

    DEFAULT_CSS = """
    BackboneCompare {
        height: auto;
        #bc-table, #bc-missing { height: auto; padding: 0 1; }
        #bc-missing { color: $text-muted; }
        StatusLine { padding: 0 1; }
    }
    """

    HELP_TITLE = "Backbones compared"
    NOTHING_TO_CANCEL = hint("No comparison is going: {BackboneCompare.compare} starts one.")
    KEEP_AS = "backbone-compare"
    BINDINGS = bindings("BackboneCompare")

    def __init__(self, **_options: str) -> None:
        super().__init__()
        self.runs: dict[str, str] = {}
        """``model|arm|seed`` -> run id."""
        self.looked: dict[str, str] = {}
        """A timm model lesson 13 names -> why it is not compared, where the worker looked ('' if found)."""
        self.note = ""
        """Why the last r started nothing."""
        self.asked = False
        """Whether the worker was asked where it looked for the named timm models' weights."""

    def compose(self) -> ComposeResult:
        yield Static(id="bc-table")
        yield StatusLine(id="bc-status")
        yield Static(id="bc-missing")

    def on_mount(self) -> None:
        self.border_title = "Backbones compared: probe and fine-tune, 3 seeds each (real runs)"
        self.border_subtitle = hint("focus with tab · {BackboneCompare.compare} run · "
                                    "{BackboneCompare.cancel_compare} cancel")

    # -- what is compared ----------------------------------------------------------------------

    def backbones(self) -> list[str]:
        """The backbones the worker has pretrained weights for, the tiny one first."""
        link = self.app.link
        found = [m for m in backbones.offered(link) if link.has_pretrained(m)]
        return sorted(found, key=lambda m: m != "tiny")

    def planned(self) -> list[tuple[str, str, int]]:
        """(model, arm, seed) of every run, the first seed of every arm first."""
        return [(model, arm, seed) for seed in SEEDS for model in self.backbones() for arm in ARMS]

    @work(group="compare-look")
    async def _look(self) -> None:
        """Ask the worker where it looked for the named timm models' weights (those it has not cached)."""
        cached = backbones.cached_timm(self.app.link)
        for model in NAMED:
            if any(m == model or m.startswith(f"{model}.") for m in cached):
                self.looked[model] = ""
                continue
            try:
                info = await self.app.link.request(DescribeBackbone(model=model))
            except WorkerError as error:  # no timm on the worker, or no such model in its timm
                self.looked[model] = ui_words(str(error))
                continue
            self.looked[model] = ("" if "pretrained" in info.weights
                                  else f"No pretrained weights for {model} (looked in {info.looked})")
        self.redraw()

    def missing(self) -> list[str]:
        """A line per backbone not compared for want of its weights, naming where the worker looked."""
        link = self.app.link
        if link.capabilities is None:
            return []
        lines = [link.missing_weights(m) for m in ("tiny", "resnet50")]
        lines += list(dict.fromkeys(self.looked.values()))  # (one line where the worker lacks timm)
        return [line for line in lines if line]

    # -- drawing ---------------------------------------------------------------------------------

    def _models(self) -> dict[tuple[str, str], list[RunModel]]:
        """(model, arm) -> its runs that the link knows, in seed order."""
        arms: dict[tuple[str, str], list[RunModel]] = {}
        runs = self.app.link.runs
        for key, run_id in self.runs.items():
            model, arm, _seed = key.rsplit("|", 2)
            if run_id in runs:
                arms.setdefault((model, arm), []).append(runs[run_id])
        return arms

    def redraw(self) -> None:
        if self.app.link.capabilities is not None and not self.asked:
            self.asked = True
            self._look()
        arms = self._models()
        table = Text()
        if arms:
            table.append(f"  {'arm':<10}{'seeds':<7}final val acc: mean [95% CI], on 0..100%\n", "dim")
        model = ""
        for (name, arm), runs in arms.items():
            if name != model:
                model = name
                table.append(f"{model}\n", "bold")
            table.append(f"  {arm:<10}{self._row(runs)}\n")
        self.query_one("#bc-table", Static).update(table)
        self.query_one(StatusLine).say(*self._status(arms))
        missing = self.missing()
        self.query_one("#bc-missing", Static).update(
            "Not compared, weights not found:\n" + "\n".join(f"· {line}" for line in missing) if missing else "")

    @staticmethod
    def _row(runs: list[RunModel]) -> str:
        """An arm's seeds done, then its mean and interval over them, or where its runs are."""
        accs = [run.epochs[-1].val_acc for run in runs if run.status == "finished" and run.epochs]
        failed = [run for run in runs if not run.running and run.status != "finished"]
        done = f"{len(accs)}/{len(SEEDS)}    "
        if failed:
            end = failed[0].end
            why = end.reason if isinstance(end, Failed) else failed[0].lost
            return f"{done}{failed[0].status}" + (f": {ui_words(why)}"[:50] if why else "")
        if not accs:
            return f"{done}{'running' if any(r.running for r in runs) else 'queued'}…"
        mean, low, high = over_folds(accs)
        return f"{done}{mean:4.0%} [{low:.0%}–{high:.0%}]  {strip(low, mean, high)}"

    def _status(self, arms: dict[tuple[str, str], list[RunModel]]) -> tuple[str, bool]:
        """The status line, and whether it says why r started nothing."""
        link = self.app.link
        if self.note:
            return self.note, True
        if link.state in ("idle", "starting"):
            return "The worker is starting (it loads torch)…", False
        if link.state == "gone":
            return hint(f"The worker stopped: {link.error}. Press {{TutorApp.restart_worker}} to restart it."), False
        runs = [run for arm in arms.values() for run in arm]
        if not runs:
            names = ", ".join(self.backbones()) or "no backbone"
            return hint(f"{{BackboneCompare.compare}} runs {len(self.planned())} runs on this worker: {names}, each "
                        f"as a probe and fine-tuned (fine-tune-all, {EPOCHS} epochs), seeds {SEEDS[0]}-{SEEDS[-1]}, "
                        f"{PER_CLASS} images per class of builtin."), False
        going = sum(run.running for run in runs)
        if going:
            return f"{len(runs) - going} of {len(runs)} runs done; the worker runs them one after another.", False
        host = link.capabilities.host if link.capabilities else "the worker"
        return (f"Measured on {host}: final validation accuracy of each seed's run; the interval is Student-t's "
                f"over the {len(SEEDS)} seeds (wide with three).", False)

    # -- keys ------------------------------------------------------------------------------------

    def say(self, note: str) -> None:
        self.note = ui_words(note)
        self.redraw()

    @work(exclusive=True, group="compare")
    async def action_compare(self) -> None:
        if any(run.running for run in self.owned_runs()):
            self.say(hint("The comparison is still going: {BackboneCompare.cancel_compare} cancels it."))
            return
        if not await self.ready():
            return
        if not self.backbones():
            self.say("The worker has pretrained weights for no backbone: nothing to compare.")
            return
        self.runs, self.note = {}, ""
        for model, arm, seed in self.planned():
            run = await self.start_run(arm_config(model, arm, seed), "The comparison did not start")
            if run is None:  # the ones started go, so that no half comparison is drawn
                await self.cancel_runs()
                self.runs = {}
                return
            self.runs[f"{model}|{arm}|{seed}"] = run.run_id
            self.redraw()
        self.keep(self.runs)
