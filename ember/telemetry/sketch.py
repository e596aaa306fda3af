"""One minute (or period) of a metric: count, sum, min, max and a quantile sketch.

The sketch keeps counts in logarithmic buckets (as DDSketch does), so any percentile is
within RELATIVE_ACCURACY of a true sample value, and two aggregates merge by adding counts:
a five-minute p99 is computed from five one-minute sketches without keeping the samples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RELATIVE_ACCURACY = 0.01
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_LOG_GAMMA = math.log(_GAMMA)
#: values at or below this are counted as zero (durations and counts are never negative)
_SMALLEST = 1e-9


@dataclass
class Aggregate:
    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    buckets: dict[int, int] = field(default_factory=dict)  #: bucket index → samples
    zeros: int = 0  #: samples at (or below) zero

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if value <= _SMALLEST:
            self.zeros += 1
        else:
            index = math.ceil(math.log(value) / _LOG_GAMMA)
            self.buckets[index] = self.buckets.get(index, 0) + 1

    def merge(self, other: Aggregate) -> None:
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.zeros += other.zeros
        for index, samples in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + samples

    def percentile(self, percent: float) -> float | None:
        """The value below which `percent` % of samples fall (None without samples)."""
        if self.count == 0:
            return None
        # Nearest rank: the smallest sample with at least `percent` % of samples at or below it.
        # (Rounded first: 99.9 / 100 * 5000 is 4995.000000000001 in floating point.)
        rank = max(1, math.ceil(round(percent / 100 * self.count, 9)))
        seen = self.zeros
        if rank <= seen:
            return max(0.0, self.minimum)
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if rank <= seen:
                estimate = 2 * _GAMMA**index / (_GAMMA + 1)
                return min(max(estimate, self.minimum), self.maximum)
        return self.maximum

    @property
    def average(self) -> float:
        return self.total / self.count if self.count else 0.0

    def to_record(self) -> dict[str, Any]:
        return {"count": self.count, "sum": self.total, "min": self.minimum, "max": self.maximum,
                "buckets": {str(k): v for k, v in self.buckets.items()}, "zeros": self.zeros}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Aggregate:
        return cls(record["count"], record["sum"], record["min"], record["max"],
                   {int(k): v for k, v in record["buckets"].items()}, record["zeros"])
