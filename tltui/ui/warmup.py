"""Ahead of the learner: the modules of the screens not opened yet, one per turn of the event loop once
the tutor has been idle a moment, so the first ``T`` or ``R`` builds its screen without importing it
(about 120 ms of the first ``T`` on an idle 2-core machine; benchmarks/keys.py); then the screens
themselves, built off screen (composed, mounted, styled and laid out), so the first ``T`` or ``R`` only
shows one, as every later one does. A key pressed meanwhile waits for one import or one screen at most.
The garbage collector is calmed again afterwards, as at start-up, so the new modules and screens are out
of its sight too."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from textual.app import App
from textual.screen import Screen

AHEAD = ("tltui.core.protocol", "plotext", "textual_plotext", "PIL.Image", "tltui.core.codegen",
         "tltui.core.diagnosis", "tltui.ui.widgets.run_form", "tltui.ui.widgets.run_view", "tltui.ui.screens.train",
         "tltui.ui.screens.runs")
"""Heaviest first, each a part of the next: the training screen's (a third of its first key, under load)
and the runs screen's."""
IDLE_S = 0.25
"""After the first lesson is drawn, the wait before the first import."""
T = TypeVar("T")


def one_per_refresh(app: App[Any], pending: Callable[[], list[T]], do: Callable[[T], object],
                    then: Callable[[], None]) -> Callable[[], None]:
    """A step that does ``do`` to the first of ``pending()`` and comes back after ``app``'s next refresh,
    until nothing is pending; then it calls ``then``. A key pressed meanwhile waits for one ``do`` at most.
    Once the app has stopped running it does nothing more: a screen built while the app closes its screens
    changed the dict of them under Textual's loop over it (RuntimeError)."""
    def step() -> None:
        if not app.is_running:
            return
        waiting = pending()
        if not waiting:
            then()
            return
        do(waiting[0])
        app.call_after_refresh(step)

    return step


def import_ahead(app: App[Any], then: Callable[[], None]) -> None:
    """Import :data:`AHEAD`'s modules not imported yet, one per refresh of ``app`` after ``IDLE_S``; then
    call ``then``."""
    app.set_timer(IDLE_S, one_per_refresh(app, lambda: [name for name in AHEAD if name not in sys.modules],
                                          importlib.import_module, then))


def build_ahead(app: App[Any], modes: tuple[str, ...], then: Callable[[], None]) -> None:
    """Build the base screen of each of ``modes`` not built yet, then render each once, one step per refresh
    of ``app``, without showing them; then call ``then``. The renders come after all the builds: by then
    each screen's footer has most often drawn its keys (``KeysFooter`` draws them for a screen built ahead,
    and renders the screen again if they come later, as on a loaded machine). A screen
    built so asks nothing of the worker until it is first shown (``ModeScreen.on_first_show``). The build is
    Textual's own first step of switch_mode, ``_init_mode``: there is no public call that builds a mode's
    screen without showing it (made, mounted, laid out at the app's size)."""
    steps = [(mode, step) for step in ("build", "render") for mode in modes if mode not in app._screen_stacks]

    def do(item: tuple[str, str]) -> None:
        steps.remove(item)
        mode, step = item
        if mode in app._screen_stacks and step == "render":
            render_ahead(app._screen_stacks[mode][0])
        elif mode not in app._screen_stacks and step == "build":  # (not built by a T or R meanwhile)
            app._init_mode(mode)

    app.call_after_refresh(one_per_refresh(app, lambda: steps, do, then))


def render_ahead(screen: Screen) -> None:
    """Lay out what was mounted in ``screen`` since it was built (its footer's keys), as a shown screen does
    for itself, and render it once, to nothing: its widgets keep the lines they render, and the first time
    it is shown draws from them (about 20 ms of the first T's 130 here, in-process; the layout about 10 ms).
    A screen shown meanwhile, or not laid out yet, is left to Textual."""
    if not screen.is_current and screen._compositor.size:
        if screen._layout_required:  # as the screen does for itself once shown (Screen._on_timer_update)
            screen._refresh_layout()
            screen._layout_required = False
        screen._compositor.render_update(full=True)
