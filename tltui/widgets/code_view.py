"""A run config as plain PyTorch code, and the base of lesson widgets that edit a config and run it.

``CodeView`` shows ``tltui.codegen``'s script for a RunConfig, highlighted, scrolled to the part that
matters to its owner, and writes it to a file. ``ConfigWidget`` is a focusable lesson widget that holds
one RunConfig, shows it (its own views, the code, the live curve of its run) and starts it for real
through the worker; the LR cascade and the unfreezing timeline are ConfigWidgets.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.widgets import ContentSwitcher, Static

from tltui.client import WorkerError
from tltui.codegen import generate
from tltui.link import WorkerLink
from tltui.files import UnsafePath, write_atomic
from tltui.paths import data_dir, private_data_dir
from tltui.protocol import ConfigError, RunConfig
from tltui.run_model import RunModel
from tltui.widgets.run_chart import RunChart

if TYPE_CHECKING:
    from tltui.app import TutorApp


class CodeView(VerticalScroll, can_focus=True):
    """The PyTorch script of a RunConfig; ``write`` saves it as ``tltui_<stem>.py`` in the data dir."""

    DEFAULT_CSS = """
    CodeView {
        height: 1fr;
        scrollbar-size: 1 1;
        & > Static { width: auto; }
        &:focus { background-tint: $foreground 4%; }
    }
    """

    def __init__(self, stem: str, anchor: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.stem = stem
        self.anchor = anchor
        """Text of the line to scroll to whenever the code changes or is shown."""
        self.code = ""
        self.problem = ""
        self._anchor_line = 0

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
        self.query_one(Static).update(highlight(code, language="python"))
        lines = code.splitlines()
        self._anchor_line = next((i for i, text in enumerate(lines) if self.anchor and self.anchor in text), 0)
        self.call_after_refresh(self.scroll_to_anchor)

    def on_show(self) -> None:
        self.call_after_refresh(self.scroll_to_anchor)

    def scroll_to_anchor(self) -> None:
        self.scroll_to(y=self._anchor_line, animate=False)

    def write(self) -> Path | None:
        """Write the code shown to ``path`` and say where (not for a setting that cannot run)."""
        if self.problem:
            self.notify(self.problem, title="No code for a setting that cannot run", severity="warning")
            return None
        path = self.path
        try:
            private_data_dir()
            write_atomic(path, self.code.encode())
        except (UnsafePath, OSError) as error:
            self.notify(str(error), title="Could not write the code", severity="error")
            return None
        self.notify(f"python {path}", title="Wrote the code", timeout=8)
        return path


class ConfigWidget(Vertical, can_focus=True):
    """A lesson widget around one RunConfig: subclasses compose their controls and ``views()``, set
    ``config`` with ``set_config`` and draw it in ``show_config``."""

    app: TutorApp

    DEFAULT_CSS = """
    ConfigWidget {
        height: auto;
        margin: 1 2;
        padding: 0 1;
        border: round $secondary;
        border-title-color: $text-accent;
        border-subtitle-color: $text-muted;
        &:focus-within { border: round $accent; }
        .-status { height: 1; color: $text-muted; }
        .-status.-invalid { color: $text-error; }
    }
    """

    BINDINGS = [
        Binding("v", "next_view", "View"),
        Binding("r", "run", "Run"),
        Binding("c", "cancel", "Cancel run"),
        Binding("w", "write_code", "Save code"),
    ]

    VIEWS: tuple[str, ...] = ("code", "run")
    """The switcher's views, in the order ``v`` cycles them."""
    STEM = "config"
    """The code file's name: ``tltui_<STEM>.py``."""
    ANCHOR = ""
    """The code line the code view scrolls to."""

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config
        self.run_id = ""

    def views(self) -> ComposeResult:
        """The code and the run's curve: put them in the subclass's ContentSwitcher."""
        yield CodeView(self.STEM, self.ANCHOR, id="code")
        yield RunChart(id="run")

    def on_mount(self) -> None:
        self.query_one(ContentSwitcher).current = self.VIEWS[0]
        self.app.link.watch(self)
        self.set_config(self.config)

    def on_unmount(self) -> None:
        self.app.link.unwatch(self)

    # -- the config ----------------------------------------------------------------------------

    def set_config(self, config: RunConfig) -> None:
        self.config = config
        self.query_one(CodeView).show(config, self.problem())
        self.show_config()
        self.show_status()

    def show_config(self) -> None:
        """Draw ``self.config`` in the subclass's views."""

    def problem(self) -> str:
        """Why ``config`` cannot run, in one line, or ''."""
        try:
            self.config.check()
        except ConfigError as error:
            return str(error)
        return ""

    def summary(self) -> str:
        """The status line of a config that can run, before it does."""
        return f"r runs it for real ({self.config.epochs} epochs on {self.config.data})"

    def show_status(self) -> None:
        status = self.query_one(".-status", Static)
        problem = self.problem()
        status.set_class(bool(problem), "-invalid")
        run = self.run
        if problem:
            text = Content(problem)
        elif run is None:
            text = Content(self.summary())
        else:
            text = Content(f"run {run.run_id}: {self._run_state(run)}")
        status.update(text)

    @staticmethod
    def _run_state(run: RunModel) -> str:
        if run.running and not run.epochs:
            return "starting (the worker loads torch and the data)…"
        if run.running:
            last = run.epochs[-1]
            return f"epoch {last.epoch}/{run.config.epochs}, val acc {last.val_acc:.0%} · c cancels"
        best = run.best
        return run.status + (f", best val acc {best.val_acc:.0%}" if best else "") + " · r runs again"

    # -- views ---------------------------------------------------------------------------------

    def show_view(self, view: str) -> None:
        self.query_one(ContentSwitcher).current = view

    def action_next_view(self) -> None:
        current = self.query_one(ContentSwitcher).current
        self.show_view(self.VIEWS[(self.VIEWS.index(current) + 1) % len(self.VIEWS)])

    def action_write_code(self) -> None:
        self.query_one(CodeView).write()

    # -- the run -------------------------------------------------------------------------------

    @property
    def run(self) -> RunModel | None:
        return self.app.link.runs.get(self.run_id) if self.run_id else None

    @work(exclusive=True, group="config-run")
    async def action_run(self) -> None:
        problem = self.problem()
        if problem:
            self.notify(problem, title="Cannot run this", severity="warning")
            return
        if self.run is not None and self.run.running:
            self.notify("The run is still going: c cancels it.", timeout=3)
            return
        try:
            run = await self.app.link.start_run(self.config)
        except WorkerError as error:
            self.notify(str(error), title="The worker refused the run", severity="error", timeout=10)
            return
        self.run_id = run.run_id
        self.show_view("run")
        self._show_run()

    @work(group="config-cancel")
    async def action_cancel(self) -> None:
        run = self.run
        if run is not None and run.running:
            try:
                await self.app.link.cancel(run.run_id)
            except WorkerError as error:
                self.notify(str(error), severity="error")

    def _show_run(self) -> None:
        run = self.run
        self.query_one(RunChart).show([(run.label, run)] if run else [], "r runs the setting above")
        self.show_status()

    def on_worker_link_changed(self, message: WorkerLink.Changed) -> None:
        self._show_run()

    def on_worker_link_run_changed(self, message: WorkerLink.RunChanged) -> None:
        if message.run_id == self.run_id:
            self._show_run()
