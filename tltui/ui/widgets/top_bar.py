"""The top line of every screen: where you are on the left, the worker's state on the right."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.reactive import reactive
from textual.widgets import Label, Static


class WorkerStatus(Static):
    """The app's ``worker_status`` line (host, device, torch, weights; or starting / stopped)."""

    DEFAULT_CSS = """
    WorkerStatus {
        width: auto;
        max-width: 60%;
        color: $text-muted;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "worker_status", self._show)

    def _show(self, status: str) -> None:
        self.update(Content(status))


class TopBar(Horizontal):
    """Title on the left, worker status on the right."""

    DEFAULT_CSS = """
    TopBar {
        dock: top;
        height: 1;
        background: $panel;
        #title {
            width: 1fr;
            padding: 0 1;
            text-style: bold;
            text-wrap: nowrap;
            text-overflow: ellipsis;
        }
    }
    """

    title: reactive[str] = reactive("tltui")

    def compose(self) -> ComposeResult:
        yield Label(Content(self.title), id="title")
        yield WorkerStatus()

    def watch_title(self, title: str) -> None:
        if self.is_mounted:
            self.query_one("#title", Label).update(Content(title))
