"""Command palette entries: "Go to lesson ..." for every lesson."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tltui.screens.lesson import LessonScreen


class LessonCommands(Provider):
    """Offers every lesson by number and title."""

    def _commands(self):
        screen = self.screen
        if not isinstance(screen, LessonScreen):
            return
        for lesson in screen.lessons:
            yield f"Go to lesson {lesson.label}", partial(screen.show_lesson, lesson), lesson.name

    async def discover(self) -> Hits:
        for text, callback, help_text in self._commands():
            yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)
