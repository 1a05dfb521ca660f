"""How many shuffled labels a linear probe memorises (lesson 3), measured by the worker.

``r`` asks the worker for a capacity sweep (a ``Capacity`` short job, engine/capacity.py): the frozen
backbone's pooled features of the built-in images, their labels shuffled, a probe fitted on the first n
for n around d + 1, beside Gaussian features of the same dimension. The chart draws both training
accuracies against n, with d + 1 and chance marked; one line says where memorisation stopped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.content import Content
from textual.message import Message
from textual.widgets import Static
from textual_plotext import PlotextPlot

from tltui.core.client import WorkerError
from tltui.core.formatting import ui_words
from tltui.core.protocol.messages import Working
from tltui.core.protocol.replies import CapacityReply
from tltui.core.protocol.requests import Capacity
from tltui.ui.base import backbones, theme
from tltui.ui.base.frame import LiveFrame, StatusLine
from tltui.ui.keys import bindings, hint

MEMORISED = 0.99
"""Training accuracy from which the labels count as memorised."""


class CapacityChart(PlotextPlot):
    """Training accuracy against n (log scale) for the real and the Gaussian features, a vertical line at
    d + 1 and a horizontal one at chance; ``legend`` says which is which (plotext's own legend box would
    hide the curves' first points, at 100%)."""

    DEFAULT_CSS = """
    CapacityChart { height: 1fr; min-height: 10; }
    """

    #: The plotext markers the two curves are drawn with, as they look in the terminal.
    GLYPHS = ("▞▞", "⢕⢕")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reply: CapacityReply | None = None

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.show(self.reply))
        self.show(None)

    def show(self, reply: CapacityReply | None) -> None:
        self.reply = reply
        plt = self.plt
        plt.clear_figure()
        plt.ylim(0, 1.05)
        plt.yticks([0, 0.25, 0.5, 0.75, 1], ["0%", "25%", "50%", "75%", "100%"])
        if reply is None:
            plt.title(hint("training accuracy on shuffled labels: press {CapacitySweep.measure} to measure it"))
            self.refresh()
            return
        xs = [math.log2(p.n) for p in reply.points]
        for i, ys in enumerate(([p.real for p in reply.points], [p.gaussian for p in reply.points])):
            plt.plot(xs, ys, color=theme.rgb(self.app, theme.SERIES[i]), marker=theme.MARKERS[i])
        mark = math.log2(reply.dim + 1)
        plt.vline(mark, color=theme.rgb(self.app, "warning"))
        plt.hline(reply.chance, color=theme.rgb(self.app, "foreground-darken-2"))
        ticks = spaced([p.n for p in reply.points])
        plt.xticks([math.log2(n) for n in ticks], [str(n) for n in ticks])
        plt.xlim(min(xs[0], mark) - 0.2, max(xs[-1], mark) + 0.2)
        plt.xlabel("images n (log scale)")
        plt.title(f"training accuracy on shuffled labels, measured here · d = {reply.dim}")
        self.refresh()

    @classmethod
    def legend(cls, reply: CapacityReply | None) -> Content:
        """The key to the chart, in the colours it is drawn in."""
        if reply is None:
            return Content("")
        return Content.assemble(
            (f"{cls.GLYPHS[0]} ", f"${theme.SERIES[0]}"), f"{reply.model} features  ",
            (f"{cls.GLYPHS[1]} ", f"${theme.SERIES[1]}"), "Gaussian  ",
            ("│ ", "$warning"), f"d+1 = {reply.dim + 1}  ",
            ("─ ", "$foreground-darken-2"), f"chance {reply.chance:.0%}",
        )


def spaced(sizes: list[int], gap: float = 0.7) -> list[int]:
    """The sizes to label on a log2 axis: from the smallest, each at least ``gap`` octaves from the last
    (the largest always), so that labels do not run into each other at 80 columns."""
    ticks: list[int] = []
    for n in sizes:
        if not ticks or math.log2(n / ticks[-1]) >= gap:
            ticks.append(n)
    if ticks[-1] != sizes[-1]:
        ticks[-1] = sizes[-1]
    return ticks


def memorised_up_to(ns: list[int], accuracies: list[float]) -> int:
    """The largest n up to which every probe was at least ``MEMORISED`` accurate; 0 if the first was not."""
    last = 0
    for n, accuracy in zip(ns, accuracies, strict=True):
        if accuracy < MEMORISED:
            break
        last = n
    return last


def conclusion(reply: CapacityReply) -> str:
    """What the sweep shows, in one line."""
    ns = [p.n for p in reply.points]
    real = memorised_up_to(ns, [p.real for p in reply.points])
    gaussian = memorised_up_to(ns, [p.gaussian for p in reply.points])
    stop = {0: "at no n measured", ns[-1]: f"at every n measured (to {ns[-1]})"}
    real_text, gaussian_text = (stop.get(n, f"up to n = {n}") for n in (real, gaussian))
    return (f"Memorised (≥{MEMORISED:.0%}) {real_text} with real features, {gaussian_text} with Gaussian ones: "
            f"{reply.effective_rank} of the real features' {reply.dim} directions hold 99% of the variance "
            f"(Gaussian: {reply.gaussian_rank}).")


class CapacitySweep(LiveFrame):
    """``r`` measures how many shuffled labels a linear probe memorises; ``b`` switches the backbone."""

    DEFAULT_CSS = """
    CapacitySweep {
        height: 22;
        #capacity-legend { height: 1; padding: 0 1; }
        #capacity-status { padding: 0 1; }
    }
    """

    HELP_TITLE = "Memorising shuffled labels"
    BINDINGS = bindings("CapacitySweep")

    @dataclass
    class Measured(Message):
        """A sweep came back from the worker and is drawn."""

        sweep: CapacitySweep
        reply: CapacityReply

    def __init__(self, data: str = "builtin", **_options: str) -> None:
        super().__init__()
        self.data = data.strip() or "builtin"
        self.picked = "tiny"
        """The tiny backbone (d = 128: the sweep crosses d + 1 on the built-in images) until ``b``."""
        self.reply: CapacityReply | None = None
        self.progress = ""
        self.note = ""
        self.sweeping = False
        """Whether a sweep is on its way (r waits for it)."""

    def compose(self) -> ComposeResult:
        yield CapacityChart()
        yield Static(id="capacity-legend")
        yield StatusLine(id="capacity-status")

    def on_mount(self) -> None:
        self.border_title = "Memorising shuffled labels (measured by the worker)"
        self.border_subtitle = hint("focus with tab · {CapacitySweep.measure} measure · "
                                    "{CapacitySweep.backbone} backbone")
        self.app.worker_signal.subscribe(self, self._refresh)  # (a signal: let go with the lesson, see release)
        self._refresh()

    def say(self, note: str) -> None:
        self.note = ui_words(note)
        self._refresh()

    def _refresh(self, *_state: object) -> None:
        self.query_one(StatusLine).say(*self._status())

    def _status(self) -> tuple[str, bool]:
        """The status line, and whether it says why the sweep did not run."""
        link = self.app.link
        if self.note:
            return self.note, True
        if link.state == "gone":
            return hint(f"The worker stopped: {link.error}. Press {{TutorApp.restart_worker}} to restart it."), False
        if self.progress:
            return self.progress, False
        if self.reply is not None:
            notes = "".join(f" ({note})" for note in self.reply.notes)
            return conclusion(self.reply) + notes, False
        return (f"r fits a linear probe to shuffled labels of the first n {self.data} images, n around d + 1, on "
                f"{self.picked}'s frozen features and on Gaussian ones. b switches the backbone."), False

    def action_backbone(self) -> None:
        model = backbones.other(self.picked)
        refusal = backbones.refusal(self.app.link, model) if self.app.link.capabilities else ""
        if refusal:
            self.say(refusal)
            return
        self.picked, self.note = model, ""
        self._refresh()

    def action_measure(self) -> None:
        if self.sweeping:
            self.notify("The sweep is running: the widget's last line says how far.", timeout=3)
            return
        self._measure(Capacity(model=self.picked, data=self.data))

    @work(exclusive=True, group="capacity")
    async def _measure(self, request: Capacity) -> None:
        def working(message: Working) -> None:
            if self.is_mounted:
                self.progress = f"measuring: {message.done}/{message.total} · {message.text}"
                self._refresh()

        self.sweeping, self.note = True, ""
        self.progress = "asking the worker (it loads torch the first time)…"
        self._refresh()
        try:
            reply = await self.app.link.request(request, working)
        except WorkerError as error:
            self.progress = ""
            self.say(f"The sweep did not run: {error}")
            return
        finally:
            self.sweeping = False
        self.reply, self.progress = reply, ""
        self.query_one(CapacityChart).show(reply)
        self.query_one("#capacity-legend", Static).update(CapacityChart.legend(reply))
        self._refresh()
        self.post_message(self.Measured(self, reply))
