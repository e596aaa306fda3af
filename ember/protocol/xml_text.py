"""Rendering shaped values as the XML AWS's query services answer with, as botocore reads it.

A structure's members are elements named by their `locationName` (else the member name); a list is
`<Name><member>…</member></Name>` (the member's own `locationName` if it has one), or, flattened,
one `<Name>` per item directly in the parent, named by the item's `locationName` when it has one;
a map is `<Name><entry><key>…</key><value>…</value></entry></Name>` (`key`/`value` renamed by their
`locationName`), or, flattened, one `<Name><key/><value/></Name>` per entry. Timestamps are ISO 8601
in UTC with a `Z` (unless the shape names another `timestampFormat`), booleans `true`/`false`, blobs
base64.

Text is escaped here rather than by a generic writer because XML cannot carry every string: a
carriage return is written as `&#13;` (a parser would read a raw one back as a newline), and
characters XML 1.0 forbids (most C0 controls, lone surrogates, U+FFFE/U+FFFF) become U+FFFD, so the
document always parses.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from botocore.model import Shape

from ember.protocol.values import as_datetime

#: what XML 1.0 does not allow in a document, even as a character reference
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """`value` escaped for an element's text."""
    return escape(_NOT_XML.sub("\ufffd", value), {"\r": "&#13;"})


def element_name(member: Shape, member_name: str) -> str:
    """The element a structure's member is written as (a flattened list's items carry the name of
    the list's member shape, as botocore's parser looks for them)."""
    if member.type_name == "list" and member.serialization.get("flattened"):
        item_name = member.member.serialization.get("name")  # type: ignore[attr-defined]
        if item_name:
            return str(item_name)
    return str(member.serialization.get("name", member_name))


def write_structure(out: list[str], shape: Shape, value: dict[str, Any]) -> None:
    """The members of `value` present in `shape`, in the model's order; None and unknown keys are left out."""
    for name, member in shape.members.items():  # type: ignore[attr-defined]
        member_value = value.get(name)
        if member_value is not None:
            write_member(out, member, element_name(member, name), member_value)


def write_member(out: list[str], shape: Shape, name: str, value: Any) -> None:
    """One member named `name`: one element, or for a flattened list or map, one per item."""
    if shape.serialization.get("flattened") and shape.type_name == "list":
        for item in value:
            if item is not None:
                _write_element(out, shape.member, name, item)  # type: ignore[attr-defined]
    elif shape.serialization.get("flattened") and shape.type_name == "map":
        for key, item in value.items():
            if item is not None:
                out.append(f"<{name}>")
                _write_entry(out, shape, key, item)
                out.append(f"</{name}>")
    else:
        _write_element(out, shape, name, value)


def _write_element(out: list[str], shape: Shape, name: str, value: Any) -> None:
    out.append(f"<{name}>")
    kind = shape.type_name
    if kind == "structure":
        write_structure(out, shape, value)
    elif kind == "list":
        item_shape = shape.member  # type: ignore[attr-defined]
        item_name = item_shape.serialization.get("name", "member")
        for item in value:
            if item is not None:  # a sparse list's nulls: the query protocol has no way to say null
                _write_element(out, item_shape, item_name, item)
    elif kind == "map":
        for key, item in value.items():
            if item is not None:
                out.append("<entry>")
                _write_entry(out, shape, key, item)
                out.append("</entry>")
    else:
        out.append(xml_text(scalar_text(shape, value)))
    out.append(f"</{name}>")


def _write_entry(out: list[str], shape: Shape, key: Any, value: Any) -> None:
    key_shape, value_shape = shape.key, shape.value  # type: ignore[attr-defined]
    _write_element(out, key_shape, key_shape.serialization.get("name", "key"), key)
    _write_element(out, value_shape, value_shape.serialization.get("name", "value"), value)


def scalar_text(shape: Shape, value: Any) -> str:
    """A scalar as the query protocol writes it."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        return _timestamp_text(shape, as_datetime(value))
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode()
    if kind in ("float", "double"):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return repr(number)
    if kind in ("integer", "long"):
        return str(int(value))
    return str(value)


def _timestamp_text(shape: Shape, moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    timestamp_format = shape.serialization.get("timestampFormat", "iso8601")
    if timestamp_format == "unixTimestamp":
        return repr(moment.timestamp())
    if timestamp_format == "rfc822":
        return format_datetime(moment, usegmt=True)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + "Z"
