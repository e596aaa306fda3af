"""What the invoke path tells telemetry, and the do-nothing telemetry used where none is wired.

The invoker calls `invocation_started` once an environment is acquired, `log_lines` with
each line of a function's log as it is printed (START, the function's output, END, REPORT,
and what an environment prints outside any invocation), `invocation_finished` with the
invocation's duration and outcome, and `invocation_throttled` when the scheduler refuses
with TooManyRequestsException. The async dispatcher awaits `logs_committed` before it
removes an event from its queue. Features that own other Lambda metrics (async queue, destinations,
DLQ, provisioned concurrency) call `record_metric`. Every call must be cheap and never raise:
they sit on the hot path, so work beyond bookkeeping happens later, off it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LambdaMetric(StrEnum):
    """AWS/Lambda metric names, with the unit CloudWatch reports each in (see UNITS)."""

    INVOCATIONS = "Invocations"  #: one per invocation that ran (function errors included)
    ERRORS = "Errors"  #: 1 for an invocation that ended in a function error, else 0
    THROTTLES = "Throttles"  #: one per invocation refused with TooManyRequestsException
    DURATION = "Duration"  #: milliseconds the handler ran
    CONCURRENT_EXECUTIONS = "ConcurrentExecutions"  #: invocations in flight (sampled at each start)
    UNRESERVED_CONCURRENT_EXECUTIONS = "UnreservedConcurrentExecutions"  #: in flight without a reservation
    DEAD_LETTER_ERRORS = "DeadLetterErrors"  #: async events that could not reach the DLQ
    DESTINATION_DELIVERY_FAILURES = "DestinationDeliveryFailures"  #: results that could not reach a destination
    ASYNC_EVENTS_RECEIVED = "AsyncEventsReceived"  #: async events queued for the function
    ASYNC_EVENT_AGE = "AsyncEventAge"  #: ms from queueing to the invocation
    ASYNC_EVENTS_DROPPED = "AsyncEventsDropped"  #: async events dropped unprocessed
    PROVISIONED_CONCURRENCY_UTILIZATION = "ProvisionedConcurrencyUtilization"  #: busy / provisioned (0..1)
    PROVISIONED_CONCURRENT_EXECUTIONS = "ProvisionedConcurrentExecutions"  #: in flight on provisioned envs


UNITS: dict[str, str] = {
    LambdaMetric.DURATION: "Milliseconds",
    LambdaMetric.ASYNC_EVENT_AGE: "Milliseconds",
    LambdaMetric.PROVISIONED_CONCURRENCY_UTILIZATION: "None",
}


def unit_of(metric: str) -> str:
    return UNITS.get(metric, "Count")


@dataclass(frozen=True, slots=True)
class InvocationRecord:
    """One finished invocation, as the invoker saw it."""

    function_name: str
    qualifier: str | None  #: what the caller named (alias, version), None for unqualified
    executed_version: str  #: "$LATEST" or the version number that ran
    started_ms: int  #: wall clock, epoch milliseconds
    ended_ms: int
    duration_ms: float
    is_error: bool
    log_stream_name: str


class Telemetry:
    """Receives the invoke path's events. This base records nothing (tests, tools)."""

    def invocation_started(self, function_name: str, qualifier: str | None, executed_version: str) -> None:
        """An environment was acquired: the invocation is now in flight."""

    def invocation_finished(self, record: InvocationRecord) -> None:
        """The invocation ended (successfully or in a function error)."""

    def invocation_throttled(self, function_name: str, qualifier: str | None) -> None:
        """The scheduler refused the invocation with TooManyRequestsException."""

    def log_lines(self, function_name: str, log_stream_name: str, events: list[tuple[int, str]]) -> None:
        """Lines of a function's log, as they happen: (timestamp_ms, message ending in a newline)."""

    async def logs_committed(self) -> None:
        """Return once every line handed to `log_lines` so far is stored (survives a crash of Ember)."""

    def record_metric(self, metric: LambdaMetric, function_name: str | None, value: float,
                      qualifier: str | None = None, executed_version: str | None = None) -> None:
        """Record one sample of a Lambda metric for a function (None: the account as a whole)."""
