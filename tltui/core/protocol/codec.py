"""Protocol lines to and from their types: one JSON object per line, newline included."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from tltui.core.protocol.events import RunEvent
from tltui.core.protocol.messages import AnyMessage, Reply
from tltui.core.protocol.requests import AnyRequest, Request

R = TypeVar("R")

#: Longest line either side accepts, in bytes; longer ones get an error reply.
MAX_LINE = 4 * 1024 * 1024
#: Longest run event: a longer one (a confusion matrix of thousands of classes) is summarised by ``fit``.
MAX_EVENT = MAX_LINE // 4

_encoder = msgspec.json.Encoder()
_request_decoder = msgspec.json.Decoder(AnyRequest)
_message_decoder = msgspec.json.Decoder(AnyMessage)
_event_decoder = msgspec.json.Decoder(RunEvent)


def encode(obj: msgspec.Struct) -> bytes:
    """One protocol line, newline included."""
    return _encoder.encode(obj) + b"\n"


def decode_request(line: bytes) -> AnyRequest:
    """Raises msgspec.ValidationError / DecodeError on a bad line."""
    return _request_decoder.decode(line)


def decode_message(line: bytes) -> AnyMessage:
    return _message_decoder.decode(line)


def decode_event(line: bytes) -> RunEvent:
    return _event_decoder.decode(line)


def reply(request_id: int, result: msgspec.Struct | list) -> Reply:
    """The reply to request ``request_id``."""
    return Reply(id=request_id, result=msgspec.Raw(_encoder.encode(result)))


def decode_reply(request: Request[R], message: Reply) -> R:
    """``message``'s result as ``request``'s reply type; msgspec.ValidationError if it is not one."""
    return msgspec.json.decode(message.result, type=request.reply)


def to_builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)


def fit(event: RunEvent, limit: int = MAX_EVENT) -> RunEvent:
    """``event``, or if its line would pass ``limit`` bytes, the same event without its per-class detail
    (first the confusion matrix, then the error analysis, then per-class accuracies and class names): it
    still says how the run went."""
    cuts: tuple[dict[str, Any], ...] = ({"confusion": []}, {"analysis": None}, {"per_class_acc": {}, "classes": []})
    for cut in cuts:
        if len(_encoder.encode(event)) <= limit:
            break
        event = msgspec.structs.replace(event, **{k: v for k, v in cut.items() if hasattr(event, k)})
    return event
