"""A run config as plain PyTorch code: ``tltui.core.codegen``'s script for a RunConfig, highlighted,
scrolled to the part that matters to its owner, and written to a file on request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.highlight import highlight
from textual.widgets import Static

from tltui.core.codegen import generate
from tltui.core.files import UnsafePath, write_atomic
from tltui.core.paths import data_dir, private_data_dir
from tltui.core.protocol.config import RunConfig


class CodeView(VerticalScroll, can_focus=False):
    """The PyTorch script of a RunConfig; ``write`` saves it as ``tltui_<stem>.py`` in the data dir. It takes
    no focus of its own (a second, unlit tab stop inside its widget): the widget that shows it scrolls it
    (``page``)."""

    DEFAULT_CSS = """
    CodeView {
        height: 1fr;
        scrollbar-size: 1 1;
        & > Static { width: auto; }
    }
    """

    def __init__(self, stem: str, anchor: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stem = stem
        self.anchor_text = anchor
        """Text of the line to scroll to whenever the code changes or is shown (not ``anchor``: Textual's
        ``Widget.anchor`` is a method)."""
        self.code = ""
        self.problem = ""
        self._anchor_line = 0
        self._drawn = ""
        """The code the Static shows: highlighting is put off while the view is hidden (Pygments took about
        50 ms of every freeze-board key, for a code view nobody was looking at)."""

    def compose(self) -> ComposeResult:
        yield Static()

    @property
    def path(self) -> Path:
        return data_dir() / f"tltui_{self.stem}.py"

    def show(self, config: RunConfig, problem: str = "") -> None:
        """The code of ``config``; with a ``problem`` (it cannot run), that instead."""
        code = f"# This setting cannot run:\n# {problem}\n" if problem else generate(config)
        if code == self.code:
            return
        self.code, self.problem = code, problem
        lines = code.splitlines()
        anchor = self.anchor_text
        self._anchor_line = next((i for i, text in enumerate(lines) if anchor and anchor in text), 0)
        if self.is_on_screen:
            self._draw()

    def _draw(self) -> None:
        """Highlight the code into the Static, if it changed since, and scroll to the anchor."""
        if self._drawn != self.code:
            self._drawn = self.code
            self.query_one(Static).update(highlight(self.code, language="python"))
        self.call_after_refresh(self.scroll_to_anchor)

    def on_show(self) -> None:
        self._draw()

    def scroll_to_anchor(self) -> None:
        self.scroll_to(y=self._anchor_line, animate=False)

    def page(self, pages: int) -> None:
        """Scroll a page down (1) or up (-1)."""
        if pages > 0:
            self.scroll_page_down(animate=False)
        else:
            self.scroll_page_up(animate=False)

    def write(self) -> str:
        """Write the code shown to ``path`` (not for a setting that cannot run); one line that says
        where, or why not, for the owner's status line."""
        if self.problem:
            return f"No code for a setting that cannot run: {self.problem}"
        try:
            private_data_dir()
            write_atomic(self.path, self.code.encode())
        except (UnsafePath, OSError) as error:
            return f"Could not write the code: {error}"
        return f"Wrote the code: python {self.path}"
