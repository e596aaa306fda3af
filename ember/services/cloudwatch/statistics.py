"""Turning one-minute aggregates into CloudWatch statistics over a period."""

from __future__ import annotations

import re

from ember.errors import InvalidParameterValueException
from ember.telemetry.sketch import Aggregate

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d{1,10})?|100)")


def percentile_of(stat: str) -> float | None:
    """The percent a `pNN` / `pNN.NN` statistic names, or None if it is not one."""
    match = _PERCENTILE.fullmatch(stat)
    if match is None:
        return None
    percent = float(match.group(1))
    return percent if 0 <= percent <= 100 else None


def check_stat(stat: str, parameter: str) -> None:
    if stat not in STATISTICS and percentile_of(stat) is None:
        raise InvalidParameterValueException(
            f"The value {stat} for parameter {parameter} is not valid: use SampleCount, Average, Sum, Minimum, "
            "Maximum or a percentile such as p99 or p99.9.")


def stat_value(aggregate: Aggregate, stat: str) -> float | None:
    if stat == "SampleCount":
        return float(aggregate.count)
    if stat == "Sum":
        return aggregate.total
    if stat == "Average":
        return aggregate.average
    if stat == "Minimum":
        return aggregate.minimum
    if stat == "Maximum":
        return aggregate.maximum
    percent = percentile_of(stat)
    return aggregate.percentile(percent) if percent is not None else None


def by_period(minutes: dict[int, tuple[str, Aggregate]], start_ms: int, period_ms: int,
              unit: str | None) -> dict[int, tuple[str, Aggregate]]:
    """The minutes summed into periods starting at `start_ms` (each keyed by its start); with
    `unit`, only data recorded in that unit counts (as CloudWatch filters by Unit)."""
    periods: dict[int, tuple[str, Aggregate]] = {}
    for minute, (minute_unit, aggregate) in minutes.items():
        if unit is not None and minute_unit != unit:
            continue
        period_start = start_ms + (minute - start_ms) // period_ms * period_ms
        if period_start not in periods:
            periods[period_start] = (minute_unit, Aggregate())
        periods[period_start][1].merge(aggregate)
    return periods
