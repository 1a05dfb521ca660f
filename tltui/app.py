"""The Textual app: lessons first; the worker and its torch stay in another process."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from tltui.palette import LessonCommands
from tltui.lessons import Lesson
from tltui.progress import Progress, ProgressStore
from tltui.screens.help import HelpScreen
from tltui.screens.lesson import LessonScreen


class TutorApp(App[None]):
    """tltui: a terminal tutor for transfer learning."""

    TITLE = "tltui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {LessonCommands}
    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, lessons: list[Lesson], start: Lesson | None = None, store: ProgressStore | None = None) -> None:
        super().__init__()
        self.lessons = lessons
        self.store = store or ProgressStore()
        self.progress: Progress = self.store.load()
        self.start = start or self._resume_lesson()
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
