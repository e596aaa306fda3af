"""Per-minute metric aggregation: recorded in memory on the hot path, merged into the store
by a background task every FLUSH_INTERVAL_S, and read back as one view of both.

`record` is a dict lookup and an Aggregate.add: cheap enough for every invocation. A crash
loses at most the last flush interval of metrics; a clean shutdown flushes everything.
Minutes older than the retention period are deleted once a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ember.clock import Clock, SystemClock
from ember.telemetry.metric_store import Dimensions, MetricStore, Point, Series
from ember.telemetry.sketch import Aggregate

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 2.0
SWEEP_INTERVAL_S = 60.0
MINUTE_MS = 60_000


def minute_of(epoch_ms: int) -> int:
    return epoch_ms - epoch_ms % MINUTE_MS


class MetricsRecorder:
    def __init__(self, store: MetricStore, retention_s: float, clock: Clock | None = None) -> None:
        self.store = store
        self.retention_s = retention_s
        self.clock = clock or SystemClock()
        self._pending: dict[tuple[Series, int], tuple[str, Aggregate]] = {}
        #: held while pending data moves to the store, and while a read combines the two, so a
        #: read sees each sample exactly once
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._is_stopping = False
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever())

    def record(self, namespace: str, metric_name: str, dimensions: Dimensions, value: float, unit: str,
               at_ms: int | None = None) -> None:
        """Add one sample; `dimensions` are sorted (name, value) pairs."""
        minute = minute_of(at_ms if at_ms is not None else self.clock.time_ms())
        key = (Series(namespace, metric_name, dimensions), minute)
        entry = self._pending.get(key)
        if entry is None:
            entry = self._pending[key] = (unit, Aggregate())
        entry[1].add(value)

    async def read(self, series: Series, start_ms: int, end_ms: int) -> dict[int, tuple[str, Aggregate]]:
        """The series' minutes in [start_ms, end_ms): minute → (unit, aggregate)."""
        async with self._lock:
            minutes: dict[int, tuple[str, Aggregate]] = {}
            for point in await self.store.read(series, start_ms, end_ms):
                minutes[point.minute_ms] = (point.unit, point.aggregate)
            for (pending_series, minute), (unit, aggregate) in self._pending.items():
                if pending_series == series and start_ms <= minute < end_ms:
                    if minute in minutes:
                        merged = Aggregate()
                        merged.merge(minutes[minute][1])
                        merged.merge(aggregate)
                        minutes[minute] = (unit, merged)
                    else:
                        minutes[minute] = (unit, aggregate)
            return minutes

    async def list_series(self, namespace: str | None, metric_name: str | None, since_ms: int) -> list[Series]:
        async with self._lock:
            found = set(await self.store.list_series(namespace, metric_name, since_ms))
        for series, minute in list(self._pending):
            if minute >= minute_of(since_ms) and namespace in (None, series.namespace) and \
                    metric_name in (None, series.metric_name):
                found.add(series)
        return sorted(found, key=lambda s: (s.namespace, s.metric_name, s.dimensions))

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            taken, self._pending = self._pending, {}
            points = [Point(series, minute, unit, aggregate) for (series, minute), (unit, aggregate) in taken.items()]
            try:
                await self.store.merge(points)
            except Exception:
                log.exception("could not write %d metric points; they are lost", len(points))

    async def _flush_forever(self) -> None:
        next_sweep = self.clock.monotonic()
        while not self._is_stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL_S)
            await self.flush()
            if self.clock.monotonic() >= next_sweep:
                next_sweep = self.clock.monotonic() + SWEEP_INTERVAL_S
                try:
                    await self.delete_expired()
                except Exception:
                    log.exception("could not delete old metric data")

    async def delete_expired(self) -> None:
        """Delete the stored minutes that began before the retention period."""
        await self.store.delete_older(minute_of(self.clock.time_ms() - int(self.retention_s * 1000)))

    async def close(self) -> None:
        """Shutdown: stop the flusher, then write what is still in memory."""
        self._is_stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.flush()
