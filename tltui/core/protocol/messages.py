"""Worker to client: one ``hello`` when the connection opens, then replies, errors, run events and progress."""

from __future__ import annotations

import msgspec

from tltui.core.protocol.events import RunEvent
from tltui.core.protocol.replies import Capabilities

PROTOCOL_VERSION = 4


class Message(msgspec.Struct, kw_only=True, tag_field="type"):
    pass


class Hello(Message, tag="hello"):
    """The worker's first line, once it can train."""

    protocol: int
    capabilities: Capabilities


class Reply(Message, tag="reply"):
    """The answer to request ``id``: its reply struct as JSON, decoded by whoever knows which it is."""

    id: int
    result: msgspec.Raw = msgspec.Raw(b"null")


class Error(Message, tag="error"):
    id: int | None
    message: str


class EventMessage(Message, tag="event"):
    event: RunEvent


class Working(Message, tag="working"):
    """Progress of a short job (request ``id``) before its reply: ``done`` of ``total`` steps."""

    id: int
    done: int
    total: int
    text: str = ""


AnyMessage = Hello | Reply | Error | EventMessage | Working
