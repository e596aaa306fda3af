"""The change feed: the control plane's committed changes, told to the parts that cache them.

One contract (base.py), one module per implementation, chosen by name."""

from __future__ import annotations

import importlib
from typing import Any

from ember.feed.base import ChangeFeed

# Import strings, so an optional driver (PostgreSQL, NATS) is imported only when chosen.
CHANGE_FEEDS = {"memory": "ember.feed.memory:InProcessChangeFeed"}


def open_change_feed(kind: str, **options: Any) -> ChangeFeed:
    module_name, _, class_name = CHANGE_FEEDS[kind].partition(":")
    feed_class = getattr(importlib.import_module(module_name), class_name)
    return feed_class(**options)
