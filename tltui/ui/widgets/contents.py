"""The table of contents: every lesson, which were visited, which is open, and each check's score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tltui.ui.keys import bindings, hint
from tltui.ui.lessons import Lesson

#: Columns a lesson's line may use (the list is 32 wide, less its border and the option's padding).
LABEL_WIDTH = 29


class Contents(OptionList):
    """A list of lessons; enter opens one. Only ``t`` gives it the keys (``take_keys``): tab walks the live
    widgets of the lesson and never stops on the list, docked beside the lesson or not. On a narrow
    terminal it is drawn over the lesson (``-over``): beside it, the lesson would be laid out at another
    width each time the list shows or hides."""

    DEFAULT_CSS = """
    Contents {
        width: 32;
        height: 1fr;
        border: none;
        border-right: vkey $foreground 20%;
        padding: 0;
        &.-over {  /* over the lesson, not beside it: the lesson keeps its width, so nothing is laid out again */
            position: absolute;
            layer: over;
            background: $surface;
        }
        &:focus {
            border: none;
            border-right: thick $accent;
            & > .option-list--option-highlighted { text-style: bold reverse; }
        }
    }
    """

    HELP_TITLE = hint("Contents ({LessonScreen.contents})")
    BINDINGS = bindings("Contents")
    HELP_KEYS = [("enter", "open the lesson"), (hint("{LessonScreen.back}"), "close the contents")]

    @dataclass
    class Chosen(Message):
        """The learner picked a lesson."""

        lesson: Lesson

    def __init__(self, lessons: list[Lesson], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lessons = lessons
        self._taking_keys = False

    def allow_focus(self) -> bool:
        return self._taking_keys

    def take_keys(self) -> None:
        """Focus the list (``t``) at once, so that keys already typed behind ``t`` come to it (``focus()``
        waits for the app's queue: ``t`` PageDown enter paged and entered the lesson instead). It leaves the
        focus chain again when it loses the focus."""
        self._taking_keys = True
        self.screen.set_focus(self)

    def on_blur(self) -> None:
        self._taking_keys = False

    def show(self, current: Lesson, visited: list[str], scores: dict[str, tuple[int, int]] | None = None) -> None:
        """Redraw the marks: ``>`` the open lesson, a tick for visited ones, and the best score of each
        lesson's check of understanding that was tried (``3/4``)."""
        scores = scores or {}
        self.clear_options()
        self.add_options(
            Option(self._line(f"{self._mark(lesson, current, visited)} {lesson.label}", scores.get(lesson.name)),
                   id=lesson.name)
            for lesson in self.lessons
        )
        self.highlighted = current.number - 1

    @staticmethod
    def _line(label: str, score: tuple[int, int] | None) -> Text:
        """The label, shortened to leave room for the score at the right."""
        if score is None:
            return Text(label, overflow="ellipsis", no_wrap=True)
        right = f"{score[0]}/{score[1]}"
        room = LABEL_WIDTH - len(right) - 1
        if len(label) > room:
            label = label[:room - 1] + "…"
        return Text.assemble(label.ljust(room), " ", (right, "bold" if score[0] == score[1] else "dim"))

    @staticmethod
    def _mark(lesson: Lesson, current: Lesson, visited: list[str]) -> str:
        if lesson is current:
            return ">"
        return "✓" if lesson.name in visited else " "

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.Chosen(self.lessons[event.option_index]))
