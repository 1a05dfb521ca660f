"""The lines the processes of a several-process run write on stderr for the worker."""

from __future__ import annotations

import msgspec

_encoder = msgspec.json.Encoder()


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


def rank_line(report: RankReport) -> str:
    return RANK_LINE + _encoder.encode(report).decode() + "\n"


def read_rank_line(line: str) -> RankReport | None:
    """The report in a line of a rank's stderr, or None if the line is not one."""
    _, found, text = line.partition(RANK_LINE)
    if not found:
        return None
    try:
        return msgspec.json.decode(text.strip(), type=RankReport)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
