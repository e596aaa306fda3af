"""The AsyncQueue contract: Event invocations held durably between the 202 and their last run.

An event's life: `put` (durable before the caller's 202) → `claim` (leased to the dispatcher,
invisible to other claims) → one of
  - `finish`: done (ran, or was discarded); any follow-up events — records for destination
    functions — are enqueued in the same transaction, so a crash loses neither;
  - `defer`: back in line until a later time (a retry after a function error, a throttle);
  - `release`: back in line at once, as if never claimed (the server is stopping).
A claimed event that is never finished, deferred or released (the server died) becomes
claimable again when its lease runs out, or when the queue is opened again: every event
acknowledged with a 202 runs at least once; rarely, twice.

Times are wall-clock epoch milliseconds from the `clock` option every backend takes (an
`ember.clock.Clock`; the system's when left out), so a queue's "now" can be a FakeClock's.

Backends: `ember.invoke.sqlite_queue:SQLiteAsyncQueue` (embedded, one server process).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ember.backends import backend_class

# Import strings, so an optional driver is imported only when chosen.
ASYNC_QUEUES = {"sqlite": "ember.invoke.sqlite_queue:SQLiteAsyncQueue"}


@dataclass(frozen=True)
class NewEvent:
    """An Event invocation to enqueue: what the caller sent, and whom it is for."""

    request_id: str  #: the id the caller was given (x-amzn-RequestId), the function's aws_request_id
    function_name: str
    qualifier: str | None  #: the version or alias named by the caller; None: unqualified ($LATEST)
    payload: bytes
    trace_id: str | None = None
    #: MaximumEventAgeInSeconds when it was accepted: claims hand it out once that old, whatever the room
    max_age_s: int | None = None


@dataclass(frozen=True)
class LastRun:
    """What the function returned the last time it ran for an event (kept for the failure record)."""

    payload: bytes
    function_error: str | None
    executed_version: str


@dataclass(frozen=True)
class QueuedEvent:
    """An event as the queue hands it out."""

    event_id: int  #: the queue's own id, used to finish, defer or release it
    request_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    trace_id: str | None
    enqueued_at_ms: int  #: wall clock, epoch milliseconds: an event's age survives restarts
    attempts: int  #: how many times the function has run for it
    throttles: int  #: how many times in a row it was throttled
    last_run: LastRun | None


@dataclass(frozen=True)
class Deferral:
    """How an event goes back in line."""

    visible_at_ms: int  #: epoch ms before which no claim returns it
    attempts: int
    throttles: int
    #: when it is too old to run (epoch ms): claims return it then even for functions without room
    expires_at_ms: int | None = None
    last_run: LastRun | None = None


@dataclass(frozen=True)
class Claim:
    events: list[QueuedEvent]
    #: the earliest epoch ms a deferred event of a function with room becomes claimable, or a waiting
    #: event expires (then claimable whatever the room); None: neither
    next_visible_at_ms: int | None


@dataclass(frozen=True)
class FunctionDepth:
    """Queue depth of one function: what /_ember/async and `ember queue` show."""

    function_name: str
    depth: int  #: events not yet finished, running ones included
    running: int  #: claimed by the dispatcher now
    delayed: int  #: waiting for a retry or throttle backoff
    oldest_enqueued_at_ms: int


class AsyncQueue(ABC):
    """Durable Event invocations. Every method's change is committed before it returns."""

    @abstractmethod
    async def put(self, event: NewEvent) -> None:
        """Enqueue `event`, durably (committed and synced) before returning.

        Concurrent puts may share one commit; each returns only once its own event is durable.
        """

    @abstractmethod
    async def claim(self, limit: int, lease_s: float, room: Mapping[str, int] | None = None) -> Claim:
        """Lease up to `limit` claimable events for `lease_s`, oldest first within a function and
        spread across functions. `room` caps how many a function may get (0: none); functions it
        does not name may get up to `limit`. Events past their `expires_at_ms` come regardless.

        Claimable: waiting events whose `visible_at_ms` has come, and claimed events whose lease
        has run out (claimed events of a discarded function are removed then instead)."""

    @abstractmethod
    async def finish(self, event_id: int, follow_ups: Sequence[NewEvent] = ()) -> None:
        """Remove a claimed event and enqueue `follow_ups`, atomically."""

    @abstractmethod
    async def defer(self, event_id: int, deferral: Deferral) -> None:
        """Put a claimed event back in line, claimable from `deferral.visible_at_ms`."""

    @abstractmethod
    async def release(self, event_ids: Sequence[int]) -> None:
        """Put claimed events back in line at once, unchanged."""

    @abstractmethod
    async def discard_function(self, function_name: str) -> int:
        """Remove every waiting event of a function (it was deleted); return how many. Events
        running now are removed when their run ends, whether finished, deferred or released."""

    @abstractmethod
    async def wait_for_put(self, timeout_s: float) -> None:
        """Return soon after an event is put (or finished with follow-ups), or after `timeout_s`."""

    @abstractmethod
    async def depths(self) -> list[FunctionDepth]:
        """Depth and oldest event of every function with queued events, by function name."""

    @abstractmethod
    async def close(self) -> None:
        """Finish pending commits and release the backend. Claimed events stay claimed until
        reopened, or until their lease runs out."""


def open_async_queue(kind: str, **options: Any) -> AsyncQueue:
    queue_class = backend_class(ASYNC_QUEUES[kind], AsyncQueue)
    return queue_class(**options)
