"""The in-process ChangeFeed: a list of callbacks, called in order under one lock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ember.feed.base import Change, ChangeFeed, Subscriber

log = logging.getLogger(__name__)


class InProcessChangeFeed(ChangeFeed):
    """Delivers each change to every subscriber before `publish` returns.

    One lock makes deliveries one at a time, so every subscriber sees the same total order: the
    order in which publishers got the lock."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._delivering = asyncio.Lock()
        self.is_closed = False

    async def publish(self, change: Change) -> None:
        async with self._delivering:
            if self.is_closed:
                return
            for subscriber in list(self._subscribers):
                try:
                    await subscriber(change)
                except Exception:
                    log.exception("a subscriber of the change feed failed on %r", change)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    async def close(self) -> None:
        self.is_closed = True
        self._subscribers.clear()
