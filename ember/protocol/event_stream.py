"""AWS's event stream encoding (application/vnd.amazon.eventstream), for outputs whose payload is an
event stream (Lambda's InvokeWithResponseStream): each event one binary message.

A message is a prelude (total length, headers length, both 4-byte big-endian, and their CRC32), the
headers (name length, name, type 7 = string, value length, value), the payload and the CRC32 of all
of it. botocore's EventStream decoder reads exactly this.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from botocore.model import Shape, StructureShape

from ember.protocol.values import to_json

CONTENT_TYPE = "application/vnd.amazon.eventstream"
_STRING = 7


def encode_message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    encoded = b"".join(len(name.encode()).to_bytes(1, "big") + name.encode() + bytes([_STRING])
                       + len(value.encode()).to_bytes(2, "big") + value.encode() for name, value in headers)
    total = 12 + len(encoded) + len(payload) + 4
    prelude = total.to_bytes(4, "big") + len(encoded).to_bytes(4, "big")
    message = prelude + zlib.crc32(prelude).to_bytes(4, "big") + encoded + payload
    return message + zlib.crc32(message).to_bytes(4, "big")


def encode_event(stream: StructureShape, name: str, value: dict[str, Any]) -> bytes:
    """One event of the stream `stream` (its member `name`), its fields in `value`."""
    event: Shape = stream.members[name]
    assert isinstance(event, StructureShape)
    payload_member = next((member for member, shape in event.members.items()
                           if shape.serialization.get("eventpayload")), None)
    if payload_member is not None and event.members[payload_member].type_name == "blob":
        payload, content_type = bytes(value.get(payload_member) or b""), "application/octet-stream"
    else:
        payload, content_type = json.dumps(to_json(event, value)).encode(), "application/json"
    return encode_message([(":event-type", name), (":content-type", content_type), (":message-type", "event")],
                          payload)


def encode_events(stream: StructureShape, events: list[dict[str, Any]]) -> bytes:
    """A whole stream: `events` in order, each {event name: fields}."""
    return b"".join(encode_event(stream, name, value) for event in events for name, value in event.items())
