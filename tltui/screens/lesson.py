"""The lesson screen: one lesson at a time, a table of contents, keys to move between them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Header

from tltui.lessons import Lesson
from tltui.widgets.contents import Contents
from tltui.widgets.lesson_view import LessonView

if TYPE_CHECKING:
    from tltui.app import TutorApp

#: Two digits typed within this many seconds make one lesson number.
DIGIT_WINDOW = 1.0
#: From this many columns on, the table of contents is shown beside the lesson.
WIDE = 110


class LessonScreen(Screen):
    """Reads lessons; remembers each lesson's view (scroll position, live widgets) while open."""

    app: TutorApp

    DEFAULT_CSS = """
    LessonScreen {
        Contents { display: none; }
        &.-contents Contents { display: block; }
    }
    """

    BINDINGS = [
        Binding("n,right", "next", "Next"),
        Binding("p,left", "previous", "Prev"),
        Binding("t", "toggle_contents", "Contents"),
        Binding("escape", "close_contents", "Close", show=False),
        *(Binding(d, f"digit('{d}')", show=False) for d in "1234567890"),
    ]

    def __init__(self, lessons: list[Lesson], start: Lesson) -> None:
        super().__init__()
        self.lessons = lessons
        self.lesson = start
        self._digits = ""
        self._digit_time = 0.0

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        with Horizontal():
            yield Contents(self.lessons, id="contents")
            with ContentSwitcher():
                yield LessonView(self.lesson, id=self._view_id(self.lesson))
        yield Footer()

    async def on_mount(self) -> None:
        self.set_class(self.app.size.width >= WIDE, "-contents")
        await self.show_lesson(self.lesson)

    def on_resize(self, event) -> None:
        self.set_class(event.size.width >= WIDE, "-contents")

    @staticmethod
    def _view_id(lesson: Lesson) -> str:
        return f"lesson-{lesson.name}"

    @property
    def view(self) -> LessonView:
        return self.query_one(f"#{self._view_id(self.lesson)}", LessonView)

    async def show_lesson(self, lesson: Lesson) -> None:
        """Open ``lesson`` (its view is kept for when the learner comes back) and record the visit."""
        self.lesson = lesson
        switcher = self.query_one(ContentSwitcher)
        view_id = self._view_id(lesson)
        if switcher.query_children(f"#{view_id}"):
            switcher.current = view_id
        else:
            await switcher.add_content(LessonView(lesson, id=view_id), set_current=True)
        self.title = "tltui"
        self.sub_title = f"{lesson.number}/{len(self.lessons)}  {lesson.title}"
        progress = self.app.progress
        progress.visit(lesson.name)
        self.app.save_progress()
        self.query_one(Contents).show(lesson, progress.visited)
        self.view.focus()

    async def action_next(self) -> None:
        if self.lesson.number < len(self.lessons):
            await self.show_lesson(self.lessons[self.lesson.number])
        else:
            self.notify("This is the last lesson.", timeout=2)

    async def action_previous(self) -> None:
        if self.lesson.number > 1:
            await self.show_lesson(self.lessons[self.lesson.number - 2])
        else:
            self.notify("This is the first lesson.", timeout=2)

    async def action_digit(self, digit: str) -> None:
        now = time.monotonic()
        combined = self._digits + digit
        if self._digits and now - self._digit_time < DIGIT_WINDOW and int(combined) <= len(self.lessons):
            number = int(combined)
            self._digits = ""
        else:
            number = int(digit) or 10
            self._digits = digit
        self._digit_time = now
        if 1 <= number <= len(self.lessons):
            await self.show_lesson(self.lessons[number - 1])
        else:
            self.notify(f"There are {len(self.lessons)} lessons.", timeout=2)

    def action_toggle_contents(self) -> None:
        contents = self.query_one(Contents)
        if self.has_class("-contents") and contents.has_focus:
            self.action_close_contents()
        else:
            self.add_class("-contents")
            contents.focus()

    def action_close_contents(self) -> None:
        if self.has_class("-contents") and self.query_one(Contents).has_focus:
            self.remove_class("-contents")
            self.view.focus()

    async def on_contents_chosen(self, message: Contents.Chosen) -> None:
        if self.app.size.width < WIDE:
            self.remove_class("-contents")
        await self.show_lesson(message.lesson)
