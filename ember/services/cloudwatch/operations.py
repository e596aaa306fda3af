"""CloudWatch metric reads: GetMetricStatistics, GetMetricData and ListMetrics, over the
one-minute aggregates that Ember's telemetry records (namespace AWS/Lambda)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from typing import Any

from ember.clock import Clock, SystemClock
from ember.errors import (
    InvalidNextToken,
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    ValidationException,
)
from ember.services.base import RequestContext
from ember.services.cloudwatch.statistics import by_period, check_stat, percentile_of, stat_value
from ember.telemetry.metric_store import Dimensions, Series
from ember.telemetry.metrics import MINUTE_MS, MetricsRecorder, minute_of

#: GetMetricStatistics answers at most this many datapoints per call
MAX_DATAPOINTS = 1440
LIST_PAGE_SIZE = 500
#: ListMetrics shows metrics with data in the last two weeks (RecentlyActive=PT3H: three hours)
LISTED_FOR_MS = 14 * 86_400_000
RECENTLY_ACTIVE_MS = 3 * 3_600_000


def _epoch_ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _dimensions(wire: list[dict[str, str]] | None) -> Dimensions:
    return tuple(sorted((item["Name"], item["Value"]) for item in wire or []))


def _check_range(start_ms: int, end_ms: int) -> None:
    if start_ms >= end_ms:
        raise InvalidParameterValueException("The parameter StartTime must be less than the parameter EndTime.")


def _check_period(period_s: int, parameter: str) -> None:
    # Ember keeps one-minute data only, so the sub-minute periods of high-resolution metrics do not apply.
    if period_s % 60:
        raise InvalidParameterValueException(f"The parameter {parameter} must be a multiple of 60.")


class CloudWatchOperations:
    def __init__(self, metrics: MetricsRecorder, clock: Clock | None = None) -> None:
        self.metrics = metrics
        self.clock = clock or SystemClock()  #: wall time: which metrics ListMetrics counts as recent

    async def get_metric_statistics(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        statistics, extended = p.get("Statistics") or [], p.get("ExtendedStatistics") or []
        if bool(statistics) == bool(extended):
            raise InvalidParameterCombinationException(
                "Must specify either Statistics or ExtendedStatistics, but not both.")
        for stat in extended:
            if percentile_of(stat) is None:
                raise InvalidParameterValueException(
                    f"The parameter ExtendedStatistics must be a percentile such as p99 or p99.9; got '{stat}'.")
        period_s = p["Period"]
        _check_period(period_s, "Period")
        start_ms, end_ms = minute_of(_epoch_ms(p["StartTime"])), _epoch_ms(p["EndTime"])
        _check_range(start_ms, end_ms)
        requested = math.ceil((end_ms - start_ms) / (period_s * 1000))
        if requested > MAX_DATAPOINTS:
            raise InvalidParameterCombinationException(
                f"You have requested up to {requested:,} datapoints, which exceeds the limit of {MAX_DATAPOINTS:,}. "
                "You may reduce the datapoints requested by increasing Period, or decreasing the time range.")
        series = Series(p["Namespace"], p["MetricName"], _dimensions(p.get("Dimensions")))
        minutes = await self.metrics.read(series, start_ms, end_ms)
        datapoints = []
        for period_start, (unit, aggregate) in sorted(by_period(minutes, start_ms, period_s * 1000,
                                                                p.get("Unit")).items()):
            point: dict[str, Any] = {"Timestamp": period_start / 1000, "Unit": unit}
            for stat in statistics:
                point[stat] = stat_value(aggregate, stat)
            if extended:
                point["ExtendedStatistics"] = {stat: stat_value(aggregate, stat) for stat in extended}
            datapoints.append(point)
        return {"Label": p["MetricName"], "Datapoints": datapoints}

    async def get_metric_data(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("NextToken"):
            raise InvalidNextToken("The NextToken was not given out by this server for this query.")
        start_ms, end_ms = minute_of(_epoch_ms(p["StartTime"])), _epoch_ms(p["EndTime"])
        _check_range(start_ms, end_ms)
        queries = p["MetricDataQueries"]
        if not queries:
            raise ValidationException("The parameter MetricDataQueries must contain at least one query.")
        ids = [query["Id"] for query in queries]
        if len(set(ids)) != len(ids):
            raise ValidationException("The values for parameter Id in MetricDataQueries must be unique.")
        is_descending = p.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        results = []
        for index, query in enumerate(queries, start=1):
            where = f"MetricDataQueries.member.{index}"
            if query.get("Expression"):
                raise InvalidParameterValueException(
                    f"Ember does not evaluate metric math yet ({where}.Expression of query '{query['Id']}'); "
                    "ask for the metric with MetricStat instead.")
            stat_query = query.get("MetricStat")
            if stat_query is None:
                raise ValidationException(f"The parameter {where} must have either MetricStat or Expression.")
            check_stat(stat_query["Stat"], f"{where}.MetricStat.Stat")
            period_s = stat_query["Period"]
            _check_period(period_s, f"{where}.MetricStat.Period")
            metric = stat_query["Metric"]
            if not metric.get("Namespace") or not metric.get("MetricName"):
                raise ValidationException(f"The parameter {where}.MetricStat.Metric must have a Namespace and a "
                                          "MetricName.")
            series = Series(metric["Namespace"], metric["MetricName"], _dimensions(metric.get("Dimensions")))
            minutes = await self.metrics.read(series, start_ms, end_ms)
            periods = sorted(by_period(minutes, start_ms, period_s * 1000, stat_query.get("Unit")).items(),
                             reverse=is_descending)
            timestamps, values = [], []
            for period_start, (_, aggregate) in periods:
                value = stat_value(aggregate, stat_query["Stat"])
                if value is not None:
                    timestamps.append(period_start / 1000)
                    values.append(value)
            if query.get("ReturnData", True):
                results.append({"Id": query["Id"], "Label": query.get("Label") or metric["MetricName"],
                                "Timestamps": timestamps, "Values": values, "StatusCode": "Complete"})
        return {"MetricDataResults": results, "Messages": []}

    async def list_metrics(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        window_ms = RECENTLY_ACTIVE_MS if p.get("RecentlyActive") == "PT3H" else LISTED_FOR_MS
        since_ms = minute_of(self.clock.time_ms() - window_ms) - MINUTE_MS
        found = await self.metrics.list_series(p.get("Namespace"), p.get("MetricName"), since_ms)
        filters = p.get("Dimensions") or []

        def wanted(series: Series) -> bool:
            present = dict(series.dimensions)
            return all(f["Name"] in present and f.get("Value") in (None, present[f["Name"]]) for f in filters)

        listed = [series for series in found if wanted(series)]
        offset = _decode_offset(p["NextToken"]) if p.get("NextToken") else 0
        page = listed[offset : offset + LIST_PAGE_SIZE]
        result: dict[str, Any] = {"Metrics": [
            {"Namespace": s.namespace, "MetricName": s.metric_name,
             "Dimensions": [{"Name": name, "Value": value} for name, value in s.dimensions]} for s in page]}
        if offset + LIST_PAGE_SIZE < len(listed):
            result["NextToken"] = base64.urlsafe_b64encode(json.dumps(offset + LIST_PAGE_SIZE).encode()).decode()
        return result


def _decode_offset(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(offset, int) or offset < 0:
            raise ValueError(token)
        return offset
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidNextToken("The NextToken was not given out by this server.") from None

