"""The telemetry parts of one server, built together: log store and writer, metric store and
recorder, Prometheus registry, and the Telemetry the invoker is handed."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ember.clock import Clock
from ember.telemetry.log_store import open_log_store
from ember.telemetry.log_writer import LogWriter
from ember.telemetry.metric_store import open_metric_store
from ember.telemetry.metrics import MetricsRecorder
from ember.telemetry.prometheus import PrometheusMetrics
from ember.telemetry.recorder import Concurrency, TelemetryRecorder


class SchedulerCounts(Concurrency, Protocol):
    """What telemetry reads of the scheduler: its counts, and nothing else of the invoke path.

    A Protocol rather than an import of the Scheduler, so telemetry stays below the invoke
    layer that reports to it.
    """

    def in_flight_by_function(self) -> dict[str, int]: ...
    @property
    def environment_count(self) -> int: ...


class _Live:
    """What the Prometheus gauges read at scrape time."""

    def __init__(self, scheduler: SchedulerCounts, writer: LogWriter) -> None:
        self.scheduler = scheduler
        self.writer = writer

    def in_flight_by_function(self) -> dict[str, int]:
        return self.scheduler.in_flight_by_function()

    def unreserved_in_flight(self) -> int:
        return self.scheduler.unreserved_in_flight()

    def environment_count(self) -> int:
        return self.scheduler.environment_count

    def dropped_log_events(self) -> int:
        return self.writer.dropped_events


class TelemetryPipeline:
    def __init__(self, data_dir: Path, scheduler: SchedulerCounts, metrics_retention_s: float,
                 clock: Clock | None = None) -> None:
        self.log_store = open_log_store("sqlite", path=data_dir / "logs.db", clock=clock)
        self.log_writer = LogWriter(self.log_store, clock)
        self.metric_store = open_metric_store("sqlite", path=data_dir / "metrics.db")
        self.metrics = MetricsRecorder(self.metric_store, metrics_retention_s, clock)
        self.prometheus = PrometheusMetrics(_Live(scheduler, self.log_writer))
        self.recorder = TelemetryRecorder(self.log_writer, self.metrics, self.prometheus, scheduler)

    def start(self) -> None:
        self.log_writer.start()
        self.metrics.start()

    async def close(self) -> None:
        """Shutdown: write what is buffered, then close the stores."""
        await self.log_writer.close()
        await self.metrics.close()
        await self.log_store.close()
        await self.metric_store.close()
