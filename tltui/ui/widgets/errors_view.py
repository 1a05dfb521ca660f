"""A finished run's errors, one top loss at a time: the image in half blocks (the worker draws it from the
validation set), its file, true and predicted class, and beside it the accuracy's interval and the most
confused pairs. ``RunView`` holds it and binds the keys that browse."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

from tltui.core.analysis import short_path
from tltui.core.client import WorkerError
from tltui.core.protocol.events import ErrorAnalysis
from tltui.core.protocol.replies import Picture
from tltui.core.protocol.requests import LossPictures
from tltui.ui.base.pictures import PictureView

if TYPE_CHECKING:
    from tltui.ui.host import Tutor

PICTURE_PX = 32
"""The side the worker draws each picture at; shown at most this big, smaller where height is short."""
MIN_SIDE = 8


def interval(analysis: ErrorAnalysis) -> Text:
    a = analysis
    return Text(f"val accuracy {a.accuracy:.1%} ({a.correct}/{a.total}) · 95% interval {a.low:.1%}–{a.high:.1%} "
                "(Wilson score)")


def balanced(analysis: ErrorAnalysis) -> list[Text]:
    if analysis.balanced_accuracy is None:
        return []
    return [Text(f"balanced accuracy {analysis.balanced_accuracy:.1%} (mean recall: the classes are imbalanced)")]


def confused_line(analysis: ErrorAnalysis) -> Text:
    """The most confused pairs on one line, cut off where the width ends."""
    if not analysis.confused:
        return Text("no validation image was predicted wrong")
    pairs = " · ".join(f"{c.true} → {c.predicted} {c.count}" for c in analysis.confused)
    return Text(f"most confused: {pairs}", no_wrap=True, overflow="ellipsis")


class ErrorsView(Horizontal):
    """The top losses of one run's analysis; ``show`` it, ``step`` through it."""

    DEFAULT_CSS = """
    ErrorsView {
        height: 1fr;
        padding: 0 1;
        & > PictureView { margin-right: 2; }
        & > #loss-text { width: 1fr; }
    }
    """

    app: Tutor
    index: reactive[int] = reactive(0, init=False)
    """Which top loss is shown, 0 the highest."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.run_id = ""
        self.analysis: ErrorAnalysis | None = None
        self.pictures: list[Picture] = []
        self.problem = ""
        """Why the pictures did not come (the worker refused, or has gone)."""

    def compose(self) -> ComposeResult:
        yield PictureView(PICTURE_PX, id="loss-picture")
        yield Static(id="loss-text")

    def show(self, run_id: str, analysis: ErrorAnalysis) -> None:
        """Show ``run_id``'s analysis from its highest loss; its pictures are asked for once per run (again
        if they did not come)."""
        if run_id == self.run_id and analysis is self.analysis and not self.problem:
            return
        self.run_id, self.analysis = run_id, analysis
        self.pictures, self.problem = [], ""
        self.index = 0
        self._draw()
        if analysis.top_losses:
            self._load(run_id)

    def step(self, delta: int) -> None:
        """The next (``delta`` 1) or previous (-1) top loss, wrapping round."""
        if self.analysis and self.analysis.top_losses:
            self.index = (self.index + delta) % len(self.analysis.top_losses)

    def watch_index(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._draw()

    @work(exclusive=True, group="loss-pictures")
    async def _load(self, run_id: str) -> None:
        try:
            reply = await self.app.link.request(LossPictures(run_id=run_id, display=PICTURE_PX))
        except WorkerError as error:
            if run_id == self.run_id:
                self.problem = str(error)
                self._draw()
            return
        if run_id == self.run_id:
            self.pictures = reply.pictures
            self._draw()

    def _side(self) -> int:
        """The picture's side in pixels: as big as fits the height (a row is two pixels, one is the caption)."""
        rows = max(self.size.height - 1, MIN_SIDE // 2)
        return max(MIN_SIDE, min(PICTURE_PX, 2 * rows))

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        view = self.query_one("#loss-picture", PictureView)
        text = self.query_one("#loss-text", Static)
        analysis = self.analysis
        tops = analysis.top_losses if analysis else []
        side = self._side()
        view.styles.width, view.styles.height = side, side // 2 + 1
        if analysis is None or not tops:
            view.display = False
            text.update(Group(interval(analysis), *balanced(analysis), confused_line(analysis)) if analysis else "")
            return
        view.display = True
        top = tops[self.index]
        if self.index < len(self.pictures):
            view.show_picture(self.pictures[self.index], side)
        else:
            view.show(None, "the worker draws it…" if not self.problem else "no picture")
        width = max(text.size.width, 20)
        lines = [
            Text.assemble((f"top loss {self.index + 1} of {len(tops)}", "bold"), ("  ← → browse", "dim")),
            Text(short_path(top.path, width), no_wrap=True, overflow="ellipsis"),
            Text.assemble("true ", (top.true, "bold"), ", predicted ", (top.predicted, "bold"),
                          f" (p {top.probability:.0%})"),
            Text(f"p(true) {top.true_probability:.1%} · loss {top.loss:.2f}", style="dim"),
            Text(""),
            interval(analysis),
            *balanced(analysis),
            Text("most confused (true → predicted)" if analysis.confused else "", style="bold"),
            *(Text(f"  {c.true} → {c.predicted}  {c.count}", no_wrap=True, overflow="ellipsis")
              for c in analysis.confused),
        ]
        if self.problem:
            lines.append(Text(f"pictures: {self.problem}", style="dim"))
        text.update(Group(*lines))
