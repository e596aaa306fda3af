"""The MetricStore contract (ember/telemetry/metric_store.py), run against every backend in METRIC_STORES."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ember.telemetry.metric_store import METRIC_STORES, MetricStore, Point, Series, open_metric_store
from ember.telemetry.sketch import Aggregate
from tests.unit.contract import scenario_runner

#: how to open each backend on a test's temporary folder
BACKEND_OPTIONS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "sqlite": lambda tmp_path: {"path": tmp_path / "metrics.db"},
}
MINUTE_MS = 60_000
DURATION = Series("AWS/Lambda", "Duration", (("FunctionName", "f"),))


def test_every_registered_metric_store_runs_the_contract() -> None:
    assert set(BACKEND_OPTIONS) == set(METRIC_STORES)


@pytest.fixture(params=sorted(METRIC_STORES))
def run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., None]:
    """run(scenario): `scenario(store, reopen)` on a fresh backend, closed afterwards."""
    return scenario_runner(open_metric_store, request.param, BACKEND_OPTIONS[request.param](tmp_path))


def point(series: Series, minute: int, *values: float, unit: str = "Milliseconds") -> Point:
    aggregate = Aggregate()
    for value in values:
        aggregate.add(value)
    return Point(series, minute * MINUTE_MS, unit, aggregate)


async def summary(store: MetricStore, series: Series, start: int = 0, end: int = 1000) -> list[tuple]:
    return [(p.minute_ms // MINUTE_MS, p.aggregate.count, p.aggregate.total, p.aggregate.minimum, p.aggregate.maximum)
            for p in await store.read(series, start * MINUTE_MS, end * MINUTE_MS)]


class TestMetricStoreContract:
    def test_merge_adds_into_a_minute_and_read_returns_a_range_oldest_first(self, run) -> None:
        async def scenario(store: MetricStore, reopen) -> None:
            await store.merge([point(DURATION, 3, 5.0, 7.0), point(DURATION, 1, 2.0)])
            await store.merge([point(DURATION, 3, 1.0), point(DURATION, 3, 20.0), point(DURATION, 5, 4.0)])
            assert await summary(store, DURATION) == [(1, 1, 2.0, 2.0, 2.0), (3, 4, 33.0, 1.0, 20.0),
                                                      (5, 1, 4.0, 4.0, 4.0)]
            # The start minute is in, the end minute is not.
            assert [m for m, *_ in await summary(store, DURATION, 3, 5)] == [3]
            [merged] = await store.read(DURATION, 3 * MINUTE_MS, 4 * MINUTE_MS)
            assert merged.series == DURATION and merged.unit == "Milliseconds"
            assert merged.aggregate.percentile(100) == pytest.approx(20.0, rel=0.02)  # the sketch is merged too

        run(scenario)

    def test_a_series_never_written_reads_empty(self, run) -> None:
        async def scenario(store: MetricStore, reopen) -> None:
            assert await store.read(DURATION, 0, 10**15) == []
            await store.merge([point(DURATION, 1, 1.0)])
            assert await store.read(Series("AWS/Lambda", "Duration", ()), 0, 10**15) == []
            assert await store.read(Series("AWS/Lambda", "Errors", DURATION.dimensions), 0, 10**15) == []

        run(scenario)

    def test_dimensions_tell_series_apart(self, run) -> None:
        async def scenario(store: MetricStore, reopen) -> None:
            account = Series("AWS/Lambda", "Duration", ())
            alias = Series("AWS/Lambda", "Duration", (("FunctionName", "f"), ("Resource", "f:live")))
            await store.merge([point(account, 1, 1.0), point(DURATION, 1, 2.0), point(alias, 1, 3.0)])
            assert await summary(store, account) == [(1, 1, 1.0, 1.0, 1.0)]
            assert await summary(store, DURATION) == [(1, 1, 2.0, 2.0, 2.0)]
            assert await summary(store, alias) == [(1, 1, 3.0, 3.0, 3.0)]

        run(scenario)

    def test_list_series_since_a_time_by_namespace_or_name_each_once(self, run) -> None:
        async def scenario(store: MetricStore, reopen) -> None:
            errors = Series("AWS/Lambda", "Errors", (("FunctionName", "f"),))
            custom = Series("Custom", "Duration", ())
            await store.merge([point(DURATION, 1, 1.0), point(DURATION, 9, 1.0), point(errors, 2, 1.0),
                               point(custom, 9, 1.0)])
            assert sorted(await store.list_series(None, None, 0), key=repr) == sorted(
                [DURATION, errors, custom], key=repr)
            assert set(await store.list_series(None, None, 5 * MINUTE_MS)) == {DURATION, custom}
            assert set(await store.list_series("AWS/Lambda", None, 0)) == {DURATION, errors}
            assert await store.list_series(None, "Errors", 0) == [errors]
            assert await store.list_series("AWS/Lambda", "Duration", 0) == [DURATION]
            assert await store.list_series("Nothing", None, 0) == []

        run(scenario)

    def test_delete_older_drops_whole_minutes_before_the_cutoff(self, run) -> None:
        async def scenario(store: MetricStore, reopen) -> None:
            errors = Series("AWS/Lambda", "Errors", ())
            await store.merge([point(DURATION, m, 1.0) for m in (1, 2, 3)] + [point(errors, 2, 1.0)])
            assert await store.delete_older(3 * MINUTE_MS) == 3
            assert [m for m, *_ in await summary(store, DURATION)] == [3]
            assert await store.read(errors, 0, 10**15) == []
            assert await store.delete_older(3 * MINUTE_MS) == 0

        run(scenario)

    def test_minutes_survive_a_reopen_and_keep_adding_up(self, run) -> None:
        async def scenario(store: MetricStore, reopen) -> None:
            await store.merge([point(DURATION, 1, 1.0)])
            await store.close()
            again = reopen()
            await again.merge([point(DURATION, 1, 2.0)])  # the same minute, after a restart
            assert await summary(again, DURATION) == [(1, 2, 3.0, 1.0, 2.0)]

        run(scenario)

    def test_concurrent_merges_into_one_minute_all_count(self, run) -> None:
        async def scenario(store: MetricStore, reopen) -> None:
            await asyncio.gather(*(store.merge([point(DURATION, 1, float(n))]) for n in range(1, 31)))
            assert await summary(store, DURATION) == [(1, 30, float(sum(range(1, 31))), 1.0, 30.0)]

        run(scenario)
