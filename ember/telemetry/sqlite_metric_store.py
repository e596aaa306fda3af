"""The embedded MetricStore: one row per series and minute, in SQLite (WAL) in the data dir.

A series' dimensions are kept as their canonical JSON (`Series.dimensions_key`), so equal
sets are equal keys. Its own database file (`metrics.db`), written with synchronous=NORMAL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from ember.store.sqlite_thread import SQLiteThread, immediate_transaction
from ember.telemetry.metric_store import MetricStore, Point, Series, series_from_row
from ember.telemetry.sketch import Aggregate

MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS metric_points (
        namespace TEXT NOT NULL,
        metric_name TEXT NOT NULL,
        dimensions TEXT NOT NULL,
        minute_ms INTEGER NOT NULL,
        unit TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (namespace, metric_name, dimensions, minute_ms)
    )
    """,
    "CREATE INDEX IF NOT EXISTS metric_points_by_minute ON metric_points (minute_ms)",
]


class SQLiteMetricStore(MetricStore):
    def __init__(self, path: Path) -> None:
        # a crash of Ember loses no committed minute
        self._sqlite = SQLiteThread(path, MIGRATIONS, is_durable=False, name="metrics")
        self._db = self._sqlite.db
        self._run = self._sqlite.run

    async def close(self) -> None:
        await self._sqlite.close()

    async def merge(self, points: Sequence[Point]) -> None:
        def write() -> None:
            with immediate_transaction(self._db):
                for point in points:
                    key = (point.series.namespace, point.series.metric_name, point.series.dimensions_key,
                           point.minute_ms)
                    row = self._db.execute(
                        "SELECT record FROM metric_points WHERE namespace = ? AND metric_name = ? AND dimensions = ? "
                        "AND minute_ms = ?", key).fetchone()
                    aggregate = Aggregate.from_record(json.loads(row[0])) if row else Aggregate()
                    aggregate.merge(point.aggregate)
                    self._db.execute("INSERT OR REPLACE INTO metric_points VALUES (?, ?, ?, ?, ?, ?)",
                                     (*key, point.unit, json.dumps(aggregate.to_record())))

        await self._run(write)

    async def read(self, series: Series, start_ms: int, end_ms: int) -> list[Point]:
        rows = await self._run(lambda: self._db.execute(
            "SELECT minute_ms, unit, record FROM metric_points WHERE namespace = ? AND metric_name = ? "
            "AND dimensions = ? AND minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms",
            (series.namespace, series.metric_name, series.dimensions_key, start_ms, end_ms)).fetchall())
        return [Point(series, minute, unit, Aggregate.from_record(json.loads(record))) for minute, unit, record in rows]

    async def list_series(self, namespace: str | None, metric_name: str | None, since_ms: int) -> list[Series]:
        conditions, args = ["minute_ms >= ?"], list[str | int]([since_ms])
        if namespace:
            conditions.append("namespace = ?")
            args.append(namespace)
        if metric_name:
            conditions.append("metric_name = ?")
            args.append(metric_name)
        rows = await self._run(lambda: self._db.execute(
            f"SELECT DISTINCT namespace, metric_name, dimensions FROM metric_points WHERE {' AND '.join(conditions)}",
            args).fetchall())
        return [series_from_row(*row) for row in rows]

    async def delete_older(self, cutoff_ms: int) -> int:
        return await self._run(lambda: self._db.execute(
            "DELETE FROM metric_points WHERE minute_ms < ?", (cutoff_ms,)).rowcount)
