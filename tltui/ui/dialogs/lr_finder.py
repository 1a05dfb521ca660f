"""The LR finder over the tutor: the range test of a setting, run by the worker, drawn when it is done.

Opened with ``F`` from the training screen (the form's setting) or the LR cascade (its setting). It asks
the worker (a FindLr short job), shows the sweep's progress, then the smoothed loss against the LR with
the suggestion marked; ``a`` closes it with the suggestion, which the opener puts into its LR.
"""

from __future__ import annotations

import math

from textual import work
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tltui.core.client import WorkerError
from tltui.core.protocol.config import RunConfig
from tltui.core.protocol.messages import Working
from tltui.core.protocol.replies import LrFound
from tltui.core.protocol.requests import FindLr
from tltui.ui.base.frame import Dialog
from tltui.ui.keys import bindings, hint

RULE = "steepest: where the loss falls fastest"


class LrCurve(PlotextPlot):
    """Smoothed loss against log10 of the head's LR, a line at the suggestion."""

    def show(self, found: LrFound) -> None:
        plt = self.plt
        plt.clear_figure()
        xs = [math.log10(lr) for lr, _ in found.curve]
        ys = [loss for _, loss in found.curve]
        accent = Color.parse(self.app.theme_variables["accent"]).rgb
        plt.plot(xs, ys, marker="braille", color=accent)
        mark = math.log10(found.suggested_lr)
        plt.vline(mark, color=Color.parse(self.app.theme_variables["warning"]).rgb)
        ticks = list(range(math.floor(min(xs)), math.ceil(max(xs)) + 1))
        plt.xticks([float(t) for t in ticks], [f"1e{t}" for t in ticks])
        plt.xlabel("head LR (log)")
        plt.title(f"loss while the LR grows · {found.rule} {found.suggested_lr:.1e}")
        self.refresh()


class LrFinderScreen(Dialog[float | None]):
    """The range test of ``config``; dismissed with the suggested LR (``a``) or None (``escape``)."""

    HELP_TITLE = hint("LR finder ({TrainScreen.find_lr} on the training screen and {LrCascade.find_lr} in the LR "
                      "cascade)")
    DEFAULT_CSS = """
    LrFinderScreen {
        #finder { height: 20; }
        LrCurve { height: 1fr; }
        #finder-status { height: 2; padding: 0 1; }
    }
    """
    BINDINGS = bindings("LrFinderScreen")

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config
        self.found: LrFound | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="finder", classes="dialog") as box:
            box.border_title = "LR range test (Smith 2017)"
            box.border_subtitle = hint("{LrFinderScreen.use_it} use it · {LrFinderScreen.close} close")
            yield LrCurve()
            yield Static(f"asking the worker to sweep {self.config.model} on {self.config.data}…", id="finder-status")

    def on_mount(self) -> None:
        self.find()

    def status(self, text: str) -> None:
        self.query_one("#finder-status", Static).update(Content(text))

    @work(exclusive=True)
    async def find(self) -> None:
        def working(message: Working) -> None:
            if self.is_mounted:
                self.status(f"sweeping: step {message.done}/{message.total} · {message.text}")

        try:
            found = await self.app.link.request(FindLr(config=self.config), working)
        except WorkerError as error:
            self.status(f"✗ the finder could not run: {error}")
            return
        self.found = found
        self.query_one(LrCurve).show(found)
        stopped = f" · stopped: {found.stopped}" if found.stopped else ""
        if found.warnings:
            self.notify(found.warnings[0], title="flips", severity="warning", timeout=12)
        self.status(f"suggested LR {found.suggested_lr:.2g} ({RULE}); valley {found.valley_lr:.2g}{stopped}\n"
                    "a: use it · esc: keep the LR you had")

    def action_apply(self) -> None:
        if self.found is None:
            self.notify("The sweep is not done yet.", timeout=2)
            return
        self.dismiss(self.found.suggested_lr)

    def action_close(self) -> None:
        self.dismiss(None)
