"""The Textual app: lessons first; the worker and its torch stay in another process."""

from __future__ import annotations

import os
import shlex
import sys
import textwrap
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual import constants as textual_constants, events
from textual.app import App, SystemCommand
from textual.await_complete import AwaitComplete
from textual.notifications import SeverityLevel
from textual.reactive import reactive, var
from textual.screen import Screen
from textual.signal import Signal
from textual.timer import Timer

from tltui.ui import collector, crash
from tltui.ui.host import Tutor
from tltui.ui.keys import bindings, hint, problems as keymap_problems
from tltui.ui.lessons import Lesson
from tltui.ui.paging import guard_paging
from tltui.ui.progress import LearnerProgress, ProgressStore
from tltui.ui.release import release
from tltui.ui.screens.lesson import LessonScreen
from tltui.ui.strips import keep_strips_acyclic
from tltui.ui.stylesheet import KeptStylesheet
from tltui.ui.warmup import build_ahead, import_ahead

if TYPE_CHECKING:
    from textual.command import Provider
    from textual.driver import Driver

    from tltui.ui.link import State, WorkerLink

#: A toast's lines at most (title included), and its width where the terminal is wide.
TOAST_LINES = 3
TOAST_WIDTH = 60
#: Seconds between a change of progress and its save (changes within it are saved together).
SAVE_DELAY_S = 0.3
#: The setting that replaces the local worker, e.g. "ssh gpu-box tltui worker --stdio".
WORKER_CMD_ENV = "TLTUI_WORKER_CMD"


def _train_screen() -> Screen:
    from tltui.ui.screens.train import TrainScreen

    return TrainScreen()


def _runs_screen() -> Screen:
    from tltui.ui.screens.runs import RunsScreen

    return RunsScreen()


def _lesson_commands() -> type[Provider]:
    """The palette's lessons, imported when the palette first opens (textual.command is not needed to start)."""
    from tltui.ui.palette import LessonCommands

    return LessonCommands


class TutorApp(Tutor):
    """tltui: a terminal tutor for transfer learning."""

    TITLE = "tltui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {_lesson_commands}
    DEFAULT_MODE = LessonScreen.MODE
    MODES = {"train": _train_screen, "runs": _runs_screen}
    """Each screen is a mode (its state kept while another is shown); "lessons" is added per app."""
    HELP_TITLE = "Anywhere"
    BINDINGS = bindings("TutorApp")
    HELP_KEYS = [("ctrl+p", "command palette: lessons, screens, restart the worker, themes")]

    worker_state: var[State] = var("idle")
    """The worker's state (idle, starting, ready, gone): what it can do is read from ``link``."""
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
        self.stylesheet = KeptStylesheet(variables=self.get_css_variables())  # (no source read yet)
        guard_paging()
        keep_strips_acyclic()
        self.lessons = lessons
        self.store = store or ProgressStore()
        self.progress: LearnerProgress = self.store.load()
        self.start = start or self._resume_lesson()
        self.worker_command = worker_command
        self.remote = remote
        """The host the worker runs on, when it is not this machine."""
        self._link: WorkerLink | None = None
        self.run_signal: Signal[str] = Signal(self, "run")
        """A run's model changed (new events, lost with the worker, its status back from the store): its id."""
        self.run_list_signal: Signal[None] = Signal(self, "run-list")
        """The worker's list of runs changed (a run started, the run store was read)."""
        self.worker_signal: Signal[State] = Signal(self, "worker")
        """The worker's state changed (for widgets that come and go: a signal can be left, a watch cannot)."""
        self.crash_log: Path | None = None
        """Where the traceback of the exception that ended the app went (None: no crash)."""
        self.crash: BaseException | None = None
        self._save_timer: Timer | None = None
        self._toasts: dict[tuple[str, str], float] = {}
        """(title, message) of each toast -> when it goes away."""
        self.started = False
        self._last_input = 0.0
        """When the learner last pressed a key or clicked (time.monotonic)."""
        self._holds: int | None = None
        """While ``action_mode`` switches the mode, the holds of the frames begun meanwhile (``delay_update``)."""
        self.quitting = False
        """True from q (or ctrl+q) on: keys still coming are dropped."""
        self._bindings_mode: str | None = None
        """The mode whose screen's bindings are being read, where it is not the current one."""
        self.running_at_exit: list[str] = []
        """Runs still training when the app closed: the CLI says how to follow them."""
        self.lesson_screen: LessonScreen
        """The base screen of the "lessons" mode, made when the app starts."""
        self.add_mode(self.DEFAULT_MODE, self._lesson_screen)
        if self.progress.theme in self.available_themes:
            self.theme = self.progress.theme

    def get_driver_class(self) -> type[Driver]:
        """Textual's driver, except in a Unix terminal: there ``KeyDriver``, whose input wakes when an esc is
        due and when the tutor quits, not only every 100 ms (``ui/driver.py``)."""
        if os.name == "nt" or textual_constants.DRIVER:
            return super().get_driver_class()
        from tltui.ui.driver import KeyDriver

        return KeyDriver

    def _resume_lesson(self) -> Lesson:
        by_name = {lesson.name: lesson for lesson in self.lessons}
        return by_name.get(self.progress.last_lesson, self.lessons[0])

    def _lesson_screen(self) -> LessonScreen:
        self.lesson_screen = LessonScreen(self.lessons, self.start)
        return self.lesson_screen

    def on_mount(self) -> None:
        self.started = True
        if self.store.notice:
            self.notify(self.store.notice, severity="warning", timeout=8)
        for problem in keymap_problems():
            self.notify(problem, title="keymap.toml (tltui keys)", severity="warning", timeout=12)
        self.call_after_refresh(collector.calm)
        self.set_interval(1.0, self._collect_while_idle, name="collect while the learner reads")
        import_ahead(self, then=partial(build_ahead, self, ("train", "runs"), then=self._built_ahead))

    def _built_ahead(self) -> None:
        """The screens are built: the lessons' contents too (hidden, after the next refresh), then the
        collector is calmed again."""
        async def contents_then_calm() -> None:
            body = self.lesson_screen.query("#body")
            if self.is_running and not self.quitting and body and body.first().is_attached:  # (q may have come
                await self.lesson_screen.build_contents()  # meanwhile: the screen is being taken down)
            collector.calm()

        self.call_after_refresh(contents_then_calm)

    @property
    def link(self) -> WorkerLink:
        """The worker, created the first time something needs it (it starts on demand)."""
        if self._link is None:
            from tltui.core.client import local_worker_command
            from tltui.ui.link import WorkerLink

            command = self.worker_command or shlex.split(os.environ.get(WORKER_CMD_ENV, ""))
            self._link = WorkerLink(command or local_worker_command(), host=self.remote,
                                    on_state=partial(self.call_next, self._worker_changed),
                                    on_run=self.run_signal.publish, on_list=partial(self.run_list_signal.publish, None))
        return self._link

    @property
    def started_link(self) -> WorkerLink | None:
        return self._link

    def _worker_changed(self, state: State) -> None:
        """The link's news, taken in the app's own turn: its watchers never run inside the link."""
        self.worker_status = self.link.describe()
        self.worker_state = state

    def watch_worker_state(self, state: State) -> None:
        if self._link is None:  # the worker was never asked for (the link, and the protocol, load later)
            return
        link, caps = self.link, self.link.capabilities
        if state == "ready" and self.remote and caps and not any(d.startswith("cuda") for d in caps.devices):
            self.notify(f"{self.remote} has no GPU: runs train on its CPU.", severity="warning", timeout=8)
        elif state == "gone":
            self.notify(hint(f"The worker stopped: {link.error}. Press {{TutorApp.restart_worker}} to start it again."),
                        severity="error", timeout=10)
        if self.screen_stack:  # none left while the app closes
            self.refresh_bindings()
        self.worker_signal.publish(state)

    async def action_quit(self) -> None:
        self.quitting = True
        self.lesson_screen.remember_scroll()
        self.save_progress_now()
        await super().action_quit()

    async def on_event(self, event: events.Event) -> None:
        """Once quitting, keys that came in the same burst as q are dropped: they would open lessons or
        screens in an app already taking its screens down (q then n raised MountError)."""
        if isinstance(event, events.InputEvent):
            self._last_input = time.monotonic()
        if not (self.quitting and isinstance(event, events.Key)):
            await super().on_event(event)

    def _collect_while_idle(self) -> bool:
        """The full collection, if one is due soon, run while the learner reads; whether it ran."""
        return time.monotonic() - self._last_input >= collector.QUIET_S and collector.collect_if_due()

    async def on_unmount(self) -> None:
        if self._save_timer is not None:
            self.save_progress_now()
        if self._link is not None:
            self.running_at_exit = [run.run_id for run in self._link.runs.values() if run.running]
            await self._link.close()

    def pop_screen(self) -> AwaitComplete:
        """Close the dialog on top; what it subscribed to first lets it go (see release)."""
        if len(self.screen_stack) > 1:
            release(self.screen)
        return super().pop_screen()

    def _handle_exception(self, error: Exception) -> None:
        """Log the traceback to a file and end the app with exit status 1; the CLI prints one line
        (Textual would print the whole traceback with its locals). A search of the command palette failing
        once the palette has closed ends nothing (``palette.failed_after_closing``)."""
        palette = sys.modules.get("tltui.ui.palette")  # loaded with the palette's first opening
        if palette is not None and palette.failed_after_closing(self, error):
            self.log.warning("a search of the command palette failed after it closed:", repr(error))
            return
        if self.crash is None:
            self.crash, self.crash_log = error, crash.record(error)
        super()._handle_exception(error)
        self._exit_renderables.clear()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """A toast of at most TOAST_LINES lines (title included), never a second copy of one still shown.
        Messages are plain text: a worker's message with brackets in it must not parse as markup."""
        timeout = self.NOTIFICATION_TIMEOUT if timeout is None else timeout
        now = time.monotonic()
        if self._toasts.get((title, message), 0.0) > now:
            return
        self._toasts[(title, message)] = now + timeout
        width = max(16, min(TOAST_WIDTH, self.size.width // 2) - 4)
        room, limit = TOAST_LINES - bool(title), len(message)
        while len(textwrap.wrap(message, width)) > room:
            limit -= 8
            message = textwrap.shorten(message, limit, placeholder="…")
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer offers the other screens, not the one shown, and W only while the worker is down."""
        if action == "mode":
            return parameters[0] != (self._bindings_mode or self.current_mode)
        if action == "restart_worker":
            return self._link is not None and self._link.state == "gone"
        return True

    @contextmanager
    def bindings_as_shown(self, mode: str) -> Iterator[None]:
        self._bindings_mode = mode
        try:
            yield
        finally:
            self._bindings_mode = None

    def action_command_palette(self) -> None:
        """Textual's, with the palette that survives being closed as it opens (``palette.Palette``)."""
        from tltui.ui.palette import Palette

        # Textual types the app App[object], and App[None] is not one (App is invariant in its return type)
        if self.use_command_palette and not Palette.is_open(self):  # type: ignore[arg-type]
            self.push_screen(Palette(id="--command-palette"))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Lessons", "Back to the lesson you were reading (L)", partial(self.action_mode, "lessons"))
        yield SystemCommand("Training", "Describe a run and watch it train (T)", partial(self.action_mode, "train"))
        yield SystemCommand("Runs", "The worker's runs: compare, open, cancel (R)", partial(self.action_mode, "runs"))
        yield SystemCommand("Restart worker", "Start a new worker after the last one stopped (W)",
                            self.action_restart_worker)
        yield from super().get_system_commands(screen)

    async def action_mode(self, mode: str) -> None:
        if self.current_mode != mode:
            self._holds = 0
            try:
                await self.switch_mode(mode)
            finally:
                holds, self._holds = self._holds, None
                for _ in range(holds or 0):  # (after the screen's ScreenResume, posted before them)
                    self.screen.call_later(self._end_hold)
            self.refresh_bindings()

    def delay_update(self, delay: float = 0.05) -> None:
        """Textual's ``switch_mode`` holds every frame for 50 ms, to hide the screens' changes meanwhile: 50 of
        the 61 ms of a ``T``, ``R`` or ``L`` (benchmarks/keys.py). A mode switch here holds them only until the
        screen shown has handled its resume (``_end_hold``), and its changes are painted together then."""
        if self._holds is None:
            super().delay_update(delay)
        else:
            self._holds += 1
            self._begin_batch()

    def _end_hold(self) -> None:
        self._end_batch()
        if not self._batch_count:
            self.screen.refresh()

    async def open_lesson(self, lesson: Lesson) -> None:
        await self.action_mode("lessons")
        await self.lesson_screen.show_lesson(lesson)

    async def train_with(self, command: list[str]) -> None:
        from tltui.ui.screens.train import TrainScreen

        await self.action_mode("train")
        if isinstance(self.screen, TrainScreen):
            self.screen.take_command(command)

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
        """Save the progress file soon: writes (an fsync each) are coalesced, and kept off the key that
        changed the progress."""
        if self._save_timer is None:
            self._save_timer = self.set_timer(SAVE_DELAY_S, self.save_progress_now)

    def save_progress_now(self) -> None:
        if self._save_timer is not None:
            self._save_timer.stop()
            self._save_timer = None
        notice = self.store.notice
        self.store.save(self.progress)
        if self.store.notice != notice:
            self.notify(self.store.notice, severity="warning")

    def action_help(self) -> None:
        from tltui.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))
