"""The two ways things go wrong, the same for the CLI, the worker and the engine."""

from __future__ import annotations


class BadInput(Exception):
    """The user's input cannot work; the message is one line for the user (the CLI exits 2)."""


class RunFailure(Exception):
    """The run broke while training (the CLI exits 1).

    ``reason`` says what happened in one line, ``hint`` what to change.
    """

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.hint = hint
