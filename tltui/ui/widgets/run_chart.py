"""Training curves of one or several runs, drawn with plotext, redrawn at most 10 times a second and
only when something changed (no timer runs while nothing does, shown or hidden)."""

from __future__ import annotations

from typing import Any, Literal

from textual.timer import Timer
from textual_plotext import PlotextPlot

from tltui.ui.base import theme
from tltui.ui.run_model import RunModel

Metric = Literal["acc", "loss"]
REDRAW_S = 0.1


class RunChart(PlotextPlot):
    """Validation curves (and, for a single run, the training curve with sub-epoch points)."""

    DEFAULT_CSS = """
    RunChart { height: 1fr; min-height: 8; }
    """

    def __init__(self, metric: Metric = "acc", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metric: Metric = metric
        self.series: list[tuple[str, RunModel]] = []
        self.empty_text = "no run yet"
        self._redraw: Timer | None = None
        """The redraw to come, while a change waits for it."""

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._changed())
        self._changed()

    def show(self, series: list[tuple[str, RunModel]], empty_text: str | None = None) -> None:
        """Draw these (label, run) pairs; call again whenever a run changes (redraws are batched)."""
        self.series = series
        if empty_text is not None:
            self.empty_text = empty_text
        self._changed()

    @property
    def drawn(self) -> bool:
        """True once the latest ``show`` has been drawn."""
        return self._redraw is None and self.is_mounted

    def toggle_metric(self) -> Metric:
        self.metric = "loss" if self.metric == "acc" else "acc"
        self._changed()
        return self.metric

    def _changed(self) -> None:
        """Redraw in REDRAW_S: the changes until then are drawn together."""
        if self._redraw is None and self.is_running:
            self._redraw = self.set_timer(REDRAW_S, self._draw_now)

    def _draw_now(self) -> None:
        self._redraw = None
        self.draw()
        self.refresh()

    def draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        name = "accuracy" if self.metric == "acc" else "loss"
        plt.xlabel("epoch")
        plotted = False
        epochs = 1
        for i, (label, run) in enumerate(self.series):
            colour = theme.rgb(self.app, theme.SERIES[i % len(theme.SERIES)])
            marker = theme.MARKERS[i % len(theme.MARKERS)]
            curves = run.curves()
            train = curves.train_acc if self.metric == "acc" else curves.train_loss
            val = curves.val_acc if self.metric == "acc" else curves.val_loss
            if run.config:
                epochs = max(epochs, run.config.epochs)
            if len(self.series) == 1 and train:
                plt.plot(*zip(*train, strict=True), label=f"train {name}",
                         color=theme.rgb(self.app, "foreground-darken-2"), marker="dot")
                plotted = True
            if val:
                prefix = "val " if len(self.series) == 1 else ""
                plt.plot(*zip(*val, strict=True), label=f"{prefix}{label}", color=colour, marker=marker)
                plotted = True
        plt.xlim(0, epochs)
        if self.metric == "acc":
            plt.ylim(0, 1)
        plt.title(f"validation {name}" + ("" if plotted else f": {self.empty_text}"))
