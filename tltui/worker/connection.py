"""One client of the daemon: the protocol lines it is sent, the runs it follows, and the lines read from it."""

from __future__ import annotations

import asyncio

from tltui.core.protocol import codec
from tltui.core.protocol.codec import MAX_LINE
from tltui.core.protocol.events import RunEvent
from tltui.core.protocol.messages import EventMessage, Message
from tltui.worker.log import log

MAX_BUFFER = 16 * 2**20
"""Bytes that may wait for one client; a client that lets more pile up (it does not read) is dropped."""


class Connection:
    """One client: writes protocol lines and remembers which runs it follows, and how far."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.following: dict[str, int] = {}
        self._held: dict[str, list[RunEvent]] = {}
        self.closed = False

    def send(self, message: Message) -> None:
        """Queue one line for the client; drop the client if too much is waiting for it already."""
        if self.closed or self.writer.is_closing():
            self.closed = True
            return
        self.writer.write(codec.encode(message))
        if self.writer.transport.get_write_buffer_size() > MAX_BUFFER:
            log(f"dropped a client that left {MAX_BUFFER >> 20} MiB unread; it can reconnect and replay")
            self.closed = True
            self.writer.transport.abort()

    def event(self, event: RunEvent) -> None:
        """Send ``event`` if this connection follows its run and has not had it yet."""
        held = self._held.get(event.run_id)
        if held is not None:
            held.append(event)
        else:
            self._send_event(event)

    def _send_event(self, event: RunEvent) -> None:
        sent = self.following.get(event.run_id)
        if sent is not None and event.seq > sent:
            self.following[event.run_id] = event.seq
            self.send(EventMessage(event=event))

    def hold(self, run_id: str, after_seq: int) -> None:
        """Follow ``run_id`` from ``after_seq``, keeping its live events back while the store is read."""
        self.following[run_id] = after_seq
        self._held[run_id] = []

    async def release(self, run_id: str, replayed: list[RunEvent]) -> None:
        """Send the events read from the store (as fast as the client reads them), then the live ones held
        meanwhile: each once, in order."""
        try:
            for n, event in enumerate(replayed, 1):
                self._send_event(event)
                if n % 1000 == 0 and not self.closed:
                    await self.writer.drain()
        finally:
            for event in self._held.pop(run_id, []):
                self._send_event(event)


class LineReader:
    """Splits a byte stream into lines; a line longer than ``limit`` is reported once, then skipped."""

    def __init__(self, limit: int = MAX_LINE) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """Complete lines in ``data`` (None stands for a line that was too long)."""
        lines: list[bytes | None] = []
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.limit:
                    if not self._skipping:
                        lines.append(None)
                    self._skipping = True
                    self._buffer.clear()
                return lines
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            if self._skipping:
                self._skipping = False
            elif len(line) > self.limit:
                lines.append(None)
            elif line.strip():
                lines.append(line)
