"""Converting member values between wire text/JSON and Python, guided by shapes."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from botocore.model import Shape

from ember.errors import InvalidRequestContentException
from ember.protocol.json_text import UnreadableJson, load_json

#: the range of each integer kind, as the Java services behind the models hold them
INTEGER_RANGES = {"integer": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_JAVA_TYPES = {"integer": "int", "long": "long"}
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


class _BadValue(Exception):
    pass


class _OutOfRange(ValueError):
    pass


def _in_range(kind: str, number: int) -> int:
    low, high = INTEGER_RANGES[kind]
    if not low <= number <= high:
        raise _OutOfRange(f"Numeric value ({number}) out of range of {_JAVA_TYPES[kind]} ({low} - {high})")
    return number


def from_text(shape: Shape, text: str, location: str) -> Any:
    """A scalar from a URI label, query string or header, typed by `shape`."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            if not _INTEGER_TEXT.fullmatch(text):
                raise ValueError(text)
            return _in_range(kind, int(text))
        if kind in ("float", "double"):
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(text)
            return number
        if kind == "boolean":
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        if kind == "timestamp":
            return _parse_timestamp(text)
        if kind == "blob":
            return base64.b64decode(text, validate=True)
        if shape.serialization.get("jsonvalue"):
            return load_json(base64.b64decode(text))
    except (ValueError, OverflowError, OSError, binascii.Error) as exc:
        # OverflowError, OSError: a timestamp past what the platform's time_t holds
        detail = f": {exc}" if isinstance(exc, (UnreadableJson, _OutOfRange)) else ""
        raise InvalidRequestContentException(
            f"Could not parse {location} value '{text}' as {kind}{detail}"
        ) from None
    return text


def to_text(shape: Shape, value: Any) -> str:
    """A scalar rendered for a header or query string."""
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        moment = as_datetime(value)
        return format_datetime(moment.astimezone(dt.UTC), usegmt=True)
    if kind == "blob":
        return base64.b64encode(value).decode()
    if shape.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value).encode()).decode()
    return str(value)


def from_json(shape: Shape, value: Any, path: str = "") -> Any:
    """A JSON body value typed by `shape` (blobs decoded, timestamps parsed).

    Members given as `null` are left out, as if absent. Raises InvalidRequestContentException
    when the JSON type does not fit the shape, including numbers the member's type cannot hold
    (an integer past 32 bits, a long past 64, a double that is not finite).
    """
    try:
        return _from_json(shape, value)
    except _BadValue as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None


def _from_json(shape: Shape, value: Any) -> Any:
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _BadValue(f"expected an object for {shape.name}")
        members = shape.members  # type: ignore[attr-defined]
        return {k: _from_json(members[k], v) for k, v in value.items() if k in members and v is not None}
    if kind == "list":
        if not isinstance(value, list):
            raise _BadValue(f"expected an array for {shape.name}")
        return [_from_json(shape.member, v) for v in value]  # type: ignore[attr-defined]
    if kind == "map":
        if not isinstance(value, dict):
            raise _BadValue(f"expected an object for {shape.name}")
        return {str(k): _from_json(shape.value, v) for k, v in value.items()}  # type: ignore[attr-defined]
    if kind == "blob":
        if not isinstance(value, str):
            raise _BadValue(f"expected base64 text for {shape.name}")
        try:
            return base64.b64decode(value, validate=True)
        except ValueError:  # binascii.Error, or text that is not even ASCII
            raise _BadValue(f"{shape.name} is not valid base64") from None
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _BadValue(f"expected a boolean for {shape.name}")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, float) and not math.isfinite(value):
            # 1e999 reads as infinity: too large for any integer
            raise _BadValue(f"Numeric value ({value}) out of range of {_JAVA_TYPES[kind]} for {shape.name}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise _BadValue(f"expected an integer for {shape.name}, got {json.dumps(value)}")
        try:
            return _in_range(kind, int(value))
        except _OutOfRange as exc:
            raise _BadValue(f"{exc} for {shape.name}") from None
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _BadValue(f"expected a number for {shape.name}")
        try:
            number = float(value)
        except OverflowError:  # an integer with hundreds of digits
            number = math.inf
        if not math.isfinite(number):
            raise _BadValue(f"Numeric value out of range of {kind} for {shape.name}: it must be finite")
        return number
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise _BadValue(f"expected a timestamp for {shape.name}, got {json.dumps(value)}")
        try:
            return _parse_timestamp(value)
        except (ValueError, OverflowError, OSError):
            # OverflowError, OSError: seconds past what the platform's time_t holds
            raise _BadValue(f"{shape.name} is not a timestamp Ember can hold: {json.dumps(value)}") from None
    if kind == "string":
        if not isinstance(value, str):
            raise _BadValue(f"expected a string for {shape.name}, got {json.dumps(value)}")
        return value
    return value


def to_json(shape: Shape, value: Any) -> Any:
    """A Python value rendered as JSON for `shape`; members the shape lacks are dropped."""
    if value is None:
        return None
    kind = shape.type_name
    if kind == "structure":
        members = shape.members  # type: ignore[attr-defined]
        out = {}
        for name, member_value in value.items():
            member = members.get(name)
            if member is not None and member_value is not None and "location" not in member.serialization:
                out[member.serialization.get("name", name)] = to_json(member, member_value)
        return out
    if kind == "list":
        return [to_json(shape.member, v) for v in value]  # type: ignore[attr-defined]
    if kind == "map":
        return {k: to_json(shape.value, v) for k, v in value.items()}  # type: ignore[attr-defined]
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else value
        return base64.b64encode(raw).decode()
    if kind == "timestamp":
        return as_datetime(value).timestamp()
    return value


def _parse_timestamp(value: str | float | int) -> dt.datetime:
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    try:
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return parsedate_to_datetime(value)


def as_datetime(value: Any) -> dt.datetime:
    """`value` (a datetime, epoch seconds or timestamp text) as an aware datetime; naive means UTC."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return _parse_timestamp(value)
