"""Keys as a terminal delivers them, and the screen as the terminal shows it, for the UI tests.

Textual's ``pilot.press`` waits after every key until each widget of the screen has drained its queue
(a round trip per widget: slow with a lesson's hundreds of blocks) and so never lets keys pile up; these
post keys to the app as the driver does, at the pace asked, and read the screen's characters back.
"""

from __future__ import annotations

import asyncio
import string
import unicodedata
from collections.abc import Iterable

from textual import events
from textual._wait import wait_for_idle
from textual.app import App
from textual.geometry import Region
from textual.keys import _character_to_key, _get_unicode_name_from_key

#: Actions that end the app: a walk of keys leaves them out.
QUITTING = ("quit", "app.quit")


#: Textual's key name of each printable character that is not its own name (``minus`` for ``-``).
_NAMED = {_character_to_key(c): c for c in string.printable if c.isprintable() and _character_to_key(c) != c}


def key_event(key: str) -> events.Key:
    """The event a terminal sends for ``key``, a Textual key name (``a``, ``question_mark``, ``ctrl+s``) or
    a printable character (``?``), with its character as Textual's driver gives it."""
    if len(key) == 1:
        return events.Key(_character_to_key(key), key)
    if key in _NAMED:
        return events.Key(key, _NAMED[key])
    try:
        character: str | None = unicodedata.lookup(_get_unicode_name_from_key(key))
    except KeyError:
        character = None
    return events.Key(key, character)


async def send(app: App, keys: Iterable[str], gap: float = 0.0) -> None:
    """Post ``keys`` to the app ``gap`` seconds apart, without waiting for it to handle them (0: all at
    once, as a terminal delivers a burst in one read)."""
    for key in keys:
        app.post_message(key_event(key))
        if gap:
            await asyncio.sleep(gap)  # the pace the keys are typed at: the stimulus, not a wait


async def idle(app: App) -> None:
    """Let the app handle what it was sent: until the process no longer works hard."""
    await asyncio.sleep(0)  # a turn of the loop for what was just posted, then until the process idles
    await wait_for_idle(0)


async def handled(app: App) -> None:
    """Let the app handle every key posted so far: a callback posted after them has run on the app's queue,
    then on its screen's (queues are first in, first out), then until the process idles. ``idle`` alone
    gives up after a second of work, with keys of a burst still waiting on a loaded machine."""
    for pump in (app, app.screen):
        done = asyncio.Event()
        if pump.call_later(done.set):  # False once the app or screen is closing
            await done.wait()
    await idle(app)


def quitting_keys(app: App) -> set[str]:
    """The keys that quit the app (where nothing else takes them)."""
    return {key for key, found in app._bindings.key_to_bindings.items()
            if any(binding.action in QUITTING for binding in found)}


def bound_keys(app: App) -> list[str]:
    """Every key bound where the app stands (the focused widget's, its containers', the screen's and the
    app's, as Textual's footer reads them), in a stable order; the keys that quit the app left out, even
    where they mean something else (q closes the help, and quits once it is closed)."""
    quitting = quitting_keys(app)
    return [key for key in app.screen.active_bindings if key not in quitting]


def screen_lines(app: App, region: Region | None = None) -> list[str]:
    """The characters of the screen, a string per row (no colours or styles: what ``NO_COLOR`` shows
    too); with ``region``, only that part of it."""
    lines = [strip.text for strip in app.screen._compositor.render_strips()]
    if region is None:
        return lines
    clipped = region.intersection(Region(0, 0, app.size.width, len(lines)))
    return [line[clipped.x:clipped.right] for line in lines[clipped.y:clipped.bottom]]
