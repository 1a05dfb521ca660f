"""The base screen of each mode (lessons, training, runs): kept while another mode is shown."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import events
from textual.screen import Screen


class ModeScreen(Screen):
    """A mode's screen, shown by its key (L, T, R) without restyling what it holds.

    Textual restyled the whole app (every screen, every widget) each time T or R was pressed: a mode's
    screen is not mounted yet when ``switch_mode`` refreshes the CSS for it, so its record of the CSS it
    was styled with stayed out of date, and every later switch to it refreshed all the CSS again (100
    to 200 ms; seconds once lessons had piled up). A screen is styled by the CSS of when it is mounted
    and says so; one made while the app runs (not the first, for which the app reads its CSS) says so
    from the start, which spares the refresh the first time too.

    And coming back to a screen restyled every widget it holds, although nothing they are styled by had
    changed: a theme change makes the app refresh all its CSS before the screen resumes (``switch_mode``
    compares the screen's CSS count with the app's), and a widget whose classes changed while hidden
    was restyled then. Textual skips it too when a dialog closes.
    """

    MODE: ClassVar[str]
    """The app's mode this screen is the base of."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shown = False
        """Whether the learner has seen the screen (one built ahead has not, yet)."""
        if self.app.screen_stack:  # not the first screen: the app refreshes its CSS for that one as it starts
            self._css_update_count = self.app._css_update_count

    def on_mount(self) -> None:
        """Textual calls this after the subclass's own ``on_mount``."""
        self._css_update_count = self.app._css_update_count

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        """Runs before Textual's own handler of the event, which reads ``refresh_styles``."""
        event.refresh_styles = False
        if self.is_current and not self.shown:
            self.shown = True
            self.on_first_show()

    def on_first_show(self) -> None:
        """The first time the learner sees the screen: what it asks of the worker starts here, not when it
        is built (the tutor builds the training and runs screens ahead, while idle: warmup.build_ahead)."""
