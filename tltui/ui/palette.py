"""Command palette entries: "Go to lesson ..." for every lesson, from any screen."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tltui.ui.lessons import Lesson

if TYPE_CHECKING:
    from tltui.ui.app import TutorApp


class LessonCommands(Provider):
    """Offers every lesson by number and title; choosing one goes back to the lessons there."""

    app: TutorApp

    def _commands(self):
        for lesson in self.app.lessons:
            yield f"Go to lesson {lesson.label}", self._opener(lesson), lesson.name

    def _opener(self, lesson: Lesson):
        async def open_lesson() -> None:
            await self.app.action_mode("lessons")
            await self.app.lesson_screen.show_lesson(lesson)

        return open_lesson

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands():
            yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)
