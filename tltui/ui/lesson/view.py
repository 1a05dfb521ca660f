"""One lesson, rendered: markdown sections with live widgets mounted in their places."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget

from tltui.ui.lesson.prose import PROSE_CSS, is_prose, prose_blocks
from tltui.ui.lessons import Lesson, MarkdownPart, Part, WidgetPart

if TYPE_CHECKING:
    from tltui.ui.host import Tutor

#: Source lines of leading prose composed for the first frame.
FIRST_SCREEN_LINES = 24
#: Markdown is mounted in chunks of about this many source lines: one chunk takes tens of
#: milliseconds, so a key pressed while a lesson fills in waits at most that long.
CHUNK_LINES = 10
_ITEM = re.compile(r"^(\d+\.|[-*+]) ")
_FENCE = re.compile(r"^(`{3,}|~{3,})")


def chunks(text: str, max_lines: int = CHUNK_LINES) -> list[tuple[str, bool]]:
    """``text`` split at top-level block boundaries (never inside a fence) into chunks of about
    ``max_lines`` lines; each with whether it ends inside a list that the next chunk continues."""
    found: list[tuple[str, bool]] = []
    current: list[str] = []
    fence = ""
    for line in text.splitlines():
        opens = _FENCE.match(line)
        boundary = not fence and current and (not current[-1].strip() and line.strip() and not line[0].isspace()
                                              or _ITEM.match(line))
        if boundary and len(current) >= max_lines:
            in_list = bool(_ITEM.match(line)) and bool(current[-1].strip())  # an item right after an item
            found.append(("\n".join(current), in_list))
            current = []
        if opens:
            fence = "" if fence and line.startswith(fence) else fence or opens.group(1)
        current.append(line)
    if current:
        found.append(("\n".join(current), False))
    return found


class LessonView(VerticalScroll, can_focus=False):
    """A scrollable lesson. Its leading prose is composed at once (without the Markdown widget);
    the rest is mounted after the first paint, one part per refresh, so a lesson appears fast and
    the keys never wait.

    It never takes the focus (a focus change restyles the focused widget's whole subtree, hundreds of
    blocks here): its screen binds the reading keys and calls the scroll methods below."""

    app: Tutor
    DEFAULT_CSS = PROSE_CSS + """
    LessonView {
        padding: 0 1;
        scrollbar-size-vertical: 1;
        & > Markdown { margin: 0; padding: 0 1; }
        & > Markdown.-list-open > MarkdownOrderedList:last-child,
        & > Markdown.-list-open > MarkdownBulletList:last-child { margin-bottom: 0; }
        MarkdownH1 { margin: 1 0 1 0; }
        MarkdownH2 { margin: 1 0 1 0; }
    }
    """

    def __init__(self, lesson: Lesson, scroll_y: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lesson = lesson
        self.resume_y = scroll_y
        """Where the learner left this lesson last time: scrolled to once every part is mounted."""
        self._pending: list[Part | tuple[str, bool]] = list(lesson.parts)
        self._laid_out = False
        self._paused: Callable[[], object] | None = None
        """The step to go on with once the lesson is in sight again (see resume); None while it goes on."""

    @property
    def complete(self) -> bool:
        """True once every part of the lesson is mounted and laid out (until then a part just mounted
        sits at the top of the focus order, which sorts by position)."""
        return self._laid_out

    def compose(self) -> ComposeResult:
        lines = 0
        while self._pending and lines < FIRST_SCREEN_LINES:
            part = self._pending[0]
            if not (isinstance(part, MarkdownPart) and is_prose(part.text)):
                break
            self._pending.pop(0)
            lines += part.text.count("\n")
            yield from prose_blocks(part.text)
        # what is left is mounted after the first paint, markdown a chunk at a time
        self._pending = [piece for part in self._pending for piece in (
            chunks(part.text) if isinstance(part, MarkdownPart) else [part])]

    def on_mount(self) -> None:
        self.call_after_refresh(self._after_first_paint)

    def _in_sight(self) -> bool:
        return self.display and self.screen.is_current

    def _after_first_paint(self, laid_out: bool = False) -> None:
        """Start mounting the rest once the composed prose has been laid out and drawn. Textual draws no
        frame until the app's own mount has run, so a part mounted before that delays the tutor's first
        frame (the first check: 75 ms). A lesson left before its first paint waits to be shown again: it
        asked after each refresh whether it was laid out, and used 60 % of the CPU while another screen was
        shown (a lesson opened and T in one burst)."""
        if not self.is_attached:
            return
        if laid_out:
            self.call_after_refresh(self._mount_next)
        elif self.app.started and not self._in_sight():
            self._paused = self._after_first_paint
        else:
            ready = self.app.started and (not self.children or self.children[0].region.height > 0)
            self.call_after_refresh(self._after_first_paint, ready)

    async def _mount_next(self) -> None:
        if self._pending and self.is_attached:  # not while the app closes
            if not self._in_sight():
                self._paused = self._mount_next  # out of sight (another lesson, another screen): see resume
                return
            await self.mount(self._build(self._pending.pop(0)))
            self.call_after_refresh(self._mount_next)
        elif not self._pending:
            self._laid_out = True  # called after the refresh that laid out the last part
            if self.resume_y:
                self.scroll_to(y=self.resume_y, animate=False)
                self.resume_y = 0.0

    def resume(self) -> None:
        """Go on mounting the parts once the lesson is in sight again. A lesson left half mounted took
        the CPU from the screen or lesson shown instead (a T as the first lesson was painted waited
        100 ms more for the lesson's markdown)."""
        if self._paused is not None:
            step, self._paused = self._paused, None
            self.call_after_refresh(step)

    @staticmethod
    def _build(part: Part | tuple[str, bool]) -> Widget:
        if isinstance(part, tuple):
            from tltui.ui.lesson.table import LessonMarkdown

            text, list_open = part
            return LessonMarkdown(text, open_links=False, classes="-list-open" if list_open else "")
        from tltui.ui.lesson.registry import build_widget

        assert isinstance(part, WidgetPart)  # compose cut the markdown parts into (text, list open) chunks
        return build_widget(part)

    # Keys scroll at once: an animated scroll drops key presses that arrive while it runs.
    def action_scroll_down(self) -> None:
        self.scroll_relative(y=1, animate=False)

    def action_scroll_up(self) -> None:
        self.scroll_relative(y=-1, animate=False)

    def action_page_down(self) -> None:
        self.scroll_page_down(animate=False)

    def action_page_up(self) -> None:
        self.scroll_page_up(animate=False)

    def action_scroll_home(self) -> None:
        self.scroll_home(animate=False)

    def action_scroll_end(self) -> None:
        """Bottom of the lesson, the parts not mounted yet included."""
        if not self.complete:
            self.call_after_refresh(self.action_scroll_end)
        else:
            self.scroll_end(animate=False)
