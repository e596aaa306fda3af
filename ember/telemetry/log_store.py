"""The LogStore contract: log groups, their streams and their events (CloudWatch Logs' data).

Events are ordered by (timestamp_ms, id): the id is given at insertion and grows, so events
with the same timestamp keep the order they were written in. That pair is the position
paging tokens carry. Logs are acknowledged to no one, so a committed write need only survive
a crash of Ember, not of the machine. Ingestion and creation times come from the `clock`
option every backend takes (an `ember.clock.Clock`; the system's when left out).

Backends: `ember.telemetry.sqlite_log_store:SQLiteLogStore` (embedded, `logs.db`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ember.backends import backend_class

# Import strings, so an optional driver is imported only when chosen.
LOG_STORES = {"sqlite": "ember.telemetry.sqlite_log_store:SQLiteLogStore"}

#: a position in a group's (or stream's) event order: (timestamp_ms, id)
Position = tuple[int, int]


@dataclass(frozen=True)
class LogGroup:
    name: str
    created_ms: int
    retention_days: int | None
    stored_bytes: int  #: UTF-8 bytes of its events' messages


@dataclass(frozen=True)
class LogStream:
    group_name: str
    name: str
    created_ms: int
    first_event_ms: int | None
    last_event_ms: int | None
    last_ingestion_ms: int | None
    stored_bytes: int


@dataclass(frozen=True)
class LogEvent:
    id: int
    stream_name: str
    timestamp_ms: int
    ingestion_ms: int
    message: str

    @property
    def position(self) -> Position:
        return (self.timestamp_ms, self.id)


@dataclass(frozen=True)
class PendingEvents:
    """Events for one stream, as the writer hands them to the store (the group and stream are
    created if they do not exist, as Lambda's logging does)."""

    group_name: str
    stream_name: str
    events: Sequence[tuple[int, str]]  #: (timestamp_ms, message)


class LogStore(ABC):
    """Durable log groups, streams and events. Every write is committed before it returns;
    missing groups and streams raise CloudWatch Logs' errors (ember.errors)."""

    # Writing ---------------------------------------------------------------------------

    @abstractmethod
    async def append(self, batches: Sequence[PendingEvents]) -> None:
        """Store every batch's events in one transaction (all or none), creating groups and
        streams as needed; each event's ingestion time is the time of the call. Streams'
        first/last event times, last ingestion and stored bytes follow."""

    @abstractmethod
    async def create_group(self, name: str) -> None:
        """Create an empty group; ResourceAlreadyExistsException if there is one by that name."""

    @abstractmethod
    async def create_stream(self, group_name: str, name: str) -> None:
        """Create an empty stream; ResourceNotFoundException without the group,
        ResourceAlreadyExistsException if the group has one by that name."""

    @abstractmethod
    async def delete_group(self, name: str) -> None:
        """Remove a group with its streams and events, atomically; ResourceNotFoundException if none."""

    @abstractmethod
    async def delete_stream(self, group_name: str, name: str) -> None:
        """Remove a stream with its events, atomically; ResourceNotFoundException without the
        group or the stream."""

    @abstractmethod
    async def set_retention(self, name: str, days: int | None) -> None:
        """Keep a group's events `days` days (None: forever); ResourceNotFoundException if none."""

    @abstractmethod
    async def delete_expired(self, at_ms: int, group_name: str | None = None) -> int:
        """Delete events older than their group's retention as of `at_ms` (of one group, or
        all); return how many. The streams' first event time and stored bytes follow."""

    # Reading ---------------------------------------------------------------------------

    @abstractmethod
    async def get_group(self, name: str) -> LogGroup | None:
        """The group, or None."""

    @abstractmethod
    async def list_groups(self, prefix: str | None, pattern: str | None, after_name: str | None,
                          limit: int) -> list[LogGroup]:
        """Up to `limit` groups ordered by name, after `after_name`; only those starting with
        `prefix` or containing `pattern` (case-insensitive), when given."""

    @abstractmethod
    async def list_streams(self, group_name: str, prefix: str | None, by_last_event: bool, descending: bool,
                           after: tuple[Any, ...] | None, limit: int) -> list[LogStream]:
        """Up to `limit` of a group's streams ordered by name, or by (last event time, with
        none as 0; name); `after` is the sort key of the last stream of the previous page:
        (name,) or (last_event_ms, name). ResourceNotFoundException without the group."""

    @abstractmethod
    async def stream_exists(self, group_name: str, name: str) -> bool:
        """Whether the group has that stream (False without the group)."""

    @abstractmethod
    async def stream_events(self, group_name: str, stream_name: str, start_ms: int | None, end_ms: int | None,
                            position: Position, is_forward: bool, limit: int) -> list[LogEvent]:
        """Up to `limit` events of one stream after (forward) or before (backward) `position`,
        with timestamps within [start_ms, end_ms), always returned oldest first. Nothing for
        a stream or group that does not exist."""

    @abstractmethod
    async def filter_events(self, group_name: str, stream_names: Sequence[str] | None, stream_prefix: str | None,
                            start_ms: int | None, end_ms: int | None, after: Position,
                            matches: Callable[[str], bool], limit: int) -> tuple[list[LogEvent], Position | None]:
        """Events of a group (of the named streams, or of streams starting with the prefix)
        after `after` with timestamps within [start_ms, end_ms), oldest first, that `matches`
        accepts: up to `limit` of them, and the position to go on from if there may be more
        (None: there are no more). A backend may stop early after scanning many events; it
        then returns what it found and where it stopped."""

    @abstractmethod
    async def close(self) -> None:
        """Finish pending work and release the backend."""


def open_log_store(kind: str, **options: Any) -> LogStore:
    store_class = backend_class(LOG_STORES[kind], LogStore)
    return store_class(**options)
