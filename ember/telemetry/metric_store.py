"""The MetricStore contract: per-minute aggregates of metric series (CloudWatch's data).

A series is (namespace, metric name, dimensions); a point is one series' Aggregate (count,
sum, min, max, quantile sketch) for one minute. Writes merge into what is stored, so a
minute recorded partly before and partly after a restart adds up. Metrics are acknowledged
to no one, so a committed write need only survive a crash of Ember, not of the machine.

Backends: `ember.telemetry.sqlite_metric_store:SQLiteMetricStore` (embedded, `metrics.db`).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ember.backends import backend_class
from ember.telemetry.sketch import Aggregate

# Import strings, so an optional driver is imported only when chosen.
METRIC_STORES = {"sqlite": "ember.telemetry.sqlite_metric_store:SQLiteMetricStore"}

Dimensions = tuple[tuple[str, str], ...]  #: sorted (name, value) pairs


@dataclass(frozen=True, slots=True)
class Series:
    namespace: str
    metric_name: str
    dimensions: Dimensions

    @property
    def dimensions_key(self) -> str:
        """The dimensions as canonical JSON (name-sorted [name, value] pairs): equal sets, equal strings."""
        return json.dumps([list(pair) for pair in self.dimensions])


def series_from_row(namespace: str, metric_name: str, dimensions_key: str) -> Series:
    return Series(namespace, metric_name, tuple((name, value) for name, value in json.loads(dimensions_key)))


@dataclass(frozen=True, slots=True)
class Point:
    series: Series
    minute_ms: int  #: epoch ms of the minute's start
    unit: str
    aggregate: Aggregate


class MetricStore(ABC):
    """Durable per-minute metric aggregates. Every write is committed before it returns."""

    @abstractmethod
    async def merge(self, points: Sequence[Point]) -> None:
        """Add each point's aggregate into what its series' minute holds (a new minute starts
        empty), all points in one transaction; the unit is the last one written."""

    @abstractmethod
    async def read(self, series: Series, start_ms: int, end_ms: int) -> list[Point]:
        """The series' minutes in [start_ms, end_ms), oldest first; [] for a series never written."""

    @abstractmethod
    async def list_series(self, namespace: str | None, metric_name: str | None, since_ms: int) -> list[Series]:
        """Each series with a minute at or after `since_ms` once, optionally only of one
        namespace or metric name; in no particular order."""

    @abstractmethod
    async def delete_older(self, cutoff_ms: int) -> int:
        """Delete every minute before `cutoff_ms`; return how many (series, minute) points went."""

    @abstractmethod
    async def close(self) -> None:
        """Finish pending work and release the backend."""


def open_metric_store(kind: str, **options: Any) -> MetricStore:
    store_class = backend_class(METRIC_STORES[kind], MetricStore)
    return store_class(**options)
