"""The terminal driver: Textual's Linux driver, with an input thread that wakes when it has work.

Textual's input thread waits for input 100 ms at a time and looks for a timed-out escape only between
waits, so a lone esc came 100 ms after the escape delay began at the earliest, whatever ``ESCDELAY`` said
(benchmarks/keys.py: a bare Textual app's esc 104 ms p95). On quit the app waited for that thread to see
its stop flag at the end of a wait, then for one more 100 ms wait. Here the wait ends when the parser's
escape delay does, and a stop wakes the thread through a pipe.
"""

from __future__ import annotations

import contextlib
import os
import selectors
from codecs import getincrementaldecoder
from typing import Any

from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

#: Seconds the input thread waits for input when no escape is pending (Textual's own wait).
POLL_S = 0.1


def wait_s(parser: XTermParser, now: float) -> float:
    """Seconds to wait for input: until the parser's pending escape times out, at most ``POLL_S``."""
    deadline: float | None = parser._timeout_time  # Textual's Parser: when its current read times out
    return POLL_S if deadline is None else min(POLL_S, max(0.0, deadline - now))


class KeyDriver(LinuxDriver):
    """Textual's Linux driver whose input thread wakes when an escape times out and when input stops."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_r, self._wake_w = os.pipe()  # (not inherited by children; os.pipe2 is not on macOS)
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    def _drain_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 64):
                pass

    def run_input_thread(self) -> None:
        """Read the terminal, parse it and post its events until input is disabled."""
        self._drain_wake()
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        selector.register(self._wake_r, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def read(timeout: float) -> bool:
            """Read what the terminal sent within ``timeout`` and post its events; True when woken to stop."""
            woken = False
            for key, mask in selector.select(timeout):
                if key.fd == self._wake_r:
                    woken = True
                elif mask & selectors.EVENT_READ:
                    data = decode(os.read(self.fileno, 4096))
                    for event in parser.feed(data) if data else ():  # no data: a piped standard input
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)
            return woken

        try:
            while not self.exit_event.is_set() and not read(wait_s(parser, get_time())):
                pass
            selector.unregister(self.fileno)
            read(0)
        finally:
            selector.close()
            self._drain_wake()

    def disable_input(self) -> None:
        """Wake the input thread, then let Textual stop it (it waits for the thread to end)."""
        thread = self._key_thread
        if thread is not None and thread.is_alive() and not self.exit_event.is_set():
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"\0")
        super().disable_input()

    def close(self) -> None:
        """Close the writer and the wake pipe."""
        super().close()
        os.close(self._wake_r)
        os.close(self._wake_w)
