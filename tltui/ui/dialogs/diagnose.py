"""The training screen's ``D``: the diagnosis of the form's data in a dialog."""

from __future__ import annotations

from textual.app import ComposeResult

from tltui.core.protocol.config import RunConfig
from tltui.ui.base.frame import Dialog
from tltui.ui.keys import bindings
from tltui.ui.lesson.diagnose import Diagnose


class DiagnoseScreen(Dialog[list[str] | None]):
    """The training screen's ``D``: Diagnose on the form's config; dismissed with the recommended command
    (``a``) or None (escape: the run goes on)."""

    DEFAULT_CSS = """
    DiagnoseScreen Diagnose { width: 80; max-width: 100%; max-height: 100%; background: $surface; }
    """
    BINDINGS = bindings("DiagnoseScreen")

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config

    def compose(self) -> ComposeResult:
        yield Diagnose(self.config)

    def on_mount(self) -> None:
        self.query_one(Diagnose).focus()
