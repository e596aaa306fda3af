"""List operations' `position` and `limit`: a page of at most `limit` items (25 unless told,
at most 500, as API Gateway pages), and an opaque position naming where the next page starts."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ember.errors import BadRequestException

T = TypeVar("T")

DEFAULT_LIMIT = 25
MAX_LIMIT = 500


def limit_of(params: dict[str, Any]) -> int:
    limit = params.get("limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequestException(f"Invalid limit {limit}: it must be between 1 and {MAX_LIMIT}")
    return int(limit)


def position_token(last_key: str) -> str:
    """The position after the item whose sort key is `last_key`."""
    return base64.urlsafe_b64encode(last_key.encode()).decode().rstrip("=")


def after_key(params: dict[str, Any]) -> str | None:
    """The sort key the request's `position` names (None: from the start)."""
    position = params.get("position")
    if position is None:
        return None
    try:
        padded = position + "=" * (-len(position) % 4)
        return base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequestException(f"Invalid position {position}: pass the position of the previous page's "
                                  "answer unchanged") from None


def page(items: Sequence[T], key: Callable[[T], str], params: dict[str, Any]) -> tuple[list[T], str | None]:
    """The page of `items` (in `key` order already) the request asks for, and the next position."""
    after = after_key(params)
    limit = limit_of(params)
    rest = [item for item in items if after is None or key(item) > after]
    chosen = rest[:limit]
    return chosen, position_token(key(chosen[-1])) if len(rest) > limit else None
