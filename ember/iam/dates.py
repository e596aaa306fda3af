"""The date and time values the Date condition operators compare: W3C ISO 8601 or epoch seconds.

IAM takes "one of the W3C implementations of the ISO 8601 date formats or epoch (UNIX) time"
(`2020-01-01`, `2020-01-01T00:00:01Z`, `2016-12-13T21:20:37.593194+00:00`, `1577836801`). It
refuses, at `CreatePolicy`, a value out of range ("The policy failed legacy parsing"): a month past
12, an hour past 23, a fraction of more than nine digits, an offset whose hours are not two digits,
an epoch past 2^63 - 1. `parse_date` accepts exactly what that check accepts.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

_ISO = re.compile(
    r"^(?P<year>-?\d+)(?:-(?P<month>\d+)(?:-(?P<day>\d+))?)?"
    r"(?:[Tt](?:(?P<hour>\d+)(?::(?P<minute>\d+)(?::(?P<second>\d+)(?:\.(?P<fraction>\d+))?)?)?)?"
    r"(?P<zone>[Zz]|[+-]\d\d(?::?\d\d)?)?)?$"
)
_EPOCH = re.compile(r"^\d+$")
#: the largest epoch IAM takes (a Java long)
MAX_EPOCH_S = 2**63 - 1
#: the years IAM takes (a Java date's range)
YEARS = range(-292275054, 292278994)


@lru_cache(maxsize=4096)
def parse_date(text: str) -> float:
    """Epoch seconds of an IAM date value; ValueError when IAM would refuse it."""
    if _EPOCH.match(text):
        epoch = int(text)
        if epoch > MAX_EPOCH_S:
            raise ValueError(f"epoch out of range: {text}")
        return float(epoch)
    match = _ISO.match(text)
    if match is None:
        raise ValueError(f"not a date: {text!r}")
    year = int(match["year"])
    month, day = _field(match["month"], 1, 1, 12), _field(match["day"], 1, 1, 31)
    hour, minute = _field(match["hour"], 0, 0, 23), _field(match["minute"], 0, 0, 59)
    second = _field(match["second"], 0, 0, 59)
    fraction = match["fraction"] or "0"
    if year not in YEARS or len(fraction) > 9:
        raise ValueError(f"date out of range: {text!r}")
    offset_s = _offset_s(match["zone"])
    if not 1 <= year <= 9999:
        # beyond what datetime holds: before or after every request
        return -math.inf if year < 1 else math.inf
    try:
        start = datetime(year, month, 1, tzinfo=UTC) + timedelta(days=day - 1, hours=hour, minutes=minute,
                                                                 seconds=second)
    except OverflowError:  # past the end of 9999
        return math.inf
    return start.timestamp() + int(fraction) / float(10 ** len(fraction)) - offset_s


def _field(text: str | None, default: int, low: int, high: int) -> int:
    if text is None:
        return default
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"{value} is not within {low}..{high}")
    return value


def _offset_s(zone: str | None) -> int:
    if zone is None or zone in ("Z", "z"):
        return 0
    digits = zone[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise ValueError(f"offset out of range: {zone}")
    sign = -1 if zone[0] == "-" else 1
    return sign * (hours * 3600 + minutes * 60)


def format_date(epoch_s: float) -> str:
    """`aws:CurrentTime`'s form: `2024-05-01T12:00:00Z`."""
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
