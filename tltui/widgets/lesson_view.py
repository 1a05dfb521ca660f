"""One lesson, rendered: markdown sections with live widgets mounted in their places."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget

from tltui.lessons import Lesson, MarkdownPart, Part
from tltui.widgets.prose import PROSE_CSS, is_prose, prose_blocks

#: Source lines of leading prose composed for the first frame.
FIRST_SCREEN_LINES = 24


class LessonView(VerticalScroll, can_focus=True):
    """A scrollable lesson. Its leading prose is composed at once (without the Markdown widget);
    the rest is mounted after the first paint, one part per refresh, so a lesson appears fast and
    the keys never wait."""

    DEFAULT_CSS = PROSE_CSS + """
    LessonView {
        padding: 0 1;
        scrollbar-size-vertical: 1;
        & > Markdown { margin: 0; padding: 0 1; }
        MarkdownH1 { margin: 1 0 1 0; }
        MarkdownH2 { margin: 1 0 1 0; }
        &:focus { background-tint: $foreground 0%; }
    }
    """

    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "Top", show=False),
        Binding("G", "scroll_end", "Bottom", show=False),
        Binding("space", "page_down", "Page down", show=False),
        Binding("b", "page_up", "Page up", show=False),
    ]

    def __init__(self, lesson: Lesson, **kwargs) -> None:
        super().__init__(**kwargs)
        self.lesson = lesson
        self._pending: list[Part] = list(lesson.parts)
        self._laid_out = False

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

    def on_mount(self) -> None:
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self, laid_out: bool = False) -> None:
        """Start mounting the rest once the composed prose has been laid out and drawn."""
        if laid_out:
            self.call_after_refresh(self._mount_next)
        else:
            shown = bool(self.children) and self.children[0].region.height > 0
            self.call_after_refresh(self._after_first_paint, shown or not self.children)

    async def _mount_next(self) -> None:
        if self._pending:
            await self.mount(self._build(self._pending.pop(0)))
            self.call_after_refresh(self._mount_next)
        else:
            self._laid_out = True  # called after the refresh that laid out the last part

    @staticmethod
    def _build(part: Part) -> Widget:
        if isinstance(part, MarkdownPart):
            from textual.widgets import Markdown

            return Markdown(part.text, open_links=False)
        from tltui.widgets.registry import build_widget

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
