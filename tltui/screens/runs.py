"""The worker's runs (from its run store): mark several to overlay their curves, open one for details."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer

from tltui.client import WorkerError
from tltui.link import WorkerLink
from tltui.run_model import RunModel
from tltui.widgets.run_chart import RunChart
from tltui.widgets.run_view import RunView
from tltui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from tltui.app import TutorApp

STATUS_STYLE = {"finished": "green", "running": "cyan", "failed": "red", "cancelled": "yellow",
                "interrupted": "magenta", "starting": "cyan", "damaged": "red"}


class RunsScreen(Screen):
    """Runs table above; below, the marked runs overlaid (or, after enter, one run in detail)."""

    app: TutorApp

    DEFAULT_CSS = """
    RunsScreen {
        DataTable { height: 10; }
        RunView { display: none; }
        &.-detail RunView { display: block; }
        &.-detail RunChart#overlay { display: none; }
    }
    """

    BINDINGS = [
        Binding("space", "mark", "Mark"),
        Binding("enter", "open", "Details"),
        Binding("escape", "overlay", "Overlay", show=False),
        Binding("c", "cancel", "Cancel run"),
        Binding("u", "refresh", "Update"),
        Binding("l", "toggle_metric", "Loss/acc"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.marked: list[str] = []

    def compose(self) -> ComposeResult:
        yield TopBar()
        table = DataTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("", "run", "status", "data", "epochs", "best", "backbone · weights")
        yield table
        yield RunChart(id="overlay")
        yield RunView()
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TopBar).title = "tltui — runs"
        self.app.link.watch(self)
        self.action_refresh()

    def on_unmount(self) -> None:
        self.app.link.unwatch(self)

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
        table = self.query_one(DataTable)
        runs = sorted(self.app.link.runs.values(), key=lambda r: r.run_id, reverse=True)
        keep = table.cursor_row
        table.clear()
        for run in runs:
            best = run.best.val_acc if run.best else None
            config = run.config
            epochs = f"{len(run.epochs) if run.epochs else '-'}/{config.epochs}" if config else "-"
            table.add_row(
                "✓" if run.run_id in self.marked else " ",
                run.run_id,
                Text(run.status, style=STATUS_STYLE.get(run.status, "")),
                (config.data.rsplit("/", 1)[-1][:12] if config else "-"),
                epochs,
                f"{best:.1%}" if best is not None else "-",
                run.label,
                key=run.run_id,
            )
        if runs:
            table.move_cursor(row=min(keep, len(runs) - 1))
        self._draw()

    def _draw(self) -> None:
        runs = self.app.link.runs
        series = [(f"{run_id[-9:]} {runs[run_id].label}", runs[run_id]) for run_id in self.marked if run_id in runs]
        self.query_one("#overlay", RunChart).show(series, "mark runs with space to compare them")

    def _cursor_run(self) -> RunModel | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.app.link.runs.get(key)

    async def action_mark(self) -> None:
        run = self._cursor_run()
        if run is None:
            return
        if run.run_id in self.marked:
            self.marked.remove(run.run_id)
        else:
            self.marked.append(run.run_id)
            await self._load(run.run_id)
        self._fill()

    async def action_open(self) -> None:
        run = self._cursor_run()
        if run is None:
            return
        await self._load(run.run_id)
        self.add_class("-detail")
        view = self.query_one(RunView)
        view.show(run)

    def action_overlay(self) -> None:
        self.remove_class("-detail")
        self.query_one(DataTable).focus()

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

    def on_worker_link_changed(self, message: WorkerLink.Changed) -> None:
        self._fill()

    def on_worker_link_run_changed(self, message: WorkerLink.RunChanged) -> None:
        view = self.query_one(RunView)
        if view.run is not None and view.run.run_id == message.run_id:
            view.show(view.run)
        if message.run_id in self.marked:
            self._draw()
