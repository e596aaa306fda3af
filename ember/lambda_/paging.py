"""Marker/MaxItems pagination over an in-memory list, with opaque markers."""

from __future__ import annotations

import base64
import binascii
from typing import TypeVar

from ember.errors import InvalidParameterValueException

T = TypeVar("T")
DEFAULT_MAX_ITEMS = 50


def page(items: list[T], marker: str | None, max_items: int | None) -> tuple[list[T], str | None]:
    """The page of `items` after `marker`, and the marker of the next page (None at the end)."""
    start = _decode(marker) if marker else 0
    limit = max_items or DEFAULT_MAX_ITEMS
    end = start + limit
    next_marker = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], next_marker


def _decode(marker: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(marker.encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidParameterValueException(
            f"Invalid Marker: {marker}. Pass the NextMarker of a previous response."
        ) from None
