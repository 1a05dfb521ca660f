"""The app as the tutor's screens and widgets see it: what they type ``self.app`` as (``app: Tutor``),
instead of the app class, which imports them. So no screen or widget imports the app, and no import circle
runs through it.

``Tutor`` is Textual's App plus the tutor's own parts: the worker link, the learner's progress and the
signals about the worker and its runs, the lessons, and the modes. It is an abstract App subclass rather
than a ``typing.Protocol`` because a widget's ``app`` must stay an App (Textual types it so, and the widgets
push screens and read the theme through it), and a class cannot derive from both App and a Protocol (their
metaclasses conflict), nor can typing say "an App that also follows this Protocol". ``TutorApp`` is the one
implementation; mypy refuses to create it while it lacks an abstract method of this class.
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from textual.app import App
from textual.signal import Signal

from tltui.ui.lessons import Lesson
from tltui.ui.progress import LearnerProgress

if TYPE_CHECKING:
    from tltui.ui.link import State, WorkerLink


class Tutor(App[None]):
    """The tutor app's interface for its screens and widgets."""

    lessons: list[Lesson]
    progress: LearnerProgress
    """What the learner did: saved by ``save_progress``."""
    quitting: bool
    """True from q (or ctrl+q) on: keys still coming are dropped."""
    started: bool
    """Whether the app's own mount has run: Textual draws none of its frames before (they are held in a batch
    while the first screen mounts)."""
    run_signal: Signal[str]
    """The id of a run that has news (events, or it ended)."""
    run_list_signal: Signal[None]
    """The worker's run list changed."""
    worker_signal: Signal[State]
    """The worker started, said hello, or stopped."""

    @property
    @abstractmethod
    def link(self) -> WorkerLink:
        """The worker, started when something first needs it."""

    @property
    @abstractmethod
    def started_link(self) -> WorkerLink | None:
        """The worker link if something has asked for it, else None: reading this starts nothing."""

    @abstractmethod
    def save_progress(self) -> None:
        """Save ``progress`` soon."""

    @abstractmethod
    async def action_mode(self, mode: str) -> None:
        """Switch to a mode: ``lessons``, ``train`` or ``runs``."""

    @abstractmethod
    def bindings_as_shown(self, mode: str) -> AbstractContextManager[None]:
        """Within it, bindings are checked as ``mode``'s screen will have them once shown (for a screen built
        ahead: the app's mode keys leave out the current mode's)."""

    @abstractmethod
    async def open_lesson(self, lesson: Lesson) -> None:
        """Go to the lessons, at ``lesson``."""

    @abstractmethod
    async def train_with(self, command: list[str]) -> None:
        """Go to the training screen, ``command`` (arguments of ``tltui train``) in its form."""
