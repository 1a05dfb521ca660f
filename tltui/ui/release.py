"""Letting go of widgets that leave for good: a closed dialog, a lesson view no longer kept.

A Textual signal holds each subscriber in its callback until the signal is next published; the app's
``theme_changed_signal`` may never be, so every chart that had subscribed (textual-plotext's own plot
does) stayed alive with its whole screen or lesson. Before such a subtree is removed, ``release``
unsubscribes each of its nodes from every signal of the app and of its screen.
"""

from __future__ import annotations

from textual.dom import DOMNode
from textual.signal import Signal


def signals(*owners: object) -> list[Signal]:
    """The signals that ``owners`` (the app, a screen) hold as attributes."""
    return [value for owner in owners for value in vars(owner).values() if isinstance(value, Signal)]


def release(root: DOMNode) -> None:
    """Unsubscribe ``root`` and every node under it from the app's and its screen's signals."""
    held = signals(root.app, root.screen) if root.is_attached else signals(root.app)
    for node in root.walk_children(with_self=True):
        for signal in held:
            signal.unsubscribe(node)
