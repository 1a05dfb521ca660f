"""Real experiments behind a lesson widget's questions: runs of the worker, started by a key, kept by name
in the progress file, and drawn as measured, never as predicted.

The quadrant quiz and the checks of understanding show them in an ``Experiment`` stage; the recipes come
from ``quiz_check.EXPERIMENTS``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from tltui.core.client import WorkerError
from tltui.core.formatting import ui_words
from tltui.core.protocol.events import Failed
from tltui.ui.base.run_owner import RunOwner
from tltui.ui.content.check_runs import EXPERIMENTS, check_backbone, check_runs
from tltui.ui.run_model import RunModel
from tltui.ui.widgets.run_chart import RunChart


class Experiment(RunOwner, Vertical):
    """A stage of the quiz or a check: the real runs of one experiment, their curves and a line each of
    what they measured so far, or why nothing is measured. ``runs`` holds, by experiment name, the
    [arm label, run id] of its latest runs; ``Started`` tells the widget that keeps them in the progress
    file that they changed."""

    STARTS_WORKER = False

    DEFAULT_CSS = """
    Experiment {
        .-measured { height: auto; }
        .-caveat { height: auto; color: $text-muted; }
    }
    """

    @dataclass
    class Started(Message):
        """An experiment's runs started (or were refused): ``runs`` changed."""

        experiment: Experiment

    def __init__(self, prefix: str, caveat: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefix = prefix
        """Of the ids of the lines: ``<prefix>-measured``, ``<prefix>-caveat``."""
        self.caveat = caveat
        self.runs: dict[str, list[list[str]]] = {}
        self.refused: dict[str, str] = {}
        """Experiment name -> why the worker did not start it (shown where its curves would be)."""
        self.shown = ""
        """The name of the experiment shown."""

    def compose(self) -> ComposeResult:
        yield RunChart()
        yield Static(id=f"{self.prefix}-measured", classes="-measured")
        if self.caveat:
            yield Static(id=f"{self.prefix}-caveat", classes="-caveat")

    def restore(self, saved: dict) -> None:
        """Take the runs of earlier sessions (those of experiments that still exist) and load them."""
        self.runs = {name: runs for name, runs in saved.items() if name in EXPERIMENTS}
        if self.runs:
            self._load()

    @work(group="experiment-load")
    async def _load(self) -> None:
        """Bring back the runs of earlier sessions from the worker's run store."""
        for name, runs in list(self.runs.items()):
            for _, run_id in runs:
                try:
                    await self.app.link.load(run_id)
                except WorkerError:  # gone from the run store, or no worker: run it again
                    self.runs.pop(name, None)
                    break
        self.draw()

    def models(self, name: str) -> list[tuple[str, RunModel]]:
        """(arm label, run) of experiment ``name``'s latest runs that the link knows."""
        runs = self.app.link.runs
        return [(label, runs[run_id]) for label, run_id in self.runs.get(name, []) if run_id in runs]

    def run_ids(self) -> Collection[str]:
        return [run_id for _, run_id in self.runs.get(self.shown, [])]

    def worker_changed(self) -> None:
        self.draw()

    def runs_changed(self) -> None:
        self.draw()

    def show(self, name: str, caveat: str = "") -> None:
        """Show experiment ``name`` (with a line about what it checks)."""
        self.shown = name
        if self.caveat:
            self.query_one(".-caveat", Static).update(caveat)
        self.draw()

    def run(self, name: str) -> None:
        """Start ``name``'s runs unless they are going or finished (then they are only shown again)."""
        self.shown = name
        models = self.models(name)
        if not models or any(not run.running and run.status != "finished" for _, run in models):
            self._start(name)

    @work(exclusive=True, group="experiment")
    async def _start(self, name: str) -> None:
        link = self.app.link
        self.runs.pop(name, None)
        self.refused.pop(name, None)
        self.draw()
        try:
            await link.ready()
        except WorkerError:
            return  # the drawing says the worker stopped
        backbone = check_backbone(link.capabilities)
        if not backbone:
            self.draw()  # says why nothing is measured
            return
        started: list[list[str]] = []
        try:
            for label, config in check_runs(name, backbone):
                run = await link.start_run(config)
                started.append([label, run.run_id])
        except WorkerError as error:
            self.refused[name] = ui_words(f"The worker refused the runs: {error}")
        self.runs[name] = started
        self.post_message(self.Started(self))
        self.draw()

    def draw(self) -> None:
        """The chart and the lines of what was measured so far, or why nothing is (while shown)."""
        if not self.display or not self.shown:
            return
        link = self.app.link
        chart, measured = self.query_one(RunChart), self.query_one(".-measured", Static)
        models = self.models(self.shown)
        caps = link.capabilities
        if link.state == "gone":
            chart.show([], "no worker")
            measured.update(f"The worker stopped: {escape(link.error)}. W restarts it; then e twice runs it again.")
        elif link.state != "ready" or caps is None:  # (ready: the hello brought its capabilities)
            chart.show([], "waiting for the worker")
            measured.update("The worker is starting (it loads torch)…")
        elif not check_backbone(caps):
            chart.show([], "nothing measured")
            measured.update("This worker has no pretrained weights (neither the tiny backbone's nor ImageNet's in "
                            f"{escape(caps.weights_dir)}): nothing to measure, so no curve is drawn.")
        elif not models:
            refused = self.refused.get(self.shown, "")
            chart.show([], "nothing measured" if refused else "starting the runs")
            measured.update(escape(refused) if refused else "Starting the runs…")
        else:
            chart.show(models)
            config, started = models[0][1].config, models[0][1].started
            assert config is not None  # the widget's own runs: start_run gave each model its config
            weights = started.weights if started else config.weights
            shuffled = ", labels shuffled" if config.shuffle_labels else ""
            images = f"{config.limit_per_class} per class" if config.limit_per_class else "every image"
            seeds = sorted({run.config.seed for _, run in models if run.config})
            seed = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]} to {seeds[-1]}"
            head = (f"[b]Measured[/] on {config.data}, {images}{shuffled}, {seed}: {config.model}, "
                    f"weights {escape(weights)}")
            measured.update("\n".join([head, *(f"  {escape(label)}: {run_state(run)}" for label, run in models)]))


def arms(name: str) -> str:
    """The arms of experiment ``name``, for a line that offers to run it."""
    return " vs ".join(label for label, _ in EXPERIMENTS[name][2])


def verdict(right: bool, chosen: str, best: str, also: list[str], text: Callable[[str], str] = escape) -> str:
    """One line: the learner's answer, right or not, and the answer key's (``text`` turns an option into
    markup): where several answers count, ``best`` is the one the key prefers."""
    if not right:
        return f"[red]✗[/] {text(chosen)}: the answer is [b]{text(best)}[/]" + (
            f" (also right: {text(', '.join(also))})" if also else "")
    if chosen == best:
        return f"[green]✓[/] {text(chosen)}: right"
    return f"[green]✓[/] {text(chosen)}: right too, though the answer key prefers [b]{text(best)}[/]"


def run_state(run: RunModel) -> str:
    """What is measured so far, never what is expected."""
    if isinstance(run.end, Failed):
        return f"failed: {escape(run.end.reason)}"
    if run.lost:
        return f"interrupted: {escape(run.lost)}"
    best, config = run.best, run.config
    if best is None:  # no epoch yet
        return "queued" if run.started is None else "starting"
    last = run.epochs[-1]
    text = (f"best val {best.val_acc:.0%} (epoch {best.epoch}), train {last.train_acc:.0%} and val "
            f"{last.val_acc:.0%} at epoch {last.epoch}")
    return text if run.end or config is None else f"epoch {last.epoch}/{config.epochs}: {text}"
