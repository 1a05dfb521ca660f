"""The worker's runs (from its run store): mark several to overlay their curves, open one for details."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.widgets import DataTable

from tltui.core.client import WorkerError
from tltui.ui.base import theme
from tltui.ui.keys import bindings, hint
from tltui.ui.run_model import RunModel
from tltui.ui.screens.mode import ModeScreen
from tltui.ui.widgets.footer import KeysFooter
from tltui.ui.widgets.run_chart import RunChart
from tltui.ui.widgets.run_view import RunView
from tltui.ui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from tltui.ui.host import Tutor

#: The theme colour of each status (the word itself says it too).
STATUS_COLOUR = {"finished": "success", "running": "accent", "failed": "error", "cancelled": "warning",
                 "interrupted": "secondary", "starting": "accent", "damaged": "error"}
#: The table's columns: key -> heading.
COLUMNS = {"mark": "", "run": "run", "status": "status", "data": "data", "epochs": "epochs", "best": "best",
           "strategy": "strategy", "backbone": "backbone · weights"}


class RunsScreen(ModeScreen):
    """Runs table above; below, the marked runs overlaid (or, after enter, one run in detail)."""

    app: Tutor

    DEFAULT_CSS = """
    RunsScreen {
        DataTable { height: 10; }
        RunView { display: none; }
        &.-detail RunView { display: block; }
        &.-detail RunChart#overlay { display: none; }
    }
    """

    MODE = "runs"
    HELP_TITLE = hint("Runs screen ({TutorApp.runs})")
    BINDINGS = bindings("RunsScreen")

    def __init__(self) -> None:
        super().__init__()
        self.marked: list[str] = []
        self._stale = False
        """Whether runs changed while the screen was hidden (redrawn when it is shown again)."""

    def compose(self) -> ComposeResult:
        yield TopBar()
        table: DataTable[str | Text] = DataTable(cursor_type="row", zebra_stripes=True)
        for key, label in COLUMNS.items():
            table.add_column(label, key=key)
        yield table
        yield RunChart(id="overlay")
        yield RunView()
        yield KeysFooter(show_command_palette=False)  # ctrl+p is in ?

    def on_mount(self) -> None:
        self.query_one(TopBar).title = "tltui — runs"
        self.watch(self.app, "worker_state", self._fill, init=False)
        self.app.run_list_signal.subscribe(self, lambda _: self._fill())
        self.app.run_signal.subscribe(self, self._run_changed)

    def on_first_show(self) -> None:
        self.action_refresh()

    def on_screen_resume(self, _event: events.ScreenResume) -> None:
        """Shown again: what changed while hidden is drawn now, once (Textual calls ``ModeScreen``'s handler
        after this one)."""
        if self._stale:
            self._stale = False
            self._fill()
            view = self.query_one(RunView)
            if view.run is not None:
                view.show(view.run)

    def _hidden(self) -> bool:
        """Whether another mode or a dialog hides the screen; if so it is marked to redraw when shown.

        The screen is built at start-up and kept, and the lessons' runs send news many times a second: a
        hidden table rebuilt on each, for runs the learner cannot see, cost every key more as runs piled up.
        """
        if self.is_current:
            return False
        self._stale = True
        return True

    @work(exclusive=True, group="refresh")
    async def action_refresh(self) -> None:
        try:
            await self.app.link.refresh_runs()
        except WorkerError as error:
            self.query_one("#overlay", RunChart).show([], f"worker unavailable: {error}")
            return
        for run_id in self.marked:
            await self._load(run_id)

    async def _load(self, run_id: str) -> None:
        try:
            await self.app.link.load(run_id)
        except WorkerError as error:
            self.notify(str(error), severity="error")

    def _fill(self) -> None:
        if self._hidden():
            return
        table = self.query_one(DataTable)
        runs = sorted(self.app.link.runs.values(), key=lambda r: r.run_id, reverse=True)
        keep = table.cursor_row
        table.clear()
        for run in runs:
            table.add_row(*self._cells(run).values(), key=run.run_id)
        if runs:
            table.move_cursor(row=min(keep, len(runs) - 1))
        self._draw()

    def _cells(self, run: RunModel) -> dict[str, object]:
        """The row of ``run``, by column key."""
        best, config = run.best_val_acc, run.config
        score = "-" if best is None else f"{best:.1%}" + (" cv" if run.is_diagnosis else "")
        return {
            "mark": "✓" if run.run_id in self.marked else " ",
            "run": run.run_id,
            "status": Text(run.status, style=theme.hex_style(self.app, STATUS_COLOUR.get(run.status, "foreground"))),
            "data": Text(config.data.rstrip("/").rsplit("/", 1)[-1] if config else "-"),
            "epochs": run.done,
            "best": score,
            "strategy": Text(run.strategy),
            "backbone": Text(run.label),
        }

    def _update_row(self, run_id: str) -> None:
        """Change the cells of ``run_id``'s row in place (the cursor and the scroll stay); a run not in the
        table yet fills it again."""
        table, run = self.query_one(DataTable), self.app.link.runs.get(run_id)
        if run is None or run_id not in table.rows:
            self._fill()
            return
        for column, value in self._cells(run).items():
            table.update_cell(run_id, column, value)

    def _draw(self) -> None:
        runs = self.app.link.runs
        series = [(f"{run_id[-9:]} {runs[run_id].label}", runs[run_id]) for run_id in self.marked if run_id in runs]
        self.query_one("#overlay", RunChart).show(series, "mark runs with space to compare them")

    def _cursor_run(self) -> RunModel | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.app.link.runs.get(key) if key is not None else None

    async def action_mark(self) -> None:
        run = self._cursor_run()
        if run is None:
            return
        if run.run_id in self.marked:
            self.marked.remove(run.run_id)
        else:
            self.marked.append(run.run_id)
            await self._load(run.run_id)
        self._update_row(run.run_id)
        self._draw()

    async def action_open(self) -> None:
        run = self._cursor_run()
        if run is None:
            return
        await self._load(run.run_id)
        self.add_class("-detail")
        view = self.query_one(RunView)
        view.show(run)
        view.focus()  # its keys: results, errors, the top losses

    async def action_back(self) -> None:
        """From a run's details to the overlay; from there back to the lessons."""
        if self.has_class("-detail"):
            self.remove_class("-detail")
            self.query_one(DataTable).focus()
        else:
            await self.app.action_mode("lessons")

    @work(group="cancel")
    async def action_cancel(self) -> None:
        run = self._cursor_run()
        if run is None or not run.running:
            self.notify("That run is not going.", timeout=2)
            return
        try:
            await self.app.link.cancel(run.run_id)
        except WorkerError as error:
            self.notify(str(error), severity="error")

    def action_toggle_metric(self) -> None:
        self.query_one("#overlay", RunChart).toggle_metric()
        self.query_one(RunView).action_toggle_metric()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.run_worker(self.action_open())

    def _run_changed(self, run_id: str) -> None:
        if self._hidden():
            return
        self._update_row(run_id)
        view = self.query_one(RunView)
        if view.run is not None and view.run.run_id == run_id:
            view.show(view.run)
        if run_id in self.marked:
            self._draw()
