"""The Textual app: lessons first; the worker and its torch stay in another process."""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING

from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive

from tltui.lessons import Lesson
from tltui.palette import LessonCommands
from tltui.progress import Progress, ProgressStore
from tltui.screens.help import HelpScreen
from tltui.screens.lesson import LessonScreen

if TYPE_CHECKING:
    from tltui.link import WorkerLink

#: The setting that replaces the local worker, e.g. "ssh gpu-box tltui worker --stdio".
WORKER_CMD_ENV = "TLTUI_WORKER_CMD"


def _train_screen():
    from tltui.screens.train import TrainScreen

    return TrainScreen()


def _runs_screen():
    from tltui.screens.runs import RunsScreen

    return RunsScreen()


class TutorApp(App[None]):
    """tltui: a terminal tutor for transfer learning."""

    TITLE = "tltui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {LessonCommands}
    MODES = {"train": _train_screen, "runs": _runs_screen}
    BINDINGS = [
        Binding("L", "mode('_default')", "Lessons", show=False),
        Binding("T", "mode('train')", "Train"),
        Binding("R", "mode('runs')", "Runs"),
        Binding("W", "restart_worker", "Restart worker", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    worker_status: reactive[str] = reactive("worker: not started")
    """One line about the worker, for every screen's top bar."""

    def __init__(
        self,
        lessons: list[Lesson],
        start: Lesson | None = None,
        store: ProgressStore | None = None,
        worker_command: list[str] | None = None,
        remote: str | None = None,
    ) -> None:
        super().__init__()
        self.lessons = lessons
        self.store = store or ProgressStore()
        self.progress: Progress = self.store.load()
        self.start = start or self._resume_lesson()
        self.worker_command = worker_command
        self.remote = remote
        """The host the worker runs on, when it is not this machine."""
        self._link: WorkerLink | None = None
        if self.progress.theme in self.available_themes:
            self.theme = self.progress.theme

    def _resume_lesson(self) -> Lesson:
        by_name = {lesson.name: lesson for lesson in self.lessons}
        return by_name.get(self.progress.last_lesson, self.lessons[0])

    def get_default_screen(self) -> LessonScreen:
        return LessonScreen(self.lessons, self.start)

    def on_mount(self) -> None:
        if self.store.notice:
            self.notify(self.store.notice, severity="warning", timeout=8)

    @property
    def link(self) -> WorkerLink:
        """The worker, created the first time something needs it (it starts on demand)."""
        if self._link is None:
            from tltui.client import local_worker_command
            from tltui.link import WorkerLink

            command = self.worker_command or shlex.split(os.environ.get(WORKER_CMD_ENV, ""))
            self._link = WorkerLink(command or local_worker_command())
            self._link.watch(self)
        return self._link

    def on_worker_link_changed(self, message: WorkerLink.Changed) -> None:
        link = message.link
        status = link.describe()
        if status != self.worker_status and link.state == "ready" and self.remote:
            if not any(d.startswith("cuda") for d in link.capabilities.devices):
                self.notify(f"{self.remote} has no GPU: runs train on its CPU.", severity="warning", timeout=8)
        elif status != self.worker_status and link.state == "gone":
            self.notify(f"The worker stopped: {link.error}. Press W to start it again.", severity="error", timeout=10)
        self.worker_status = status

    def on_worker_link_run_changed(self, message: WorkerLink.RunChanged) -> None:
        """Runs change all the time; the status line only cares about the worker."""

    async def on_unmount(self) -> None:
        if self._link is not None:
            await self._link.close()

    async def action_mode(self, mode: str) -> None:
        if self.current_mode != mode:
            await self.switch_mode(mode)

    def action_restart_worker(self) -> None:
        if self._link is None or self._link.state != "gone":
            self.notify("The worker is running." if self._link else "The worker starts when a lesson needs it.",
                        timeout=2)
            return
        self._link.restart()

    def watch_theme(self, theme: str) -> None:
        if theme != self.progress.theme:
            self.progress.theme = theme
            self.save_progress()

    def save_progress(self) -> None:
        notice = self.store.notice
        self.store.save(self.progress)
        if self.store.notice != notice:
            self.notify(self.store.notice, severity="warning")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())
