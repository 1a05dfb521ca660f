"""The lines the processes of a several-process run write for the worker: rank 0's run events on stdout
(``event_line``), and each rank's ``RankReport`` on stderr (``rank_line``). Each is one line after its
prefix, so the worker finds them among torchrun's own output."""

from __future__ import annotations

import msgspec

from tltui.core.protocol import codec
from tltui.core.protocol.events import RunEvent


class RankReport(msgspec.Struct, kw_only=True):
    """What one process of a several-process run tells the worker on its stderr, as a line of its own after
    ``RANK_LINE``: its pid when it starts, its reason (and what to change) when it fails. ``peer``: it failed
    only because another process had gone (a collective broke), so its reason is not the run's."""

    rank: int
    pid: int = 0
    reason: str = ""
    hint: str = ""
    peer: bool = False


RANK_LINE = "tltui-rank "
EVENT_LINE = "tltui-event "


def rank_line(report: RankReport) -> str:
    return RANK_LINE + codec.encode(report).decode()


def read_rank_line(line: str) -> RankReport | None:
    """The report in a line of a rank's stderr, or None if the line is not one."""
    _, found, text = line.partition(RANK_LINE)
    if not found:
        return None
    try:
        return msgspec.json.decode(text.strip(), type=RankReport)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def event_line(event: RunEvent) -> str:
    """Rank 0's ``event`` as a line of its stdout."""
    return EVENT_LINE + codec.encode(event).decode()


def read_event_line(line: str) -> RunEvent | None:
    """The event in a line of rank 0's stdout, or None if the line is not one; msgspec.DecodeError or
    ValidationError if it is one that cannot be read."""
    if not line.startswith(EVENT_LINE):
        return None
    return codec.decode_event(line[len(EVENT_LINE):].encode())
