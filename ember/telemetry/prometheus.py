"""The same Lambda metrics in Prometheus' text format, for `GET /metrics`.

Counters and the duration histogram count since the server started (Prometheus' way: rates
come from the scraper); concurrency and environment gauges are read live at each scrape.
The registry is Ember's own, not prometheus_client's global one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from ember.telemetry.hooks import LambdaMetric, unit_of

__all__ = ["CONTENT_TYPE_LATEST", "LiveState", "PrometheusMetrics"]

#: seconds; Lambda durations run from a millisecond to 15 minutes
DURATION_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
#: metrics the invoke path records through its own calls rather than record_metric
_OWN_METRICS = {LambdaMetric.INVOCATIONS, LambdaMetric.ERRORS, LambdaMetric.THROTTLES, LambdaMetric.DURATION,
                LambdaMetric.CONCURRENT_EXECUTIONS, LambdaMetric.UNRESERVED_CONCURRENT_EXECUTIONS}


class LiveState(Protocol):
    """What the gauges read at scrape time (the scheduler and the log writer provide it)."""

    def in_flight_by_function(self) -> dict[str, int]: ...
    def unreserved_in_flight(self) -> int: ...
    def environment_count(self) -> int: ...
    def dropped_log_events(self) -> int: ...


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class PrometheusMetrics:
    def __init__(self, live: LiveState) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["function_name"]
        self.invocations = Counter("ember_lambda_invocations", "Invocations that ran (function errors included)",
                                   labels, registry=self.registry)
        self.errors = Counter("ember_lambda_errors", "Invocations that ended in a function error", labels,
                              registry=self.registry)
        self.throttles = Counter("ember_lambda_throttles", "Invocations refused with TooManyRequestsException",
                                 labels, registry=self.registry)
        self.duration = Histogram("ember_lambda_duration_seconds", "Time the handler ran", labels,
                                  buckets=DURATION_BUCKETS_S, registry=self.registry)
        # The metrics other features record (async queue, destinations, DLQ, provisioned concurrency).
        self._others: dict[str, Callable[[str, float], None]] = {}
        for metric in LambdaMetric:
            if metric in _OWN_METRICS:
                continue
            name = f"ember_lambda_{_snake(metric.value)}"
            if unit_of(metric) == "Count":
                counter = Counter(name, f"Lambda's {metric.value} metric", labels, registry=self.registry)
                self._others[metric] = _adding_to(counter)
            else:
                suffix = "_milliseconds" if unit_of(metric) == "Milliseconds" else "_ratio"
                gauge = Gauge(name + suffix, f"Lambda's {metric.value} metric (last sample)", labels,
                              registry=self.registry)
                self._others[metric] = _setting(gauge)
        self.registry.register(_LiveCollector(live))

    def record_other(self, metric: LambdaMetric, function_name: str, value: float) -> None:
        record = self._others.get(metric)
        if record is not None:
            record(function_name, value)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LiveCollector(Collector):
    def __init__(self, live: LiveState) -> None:
        self.live = live

    def collect(self) -> Iterator[Metric]:
        by_function = self.live.in_flight_by_function()
        concurrency = GaugeMetricFamily("ember_lambda_concurrent_executions", "Invocations in flight per function",
                                        labels=["function_name"])
        for name, count in sorted(by_function.items()):
            concurrency.add_metric([name], count)
        yield concurrency
        yield GaugeMetricFamily("ember_lambda_account_concurrent_executions",
                                "Invocations in flight across all functions", value=sum(by_function.values()))
        yield GaugeMetricFamily("ember_lambda_unreserved_concurrent_executions",
                                "Invocations in flight of functions without reserved concurrency",
                                value=self.live.unreserved_in_flight())
        yield GaugeMetricFamily("ember_environments", "Execution environments alive (warm or busy)",
                                value=self.live.environment_count())
        yield CounterMetricFamily("ember_log_events_dropped", "Log events dropped because the log store fell behind",
                                  value=self.live.dropped_log_events())


def _adding_to(counter: Counter) -> Callable[[str, float], None]:
    def add(function_name: str, value: float) -> None:
        counter.labels(function_name).inc(value)
    return add


def _setting(gauge: Gauge) -> Callable[[str, float], None]:
    def set_value(function_name: str, value: float) -> None:
        gauge.labels(function_name).set(value)
    return set_value
