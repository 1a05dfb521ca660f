"""One run, live: its curves, progress, each group's LR, and how it ended (results or the reason)."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tltui.core import diagnosis
from tltui.core.formatting import bar, duration, lrs
from tltui.core.protocol.events import Diagnosis, ErrorAnalysis, Failed, Finished
from tltui.ui.base import theme
from tltui.ui.keys import bindings, hint
from tltui.ui.run_model import RunModel
from tltui.ui.widgets.errors_view import ErrorsView, balanced, confused_line, interval
from tltui.ui.widgets.run_chart import RunChart


def results(finished: Finished, app: App) -> Group:
    """Best accuracy (with its interval and the analysis's summary when the run has one), per-class
    accuracy (recall) as bars with each class's support, and the confusion matrix as a grid shaded in the
    theme's success (diagonal, also bold) and error colours by each cell's share of its row."""
    classes = finished.classes
    width = min(max((len(c) for c in classes), default=4), 12)
    good, bad = theme.hex_style(app, "success"), theme.hex_style(app, "error")
    head = Text.assemble(
        ("best validation accuracy ", "bold"), (f"{finished.best_val_acc:.1%}", f"bold {good}"),
        f" at epoch {finished.best_epoch}  ({duration(finished.elapsed)}, path {finished.path})",
    )
    analysis = finished.analysis
    support = {c.name: c.support for c in analysis.per_class} if analysis else {}
    per_class = Table.grid(padding=(0, 1))
    for name in classes:
        acc = finished.per_class_acc.get(name, 0.0)
        per_class.add_row(name[:width], Text(bar(acc, 12 if not support else 10), style=good if acc >= 0.5 else bad),
                          f"{acc:4.0%}", *((Text(f"{support.get(name, 0)}", style="dim"),) if support else ()))
    grid = Text()
    grid.append(" " * (width + 1) + "".join(f"{j:>3}" for j in range(len(classes))) + "\n", "dim")
    for i, (name, row) in enumerate(zip(classes, finished.confusion, strict=False)):
        total = max(sum(row), 1)
        grid.append(f"{name[:width]:>{width}} ")
        for j, count in enumerate(row):
            shade = theme.hex_style(app, "success" if i == j else "error", 0.25 + 0.6 * count / total)
            bold = "bold " if i == j else ""
            grid.append(f"{count:>3}", style=f"{bold}on {shade}" if count else "dim")
        grid.append("\n")
    layout = Table.grid(padding=(0, 3))
    layout.add_row(Text("per class" + (" (recall, support)" if support else ""), "bold"),
                   Text("confusion: rows true, columns predicted", "bold"))
    layout.add_row(per_class, grid)
    if analysis is None:
        return Group(head, Text(""), layout)
    return Group(head, interval(analysis), *balanced(analysis), confused_line(analysis),
                 Text("e: the top losses, image by image", style="dim"), Text(""), layout)


class RunView(Vertical, can_focus=True):
    """Shows a RunModel; call ``show`` when it changes. ``m`` flips between curves and results."""

    DEFAULT_CSS = """
    RunView {
        height: 1fr;
        & > #heading { height: 1; padding: 0 1; text-style: bold; }
        & > #results { height: 1fr; padding: 0 1; display: none; overflow-y: auto; }
        & > #progress, & > #lrs { height: 1; padding: 0 1; color: $text-muted; }
        & > #ending { height: auto; padding: 0 1; margin: 0 1; display: none; }
        & > #ending.-failed { border: round $error; display: block; }
        & > #ending.-note { border: round $warning; display: block; }
        & > ErrorsView { display: none; }
        &.-results > RunChart { display: none; }
        &.-results > #results { display: block; }
        &.-errors > RunChart, &.-errors > #results { display: none; }
        &.-errors > ErrorsView { display: block; }
    }
    """

    HELP_TITLE = "A run (training and runs screens)"
    BINDINGS = bindings("RunView")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run: RunModel | None = None
        self._shown_end: Finished | Diagnosis | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="heading")
        yield RunChart()
        yield Static(id="results")
        yield ErrorsView()
        yield Static(id="progress")
        yield Static(id="lrs")
        yield Static(id="ending")

    def show(self, run: RunModel | None, empty_text: str = "start a run") -> None:
        if run is not self.run:  # nothing of the last run stays on screen
            self._shown_end = None
            self.remove_class("-results", "-errors")
            self.refresh_bindings()
            self.query_one("#results", Static).update("")
            self.query_one("#ending", Static).set_classes("")
        self.run = run
        chart = self.query_one(RunChart)
        heading = self.query_one("#heading", Static)
        if run is None:
            heading.update("")
            chart.show([], empty_text)
            self._line("#progress", "")
            self._line("#lrs", "")
            return
        heading.update(Text(f"{run.run_id}  {run.label}  [{run.status}]"))
        chart.show([(run.label, run)], "a diagnosis measures folds, not epochs: its table comes at its end"
                   if run.is_diagnosis else "waiting for the first epoch")
        self._progress(run)
        last = run.epochs[-1] if run.epochs else None
        self._line("#lrs", f"lr  {lrs(last.lrs) or 'none: the probe is one fit'}" if last else "")
        self._ending(run)

    def _line(self, selector: str, text: str) -> None:
        self.query_one(selector, Static).update(Text(text))

    def _progress(self, run: RunModel) -> None:
        epochs = run.config.epochs if run.config else 0
        if run.is_diagnosis and run.running and run.measured:
            m = run.measured[-1]
            text = (f"fold {m.fold}/{m.folds} {bar(m.fold / max(m.folds, 1))} · {diagnosis.label(m.strategy)} "
                    f"{m.acc:.0%} · ETA {duration(m.eta)}")
        elif isinstance(run.end, Diagnosis):
            text = f"{run.status} · start from --preset {run.end.recommend}"
        elif run.progress:
            p = run.progress
            fraction = (p.epoch - 1 + p.step / max(p.steps, 1)) / max(epochs, 1)
            text = (f"epoch {p.epoch}/{epochs} {bar(fraction)} {fraction:.0%} · {p.images_per_s:.0f} img/s "
                    f"· ETA {duration(p.eta)}")
        elif run.running and run.epochs:
            e = run.epochs[-1]
            text = (f"epoch {e.epoch}/{epochs} {bar(e.epoch / max(epochs, 1))} · {e.images_per_s:.0f} img/s "
                    f"· ETA {duration(e.eta)}")
        elif run.running:
            text = "preparing data and model…" if run.started is None else "first batches…"
        else:
            best = run.best
            text = f"{run.status}" + (f" · best val acc {best.val_acc:.1%} at epoch {best.epoch}" if best else "")
        if run.started and run.started.world_size > 1:
            text += f" · {run.started.world_size} processes"
        self._line("#progress", text)

    def _ending(self, run: RunModel) -> None:
        ending = self.query_one("#ending", Static)
        ending.set_classes("")
        if isinstance(run.end, Failed):
            ending.add_class("-failed")
            ending.border_title = "run failed"
            ending.update(Text(run.end.reason + (f"\nWhat to change: {run.end.hint}" if run.end.hint else "")))
        elif run.lost:
            ending.add_class("-note")
            ending.border_title = "worker lost"
            ending.update(Text(hint(f"The worker stopped during this run ({run.lost}). The curve shows what was "
                                    "measured until then. Press {TutorApp.restart_worker} to restart the worker.")))
        if isinstance(run.end, (Finished, Diagnosis)) and run.end is not self._shown_end:
            self._shown_end = run.end
            self.refresh_bindings()
            shown = results(run.end, self.app) if isinstance(run.end, Finished) else \
                Text("\n".join(diagnosis.lines(run.end)).strip("\n"))
            self.query_one("#results", Static).update(shown)
            self.add_class("-results")

    @property
    def analysis(self) -> ErrorAnalysis | None:
        """The error analysis of the run shown, once it has finished with one."""
        return self.run.end.analysis if self.run and isinstance(self.run.end, Finished) else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "toggle_errors":
            return self.analysis is not None
        if action == "loss":
            return self.has_class("-errors")
        if action == "toggle_results":
            return self.run is not None
        return True

    def action_toggle_errors(self) -> None:
        analysis, run = self.analysis, self.run
        if analysis is None or run is None:  # (an analysis is of a run)
            return
        if self.has_class("-errors"):
            self.remove_class("-errors")
        else:
            self.query_one(ErrorsView).show(run.run_id, analysis)
            self.add_class("-errors")
        self.refresh_bindings()

    def action_loss(self, delta: int) -> None:
        self.query_one(ErrorsView).step(delta)

    def action_toggle_results(self) -> None:
        from_errors = self.has_class("-errors")
        self.remove_class("-errors")
        self.refresh_bindings()
        if self.run and isinstance(self.run.end, (Finished, Diagnosis)):
            self.set_class(from_errors or not self.has_class("-results"), "-results")
        elif self.run and self.run.running:
            self.notify("Results (per class, confusion) come when the run finishes.", timeout=4)
        else:
            self.notify("No results: " + ("the run did not finish." if self.run else "no run yet."), timeout=4)

    def action_toggle_metric(self) -> None:
        self.remove_class("-results", "-errors")
        self.refresh_bindings()
        self.query_one(RunChart).toggle_metric()
