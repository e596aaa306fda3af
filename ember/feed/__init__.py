"""The change feed: the control plane's committed changes, told to the parts that cache them.

One contract (base.py), one module per implementation, chosen by name."""

from __future__ import annotations

from typing import Any

from ember.backends import backend_class
from ember.feed.base import ChangeFeed

# Import strings, so an optional driver (PostgreSQL, NATS) is imported only when chosen.
CHANGE_FEEDS = {"memory": "ember.feed.memory:InProcessChangeFeed"}


def open_change_feed(kind: str, **options: Any) -> ChangeFeed:
    feed_class = backend_class(CHANGE_FEEDS[kind], ChangeFeed)
    return feed_class(**options)
