"""The command palette: "Go to lesson ..." for every lesson, from any screen, and guards for Textual's
palette closed in the burst of keys that opened it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING

from textual.app import App
from textual.await_complete import AwaitComplete
from textual.command import CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.worker import WorkerFailed

from tltui.ui.lessons import Lesson

if TYPE_CHECKING:
    from tltui.ui.host import Tutor


class LessonCommands(Provider):
    """Offers every lesson by number and title; choosing one goes back to the lessons there."""

    app: Tutor  # type: ignore[assignment]  # Textual says App[object], and App[None] is not one (invariant)

    def _commands(self) -> Iterator[tuple[str, Callable[[], Awaitable[None]], str]]:
        for lesson in self.app.lessons:
            yield f"Go to lesson {lesson.label}", self._opener(lesson), lesson.name

    def _opener(self, lesson: Lesson) -> Callable[[], Awaitable[None]]:
        async def open_lesson() -> None:
            await self.app.open_lesson(lesson)

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



class Palette(CommandPalette):
    """Textual's command palette, whose escape waits until the palette has started. Opened and closed in
    one burst (ctrl+p then escape), Textual 8's palette ran its start after it had closed and raised
    IndexError looking for the screen under it, and a second palette then clashed with the first's id."""

    def _action_escape(self) -> None:
        if self.is_mounted:
            super()._action_escape()
        else:
            self.call_later(self._action_escape)

    def dismiss(self, result: None = None) -> AwaitComplete:
        """Close the palette, if it is still the screen shown. Textual's dismiss pops whatever screen is on top:
        a second choice in the burst that chose a lesson (its selection queued twice) came after the first
        had closed the palette and switched to the lessons, and popped their only screen
        (ScreenStackError, the tutor gone)."""
        if self is not self.app.screen:
            return AwaitComplete()  # closed already: nothing to pop
        return super().dismiss(result)


def failed_after_closing(app: App, error: BaseException) -> bool:
    """Whether ``error`` is a search of Textual's command palette that failed after the palette had closed
    (a command chosen, or escape, while more keys were coming): it looked for its list, gone with it
    (NoMatches). Nothing is left to fix, and the tutor goes on."""
    if not isinstance(error, WorkerFailed):
        return False
    trace = error.error.__traceback__
    while trace is not None:
        owner = trace.tb_frame.f_locals.get("self")
        if isinstance(owner, CommandPalette):
            return owner not in app.screen_stack
        trace = trace.tb_next
    return False
