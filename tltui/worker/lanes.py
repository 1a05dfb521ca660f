"""The daemon's lanes: each kind of work on threads of its own, served fairly between clients."""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from tltui.worker.connection import Connection

R = TypeVar("R")
LANE_THREADS = 2
"""Threads of each lane (store, runs, jobs): the most requests of one kind worked on at once."""


current_client: contextvars.ContextVar[Connection | None] = contextvars.ContextVar("client", default=None)
"""The connection whose request the current task answers (each request is a task of its own)."""


class Lane:
    """One kind of work on threads of its own: at most ``threads`` requests at once, the next taken from
    each waiting client in turn, so a client with many requests waiting delays another by one at most.
    With ``drop_gone``, a request whose client has gone by its turn is not worked on (ConnectionError)."""

    def __init__(self, name: str, threads: int = LANE_THREADS, drop_gone: bool = False) -> None:
        self.threads, self.drop_gone = threads, drop_gone
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=f"tltui-{name}")
        self._busy = 0
        self._waiting: dict[object, collections.deque[asyncio.Future]] = {}

    async def run(self, fn: Callable[..., R], *args: object) -> R:
        """``fn(*args)`` on one of this lane's threads, once it is the asking client's turn."""
        client = current_client.get()
        if self._busy < self.threads and not self._waiting:
            self._busy += 1
        else:
            turn = asyncio.get_running_loop().create_future()
            self._waiting.setdefault(client, collections.deque()).append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._next()  # handed a thread it will not use
                raise
        try:
            if self.drop_gone and client is not None and client.closed:
                raise ConnectionError("the client went away before its turn")
            return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))
        finally:
            self._next()

    def _next(self) -> None:
        """Hand the thread just freed to the first client in turn, who then goes to the back."""
        for client in list(self._waiting):
            queue = self._waiting.pop(client)
            turn = queue.popleft()
            if queue:
                self._waiting[client] = queue
            if not turn.done():
                turn.set_result(None)
                return
        self._busy -= 1
