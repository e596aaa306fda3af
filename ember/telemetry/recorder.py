"""The Telemetry the server wires into the invoker: logs to the LogWriter, metrics to the
MetricsRecorder (CloudWatch's AWS/Lambda namespace) and to Prometheus.

Dimensions follow Lambda: every sample is recorded for the account as a whole (no
dimensions) and for {FunctionName}; an invocation that named a qualifier also for
{FunctionName, Resource="NAME:QUALIFIER"}, and one through an alias for
{FunctionName, Resource, ExecutedVersion}.
"""

from __future__ import annotations

from typing import Protocol

from ember.telemetry.hooks import InvocationRecord, LambdaMetric, Telemetry, unit_of
from ember.telemetry.log_writer import LogWriter
from ember.telemetry.metric_store import Dimensions
from ember.telemetry.metrics import MetricsRecorder
from ember.telemetry.prometheus import PrometheusMetrics

NAMESPACE = "AWS/Lambda"
_ACCOUNT: Dimensions = ()


def log_group_name(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


class Concurrency(Protocol):
    """The scheduler's counts, read when an invocation starts."""

    def in_flight(self, function_name: str | None = None) -> int: ...
    def unreserved_in_flight(self) -> int: ...


def dimension_sets(function_name: str, qualifier: str | None, executed_version: str | None) -> list[Dimensions]:
    """The dimension sets one sample of a function is recorded under (sorted pairs each)."""
    sets: list[Dimensions] = [_ACCOUNT, (("FunctionName", function_name),)]
    if qualifier:
        resource = ("Resource", f"{function_name}:{qualifier}")
        sets.append((("FunctionName", function_name), resource))
        is_alias = qualifier != "$LATEST" and not qualifier.isdigit()
        if is_alias and executed_version:
            sets.append((("ExecutedVersion", executed_version), ("FunctionName", function_name), resource))
    return sets


class TelemetryRecorder(Telemetry):
    def __init__(self, logs: LogWriter, metrics: MetricsRecorder, prometheus: PrometheusMetrics,
                 concurrency: Concurrency) -> None:
        self.logs = logs
        self.metrics = metrics
        self.prometheus = prometheus
        self.concurrency = concurrency

    def _record(self, metric: LambdaMetric, dimension_sets_: list[Dimensions], value: float,
                at_ms: int | None = None) -> None:
        unit = unit_of(metric)
        for dimensions in dimension_sets_:
            self.metrics.record(NAMESPACE, metric, dimensions, value, unit, at_ms)

    def invocation_started(self, function_name: str, qualifier: str | None, executed_version: str) -> None:
        self._record(LambdaMetric.CONCURRENT_EXECUTIONS, [(("FunctionName", function_name),)],
                     self.concurrency.in_flight(function_name))
        self._record(LambdaMetric.CONCURRENT_EXECUTIONS, [_ACCOUNT], self.concurrency.in_flight())
        self._record(LambdaMetric.UNRESERVED_CONCURRENT_EXECUTIONS, [_ACCOUNT],
                     self.concurrency.unreserved_in_flight())

    def invocation_finished(self, record: InvocationRecord) -> None:
        sets = dimension_sets(record.function_name, record.qualifier, record.executed_version)
        at_ms = record.ended_ms
        self._record(LambdaMetric.INVOCATIONS, sets, 1, at_ms)
        self._record(LambdaMetric.ERRORS, sets, 1 if record.is_error else 0, at_ms)
        self._record(LambdaMetric.DURATION, sets, record.duration_ms, at_ms)
        self.prometheus.invocations.labels(record.function_name).inc()
        if record.is_error:
            self.prometheus.errors.labels(record.function_name).inc()
        self.prometheus.duration.labels(record.function_name).observe(record.duration_ms / 1000)

    def invocation_throttled(self, function_name: str, qualifier: str | None) -> None:
        self._record(LambdaMetric.THROTTLES, dimension_sets(function_name, qualifier, None), 1)
        self.prometheus.throttles.labels(function_name).inc()

    def log_lines(self, function_name: str, log_stream_name: str, events: list[tuple[int, str]]) -> None:
        self.logs.submit(log_group_name(function_name), log_stream_name, events)

    async def logs_committed(self) -> None:
        await self.logs.flush()

    def record_metric(self, metric: LambdaMetric, function_name: str | None, value: float,
                      qualifier: str | None = None, executed_version: str | None = None) -> None:
        if function_name is None:
            self._record(metric, [_ACCOUNT], value)
            return
        self._record(metric, dimension_sets(function_name, qualifier, executed_version), value)
        self.prometheus.record_other(metric, function_name, value)
