"""MetricsRecorder's minute buckets and retention, on a fake clock and an in-memory store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ember.clock import FakeClock
from ember.telemetry.metric_store import MetricStore, Point, Series
from ember.telemetry.metrics import MINUTE_MS, MetricsRecorder, minute_of
from ember.telemetry.sketch import Aggregate

SERIES = Series("AWS/Lambda", "Duration", (("FunctionName", "f"),))


class MemoryMetricStore(MetricStore):
    def __init__(self) -> None:
        self.points: dict[tuple[Series, int], Point] = {}

    async def merge(self, points: Sequence[Point]) -> None:
        for point in points:
            held = self.points.get((point.series, point.minute_ms))
            aggregate = Aggregate()
            if held is not None:
                aggregate.merge(held.aggregate)
            aggregate.merge(point.aggregate)
            self.points[(point.series, point.minute_ms)] = Point(point.series, point.minute_ms, point.unit, aggregate)

    async def read(self, series: Series, start_ms: int, end_ms: int) -> list[Point]:
        return sorted((p for (s, m), p in self.points.items() if s == series and start_ms <= m < end_ms),
                      key=lambda p: p.minute_ms)

    async def list_series(self, namespace: str | None, metric_name: str | None, since_ms: int) -> list[Series]:
        return list({s for s, m in self.points if m >= since_ms})

    async def delete_older(self, cutoff_ms: int) -> int:
        old = [key for key in self.points if key[1] < cutoff_ms]
        for key in old:
            del self.points[key]
        return len(old)

    async def close(self) -> None:
        pass


def counts(minutes: dict[int, tuple[str, Aggregate]]) -> dict[int, int]:
    return {minute: aggregate.count for minute, (_, aggregate) in minutes.items()}


class TestMinuteBuckets:
    def test_samples_fall_in_the_minute_the_clock_is_in(self) -> None:
        async def scenario() -> None:
            clock = FakeClock(start_s=1_700_000_040.0)  # 0 s into a minute
            recorder = MetricsRecorder(MemoryMetricStore(), retention_s=3600, clock=clock)
            first = minute_of(clock.time_ms())
            recorder.record(SERIES.namespace, SERIES.metric_name, SERIES.dimensions, 10.0, "Milliseconds")
            clock.advance(59.999)
            recorder.record(SERIES.namespace, SERIES.metric_name, SERIES.dimensions, 20.0, "Milliseconds")
            clock.advance(0.001)  # the next minute
            recorder.record(SERIES.namespace, SERIES.metric_name, SERIES.dimensions, 30.0, "Milliseconds")
            minutes = await recorder.read(SERIES, first, first + 2 * MINUTE_MS)
            assert counts(minutes) == {first: 2, first + MINUTE_MS: 1}
            assert minutes[first][1].total == 30.0

        asyncio.run(scenario())

    def test_a_minute_flushed_and_still_pending_reads_as_one(self) -> None:
        async def scenario() -> None:
            clock = FakeClock(start_s=1_700_000_040.0)
            recorder = MetricsRecorder(MemoryMetricStore(), retention_s=3600, clock=clock)
            minute = minute_of(clock.time_ms())
            recorder.record(SERIES.namespace, SERIES.metric_name, SERIES.dimensions, 1.0, "Count")
            await recorder.flush()
            clock.advance(30)
            recorder.record(SERIES.namespace, SERIES.metric_name, SERIES.dimensions, 1.0, "Count")
            assert counts(await recorder.read(SERIES, minute, minute + MINUTE_MS)) == {minute: 2}

        asyncio.run(scenario())

    def test_minutes_older_than_the_retention_are_deleted(self) -> None:
        async def scenario() -> None:
            clock = FakeClock(start_s=1_700_000_040.0)
            store = MemoryMetricStore()
            recorder = MetricsRecorder(store, retention_s=3600, clock=clock)
            first = minute_of(clock.time_ms())
            recorder.record(SERIES.namespace, SERIES.metric_name, SERIES.dimensions, 1.0, "Count")
            clock.advance(60)
            recorder.record(SERIES.namespace, SERIES.metric_name, SERIES.dimensions, 1.0, "Count")
            await recorder.flush()
            clock.advance(3600)  # the first minute is now past the retention; the second is exactly at it
            await recorder.delete_expired()
            assert counts(await recorder.read(SERIES, 0, clock.time_ms())) == {first + MINUTE_MS: 1}

        asyncio.run(scenario())
