"""Unit tests for telemetry's pure parts and its stores on a temp dir: sketches, dimension sets,
the log writer's buffer and the metrics recorder's view of pending and stored data."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from ember.clock import FakeClock
from ember.telemetry import log_writer
from ember.telemetry.log_writer import LogWriter
from ember.telemetry.metric_store import Series
from ember.telemetry.metrics import MetricsRecorder
from ember.telemetry.recorder import dimension_sets
from ember.telemetry.sketch import RELATIVE_ACCURACY, Aggregate
from ember.telemetry.sqlite_log_store import SQLiteLogStore
from ember.telemetry.sqlite_metric_store import SQLiteMetricStore


def exact_percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[int(rank) - 1]


@pytest.mark.parametrize("percent", [50, 90, 99, 99.9])
def test_sketch_percentiles_are_within_the_relative_accuracy(percent: float) -> None:
    generator = random.Random(7)
    values = [generator.lognormvariate(3, 1.2) for _ in range(5000)]
    aggregate = Aggregate()
    for value in values:
        aggregate.add(value)
    estimate = aggregate.percentile(percent)
    assert estimate is not None
    assert abs(estimate - exact_percentile(values, percent)) <= exact_percentile(values, percent) * RELATIVE_ACCURACY
    assert aggregate.count == 5000 and aggregate.minimum == min(values) and aggregate.maximum == max(values)


def test_sketches_merge_as_if_recorded_together() -> None:
    first, second, together = Aggregate(), Aggregate(), Aggregate()
    for value in [1.0, 2.0, 3.0, 0.0]:
        first.add(value)
        together.add(value)
    for value in [10.0, 20.0]:
        second.add(value)
        together.add(value)
    first.merge(second)
    assert first.to_record() == together.to_record()
    assert Aggregate.from_record(first.to_record()).percentile(50) == together.percentile(50)


def test_small_samples_use_the_nearest_rank() -> None:
    aggregate = Aggregate()
    for value in [1.12, 2.33, 4.19]:
        aggregate.add(value)
    assert aggregate.percentile(99) == pytest.approx(4.19, rel=RELATIVE_ACCURACY)
    assert aggregate.percentile(50) == pytest.approx(2.33, rel=RELATIVE_ACCURACY)
    assert Aggregate().percentile(99) is None


def test_dimension_sets_follow_lambda() -> None:
    account, function = (), (("FunctionName", "f"),)
    assert dimension_sets("f", None, "$LATEST") == [account, function]
    assert dimension_sets("f", "3", "3") == [account, function, (("FunctionName", "f"), ("Resource", "f:3"))]
    assert dimension_sets("f", "live", "2") == [
        account, function, (("FunctionName", "f"), ("Resource", "f:live")),
        (("ExecutedVersion", "2"), ("FunctionName", "f"), ("Resource", "f:live"))]


def test_the_log_writer_commits_on_flush_and_marks_what_it_drops_when_full(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> None:
        store = SQLiteLogStore(tmp_path / "logs.db")
        writer = LogWriter(store)
        writer.start()
        writer.submit("/g", "s", [(1, "one\n"), (2, "two\n")])
        await writer.flush()
        events = await store.stream_events("/g", "s", None, None, (0, 0), True, 10)
        assert [e.message for e in events] == ["one\n", "two\n"]

        monkeypatch.setattr(log_writer, "MAX_BUFFERED_BYTES", 2 * log_writer.EVENT_OVERHEAD_BYTES)
        writer.submit("/g", "s", [(3, "x" * 8)])
        writer.submit("/g", "s", [(4, "y" * 8), (5, "z" * 4)])  # over the bound: dropped, and marked
        writer.submit("/g", "s", [(6, "w" * 8)])  # dropped too: nothing is kept after a gap until it is marked
        assert writer.dropped_events == 3
        await writer.flush()
        writer.submit("/g", "s", [(7, "after\n")])
        await writer.close()
        events = await store.stream_events("/g", "s", None, None, (2, 2**62), True, 10)
        assert [(e.timestamp_ms, e.message) for e in events] == [
            (3, "x" * 8), (4, "[… 20 bytes dropped …]\n"), (7, "after\n")]
        await store.close()

    asyncio.run(scenario())


def test_the_log_writer_sweeps_expired_events_once_a_minute_of_its_clock(tmp_path: Path) -> None:
    day_ms = 86_400_000

    async def scenario() -> None:
        clock = FakeClock()
        store = SQLiteLogStore(tmp_path / "logs.db", clock)
        writer = LogWriter(store, clock)
        writer.start()
        now_ms = clock.time_ms()

        async def stored() -> list[str]:
            # The store runs one statement at a time, in order: a read after a flush comes after any
            # sweep the writer started on its way back from that write.
            return [e.message for e in await store.stream_events("/g", "s", None, None, (0, 0), True, 10)]

        writer.submit("/g", "s", [(now_ms - 2 * day_ms, "two days old\n"), (now_ms, "new\n")])
        await writer.flush()
        await store.set_retention("/g", 1)
        clock.advance(log_writer.RETENTION_SWEEP_INTERVAL_S - 1)
        writer.submit("/g", "s", [(now_ms, "newer\n")])
        await writer.flush()
        assert await stored() == ["two days old\n", "new\n", "newer\n"]  # no sweep yet
        clock.advance(1)
        writer.submit("/g", "s", [(now_ms, "newest\n")])
        await writer.flush()
        assert await stored() == ["new\n", "newer\n", "newest\n"]  # a minute on: swept, by the clock's day
        await writer.close()
        await store.close()

    asyncio.run(scenario())


def test_metric_reads_combine_stored_and_pending_minutes_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = SQLiteMetricStore(tmp_path / "metrics.db")
        recorder = MetricsRecorder(store, retention_s=3600)
        series = Series("AWS/Lambda", "Duration", (("FunctionName", "f"),))
        recorder.record("AWS/Lambda", "Duration", series.dimensions, 10, "Milliseconds", at_ms=120_000)
        await recorder.flush()
        recorder.record("AWS/Lambda", "Duration", series.dimensions, 30, "Milliseconds", at_ms=150_000)
        minutes = await recorder.read(series, 0, 600_000)
        assert list(minutes) == [120_000]
        unit, aggregate = minutes[120_000]
        assert (unit, aggregate.count, aggregate.total) == ("Milliseconds", 2, 40)
        await recorder.flush()
        assert (await recorder.read(series, 0, 600_000))[120_000][1].count == 2
        assert await recorder.list_series("AWS/Lambda", None, 0) == [series]
        assert await store.delete_older(180_000) == 1
        await store.close()

    asyncio.run(scenario())
