"""Invocation records: what an OnSuccess/OnFailure destination receives about an Event invocation.

The shape is Lambda's (docs: "Capturing records of Lambda asynchronous invocations"):

    {"version": "1.0", "timestamp": "2019-11-14T18:16:05.568Z",
     "requestContext": {"requestId", "functionArn", "condition", "approximateInvokeCount"},
     "requestPayload": <the event>,
     "responseContext": {"statusCode", "executedVersion", "functionError"?},
     "responsePayload": <what the function returned>}

responseContext and responsePayload are left out when the function never ran for the event
(it expired while throttled, or its reserved concurrency is 0).
"""

from __future__ import annotations

import datetime as dt
import json
from enum import StrEnum
from typing import Any

from ember.invoke.async_queue import LastRun, QueuedEvent


class Condition(StrEnum):
    SUCCESS = "Success"  #: the function returned without error
    RETRIES_EXHAUSTED = "RetriesExhausted"  #: it failed on every attempt allowed (or could not run at all)
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"  #: the event waited longer than MaximumEventAgeInSeconds


def invocation_record(event: QueuedEvent, condition: Condition, function_arn: str, last_run: LastRun | None,
                      attempts: int, now: dt.datetime | None = None) -> bytes:
    """The JSON record sent to a destination function for `event`."""
    moment = now or dt.datetime.now(dt.UTC)
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": function_arn,
            "condition": condition.value,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _as_json(event.payload),
    }
    if last_run is not None:
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": last_run.executed_version}
        if last_run.function_error:
            response_context["functionError"] = last_run.function_error
        record["responseContext"] = response_context
        record["responsePayload"] = _as_json(last_run.payload)
    return json.dumps(record).encode()


def _as_json(payload: bytes) -> Any:
    """A payload as JSON when it is JSON (it nearly always is), else as text."""
    try:
        return json.loads(payload) if payload.strip() else None
    except (ValueError, UnicodeDecodeError):
        return payload.decode("utf-8", errors="replace")
