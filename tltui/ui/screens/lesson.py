"""The lesson screen: one lesson at a time, a table of contents, keys to move between them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import AwaitMount

from tltui.ui.keys import bindings, pager_keys
from tltui.ui.lesson.view import LessonView
from tltui.ui.lessons import Lesson
from tltui.ui.release import release
from tltui.ui.screens.mode import ModeScreen
from tltui.ui.widgets.footer import KeysFooter
from tltui.ui.widgets.top_bar import TopBar

if TYPE_CHECKING:
    from tltui.ui.host import Tutor
    from tltui.ui.lesson.check import LessonCheck
    from tltui.ui.widgets.contents import Contents

#: Two digits typed within this many seconds make one lesson number.
DIGIT_WINDOW = 1.0
#: From this many columns on, the table of contents is shown beside the lesson.
WIDE = 110
#: Lesson views kept mounted: the open one and the last ones read. An older one is removed (Textual
#: restyles, lays out and, at quit, unmounts every widget a screen holds, hidden or not: with all 15
#: lessons kept, L took seconds and quit 5 s); opened again, it comes back at its scroll position and
#: its widgets bring back their runs.
KEPT_VIEWS = 2


class LessonScreen(ModeScreen):
    """Reads lessons; keeps the views of the last KEPT_VIEWS lessons read (scroll position, live widgets)."""

    app: Tutor

    MODE = "lessons"
    HELP_TITLE = "Lessons"
    DEFAULT_CSS = """
    LessonScreen #body { layers: lesson over; }
    """
    AUTO_FOCUS = ""
    """Nothing has the focus on arrival: the screen's keys read the lesson; tab goes to its widgets."""
    BINDINGS = [*bindings("LessonScreen"), *pager_keys("read")]
    HELP_KEYS = [("0..9", "jump to a lesson (type 1 2 quickly for 12; 0 is 10), unless a live widget has the keys"),
                 ("tab shift+tab", "move between the live widgets of a lesson")]

    def __init__(self, lessons: list[Lesson], start: Lesson) -> None:
        super().__init__()
        self.lessons = lessons
        self.lesson = start
        self.views: dict[str, LessonView] = {}
        """The lesson views mounted, by name, the one read last at the end."""
        self.contents: Contents | None = None
        """The table of contents, once it is mounted and filled."""
        self._mounting: tuple[Contents, AwaitMount] | None = None
        """The contents being mounted, and its mount to wait for."""
        self._digits = ""
        self._digit_time = 0.0

    def compose(self) -> ComposeResult:
        yield TopBar()
        with Horizontal(id="body"):
            yield self._new_view(self.lesson)
        yield KeysFooter()

    def _new_view(self, lesson: Lesson) -> LessonView:
        view = LessonView(lesson, self.app.progress.scroll.get(lesson.name, 0.0))
        self.views[lesson.name] = view
        return view

    # Textual calls ModeScreen's on_mount too, after this one, so an async one here overrides nothing
    async def on_mount(self) -> None:  # type: ignore[override]  # (see above)
        await self.show_lesson(self.lesson)
        if self.app.size.width >= WIDE:
            self.call_after_refresh(self.show_contents, focus=False)

    async def on_resize(self, event: events.Resize) -> None:
        if event.size.width >= WIDE:
            await self.show_contents(focus=False)
        else:
            self.action_close_contents()

    async def build_contents(self) -> Contents:
        """The table of contents, mounted hidden the first time (the tutor does it while idle, off the first
        ``t``: warmup.build_ahead's ``then``)."""
        if self.contents is None:
            if self._mounting is None:
                from tltui.ui.widgets.contents import Contents  # (built while idle: off the first paint)

                contents = Contents(self.lessons)
                contents.display = False
                self._mounting = contents, self.query_one("#body").mount(contents, before=0)
            contents, mounted = self._mounting
            await mounted  # a t while the tutor builds it waits for the same one (focus needs it mounted)
            if self.contents is None:
                contents.show(self.lesson, self.app.progress.visited, self.app.progress.check_scores())
                self.contents = contents
        return self.contents

    async def show_contents(self, focus: bool = True) -> None:
        """Show the table of contents."""
        contents = await self.build_contents()
        if self.maximized is not None and self.maximized is not contents:
            self.minimize()  # a widget maximized from the palette would hide the contents
        contents.set_class(self.app.size.width < WIDE, "-over")
        contents.display = True  # not a class on the screen: that would restyle the whole lesson
        if focus:
            contents.take_keys()

    @property
    def view(self) -> LessonView:
        return self.views[self.lesson.name]

    async def show_lesson(self, lesson: Lesson) -> None:
        """Open ``lesson`` (its view is kept for when the learner comes back) and record the visit."""
        self.remember_scroll()
        self.set_focus(None)
        self.minimize()  # a widget maximized from the palette would hide the next lesson (Textual keeps it)
        old = self.views.get(self.lesson.name)
        self.lesson = lesson
        view = self.views.pop(lesson.name, None)
        if old is not None and old is not view:
            old.display = False  # first: the layout that mounting the next one brings skips this one
        if view is None:
            await self.query_one("#body").mount(self._new_view(lesson))
            view = self.view
        else:
            self.views[lesson.name] = view  # read last
        view.display = True
        view.resume()
        if len(self.views) > KEPT_VIEWS:
            self.call_after_refresh(self._drop_old_views)  # after the lesson is painted
        self.sub_title = f"{lesson.number}/{len(self.lessons)}  {lesson.title}"
        self.query_one(TopBar).title = f"tltui — {self.sub_title}"
        progress = self.app.progress
        progress.visit(lesson.name)
        self.app.save_progress()
        if self.contents is not None:
            self.contents.show(lesson, progress.visited, progress.check_scores())

    def _drop_old_views(self) -> None:
        """Remove the views beyond the last KEPT_VIEWS read (their subscriptions first: see release)."""
        while len(self.views) > KEPT_VIEWS:
            old = self.views.pop(next(iter(self.views)))
            release(old)
            old.remove()

    def action_read(self, how: str) -> None:
        """Scroll the open lesson: ``scroll_down``, ``page_up``, ``scroll_end``... (LessonView's methods)."""
        getattr(self.view, f"action_{how}")()

    def on_screen_suspend(self) -> None:
        self.remember_scroll()
        self.app.save_progress()

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        """The open lesson mounts the rest of its parts again (Textual calls ModeScreen's handler too)."""
        if self.lesson.name in self.views:
            self.view.resume()

    def remember_scroll(self) -> None:
        """Note how far down the open lesson is (saved with the next progress save)."""
        view = self.views.get(self.lesson.name)
        if view is not None and view.complete:
            self.app.progress.scroll[self.lesson.name] = round(view.scroll_y, 1)

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

    def on_key(self, event: events.Key) -> None:
        """Digits jump to a lesson while the lesson has the keys (nothing focused, or the contents); two
        typed within DIGIT_WINDOW (by when they were typed, not when they were handled) make one number.
        A live widget's digits are its own: an answer it does not take never opens another lesson. The jump
        is queued on the app, behind the keys before it: a binding (``n``, ``p``) runs once its key has come
        back up to the app, so a digit handled here at once came first (``n 4`` in one burst opened 5)."""
        if event.character is None or not event.character.isdigit():
            return
        if self.focused is not None and self.focused is not self.contents:
            return
        event.stop()
        digit = event.character
        combined = self._digits + digit
        if self._digits and event.time - self._digit_time < DIGIT_WINDOW and int(combined) <= len(self.lessons):
            number = int(combined)
            self._digits = ""
        else:
            number = int(digit) or 10
            self._digits = digit
        self._digit_time = event.time
        if 1 <= number <= len(self.lessons):
            self.app.call_later(self._jump, self.lessons[number - 1])
        else:
            self.notify(f"There are {len(self.lessons)} lessons.", timeout=2)

    async def _jump(self, lesson: Lesson) -> None:
        """A digit's lesson, opened in its turn on the app's queue (not once q has come in the same burst: the
        screen is being taken down)."""
        if not self.app.quitting:
            await self.show_lesson(lesson)

    async def action_toggle_contents(self) -> None:
        if self.contents is not None and self.contents.has_focus:
            self.action_close_contents()
        else:
            await self.show_contents()

    def action_back(self) -> None:
        """Give the keys back to the lesson from a live widget in it; else close the contents."""
        focused = self.focused
        if focused is not None and self.view in focused.ancestors:
            self.set_focus(None)
        else:
            self.action_close_contents()

    def action_close_contents(self) -> None:
        """Hide the contents (on a wide screen only take the focus back to the lesson)."""
        if self.contents is None:
            return
        if self.app.size.width < WIDE:
            self.contents.display = False
        if self.contents.has_focus or not self.contents.display:
            self.set_focus(None)

    def on_lesson_check_scored(self, message: LessonCheck.Scored) -> None:
        """A check of understanding was answered: its score in the contents follows."""
        if self.contents is not None:
            self.contents.show(self.lesson, self.app.progress.visited, self.app.progress.check_scores())

    async def on_contents_chosen(self, message: Contents.Chosen) -> None:
        await self.show_lesson(message.lesson)
        self.action_close_contents()
