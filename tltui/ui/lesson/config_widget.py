"""The base of lesson widgets that edit a config and run it: a focusable lesson widget that holds one
RunConfig, shows it (its own views, the code, the live curve of its run) and starts it for real through the
worker; the LR cascade and the unfreezing timeline are ConfigWidgets."""

from __future__ import annotations

from collections.abc import Collection

import msgspec
from textual import work
from textual.app import ComposeResult
from textual.content import Content
from textual.widgets import ContentSwitcher, Static

from tltui.core.formatting import ui_words
from tltui.core.protocol.config import ConfigError, RunConfig
from tltui.ui.base import backbones
from tltui.ui.base.frame import LiveFrame, StatusLine
from tltui.ui.base.run_owner import RunOwner
from tltui.ui.keys import bindings, hint
from tltui.ui.run_model import RunModel
from tltui.ui.widgets.code_view import CodeView
from tltui.ui.widgets.run_chart import RunChart


class ConfigWidget(RunOwner, LiveFrame):
    """A lesson widget around one RunConfig: subclasses compose their controls and ``views()``, set
    ``config`` with ``set_config`` and draw it in ``show_config``."""

    DEFAULT_CSS = """
    ConfigWidget {
        height: auto;
        padding: 0 1;
        border-subtitle-color: $text-muted;
        .-backbone { height: 1; color: $text-muted; }
    }
    """

    BINDINGS = bindings("ConfigWidget")

    VIEWS: tuple[str, ...] = ("code", "run")
    """The switcher's views, in the order ``v`` cycles them."""
    STEM = "config"
    """The code file's name: ``tltui_<STEM>.py``."""
    ANCHOR = ""
    """The code line the code view scrolls to."""
    VIEW_HEIGHT = 10
    """Rows of the switcher that holds the views."""

    def __init__(self, config: RunConfig) -> None:
        super().__init__()
        self.config = config
        self.run_id = ""
        self.picked = ""
        """The backbone the learner chose with b; '' follows the worker's pretrained one."""
        self.note = ""
        """A refusal or an answer to a key, shown in the status line until the setting changes."""
        self.refused = False

    def views(self) -> ComposeResult:
        """The code and the run's curve: put them in the subclass's ContentSwitcher."""
        yield CodeView(self.STEM, self.ANCHOR, id="code")
        yield RunChart(id="run")

    def status_lines(self) -> ComposeResult:
        """The backbone it trains and the status line: put them in the subclass's compose."""
        yield Static(classes="-backbone")
        yield StatusLine(classes="-status")

    def on_mount(self) -> None:
        """Textual calls this after the subclass's own ``on_mount``."""
        switcher = self.query_one(ContentSwitcher)
        switcher.styles.height = self.VIEW_HEIGHT
        switcher.current = self.VIEWS[0]
        self.set_config(msgspec.structs.replace(self.config, model=backbones.chosen(self.app.link, self.picked)))
        if self.kept():
            self._bring_back()

    @work(group="config-back")
    async def _bring_back(self) -> None:
        """Show the last run of this widget (the lesson read again, or an earlier session)."""
        run_id = (await self.bring_back(self.kept())).get("run", "")
        if run_id and not self.run_id:  # no run started meanwhile
            self.run_id = run_id
            self._show_run()

    # -- the config ----------------------------------------------------------------------------

    def set_config(self, config: RunConfig) -> None:
        self.config, self.note = config, ""
        self.query_one(CodeView).show(config, self.problem())
        self.show_config()
        self.show_status()

    def action_backbone(self) -> None:
        """Train the other backbone (the run says so if its weights are not on the worker)."""
        self.picked = backbones.other(self.config.model)
        self.set_config(msgspec.structs.replace(self.config, model=self.picked))

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
        return hint(f"{{ConfigWidget.run}} runs it for real ({self.config.epochs} epochs on {self.config.data})")

    def show_status(self) -> None:
        self.query_one(".-backbone", Static).update(Content.assemble(
            ("trains ", "dim"), backbones.label(self.app.link, self.picked), ("  (b switches)", "dim")))
        problem = ui_words(self.problem())
        run = self.run
        if problem or self.note:
            text = problem or self.note
        elif run is None:
            text = self.summary()
        else:
            text = f"run {run.run_id}: {self._run_state(run)}"
        self.query_one(StatusLine).say(text, bool(problem) or bool(self.note) and self.refused)

    def say(self, note: str, refusal: bool = True) -> None:
        """Show ``note`` in the status line, in the tutor's words (a refusal: as an error)."""
        self.note, self.refused = ui_words(note), refusal
        self.show_status()

    @staticmethod
    def _run_state(run: RunModel) -> str:
        if run.running and not run.epochs:
            return "starting (the worker loads torch and the data)…"
        if run.running and run.config:  # (epochs come after the Started event, and its config)
            last = run.epochs[-1]
            return f"epoch {last.epoch}/{run.config.epochs}, val acc {last.val_acc:.0%} · c cancels"
        best = run.best
        return run.status + (f", best val acc {best.val_acc:.0%}" if best else "") + " · r runs again"

    # -- views ---------------------------------------------------------------------------------

    def show_view(self, view: str) -> None:
        self.query_one(ContentSwitcher).current = view

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool:
        """The page keys scroll the code while it is shown; else they go on to the lesson."""
        return action != "scroll_code" or self.query_one(ContentSwitcher).current == "code"

    def action_scroll_code(self, pages: int) -> None:
        self.query_one(CodeView).page(pages)

    def action_next_view(self) -> None:
        current = self.query_one(ContentSwitcher).current
        self.show_view(self.VIEWS[(self.VIEWS.index(current) + 1) % len(self.VIEWS)])

    def action_write_code(self) -> None:
        written = self.query_one(CodeView).write()
        self.say(written, refusal=not written.startswith("Wrote"))

    # -- the run -------------------------------------------------------------------------------

    @property
    def run(self) -> RunModel | None:
        return self.app.link.runs.get(self.run_id) if self.run_id else None

    def run_ids(self) -> Collection[str]:
        return (self.run_id,)

    @work(exclusive=True, group="config-run")
    async def action_run(self) -> None:
        if self.problem():
            self.show_status()  # the line already says why; nothing starts
            return
        if self.run is not None and self.run.running:
            self.say("The run is still going: c cancels it.")
            return
        if not await self.ready():
            return
        run = await self.start_pretrained(
            msgspec.structs.replace(self.config, model=backbones.chosen(self.app.link, self.picked)))
        if run is None:
            return
        self.run_id, self.note = run.run_id, ""
        self.keep({"run": run.run_id})
        self.show_view("run")
        self._show_run()

    def _show_run(self) -> None:
        run = self.run
        self.query_one(RunChart).show([(run.label, run)] if run else [], "r runs the setting above")
        self.show_status()

    def worker_changed(self) -> None:
        model = backbones.chosen(self.app.link, self.picked)
        if model != self.config.model:  # the worker has said which weights it has
            self.set_config(msgspec.structs.replace(self.config, model=model))
        self._show_run()

    def runs_changed(self) -> None:
        self._show_run()
