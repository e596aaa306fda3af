"""CloudWatch Logs operation handlers: log groups, streams, events, filters and retention.

Reads first flush the LogWriter, so an invocation's log can be read as soon as its invoke
has answered. Paging tokens are opaque to clients: positions (timestamp, id) or sort keys.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from ember.clock import Clock, SystemClock
from ember.errors import InvalidParameterException, ResourceNotFoundException
from ember.services.base import RequestContext
from ember.telemetry.filter_pattern import compile_pattern
from ember.telemetry.log_store import LogEvent, LogGroup, LogStore, LogStream, Position
from ember.telemetry.log_writer import LogWriter

#: the retention periods CloudWatch Logs accepts, in days
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)
DEFAULT_DESCRIBE_LIMIT = 50
#: GetLogEvents and FilterLogEvents return up to 10,000 events (or 1 MB) by default
DEFAULT_EVENTS_LIMIT = 10_000
MAX_RESPONSE_BYTES = 1024 * 1024
#: PutLogEvents refuses events older than 14 days or more than 2 hours ahead
MAX_EVENT_AGE_MS = 14 * 86_400_000
MAX_EVENT_LEAD_MS = 2 * 3_600_000
_BEGINNING: Position = (-(2**62), 0)
_END: Position = (2**62, 0)


class LogsOperations:
    def __init__(self, store: LogStore, writer: LogWriter, region: str, account_id: str,
                 clock: Clock | None = None) -> None:
        self.store = store
        self.writer = writer
        self.region = region
        self.account_id = account_id
        #: wall time: retention, which events PutLogEvents accepts, its sequence tokens
        self.clock = clock or SystemClock()

    # Groups ----------------------------------------------------------------------------

    async def create_log_group(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.writer.flush()  # a group a function's log just created already exists
        await self.store.create_group(p["logGroupName"])
        return {}

    async def delete_log_group(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.writer.flush()
        await self.store.delete_group(p["logGroupName"])
        return {}

    async def put_retention_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        days = p["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise InvalidParameterException(
                f"Invalid retention value. Valid values are: [{', '.join(map(str, RETENTION_DAYS))}]")
        await self.writer.flush()
        await self.store.set_retention(p["logGroupName"], days)
        await self.store.delete_expired(self.clock.time_ms(), p["logGroupName"])
        return {}

    async def delete_retention_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.writer.flush()
        await self.store.set_retention(p["logGroupName"], None)
        return {}

    async def describe_log_groups(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        prefix, pattern = p.get("logGroupNamePrefix"), p.get("logGroupNamePattern")
        if prefix and pattern:
            raise InvalidParameterException(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        await self.writer.flush()
        limit = p.get("limit", DEFAULT_DESCRIBE_LIMIT)
        next_token = p.get("nextToken")
        after = _decode_token(next_token, 1)[0] if next_token else None
        identifiers = p.get("logGroupIdentifiers")
        groups = await self.store.list_groups(prefix, pattern, after, limit + 1)
        if identifiers:
            wanted = {_group_name_of(identifier) for identifier in identifiers}
            groups = [group for group in groups if group.name in wanted]
        result: dict[str, Any] = {"logGroups": [self._group(group) for group in groups[:limit]]}
        if len(groups) > limit:
            result["nextToken"] = _encode_token([groups[limit - 1].name])
        return result

    def _group(self, group: LogGroup) -> dict[str, Any]:
        arn = f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{group.name}"
        wire: dict[str, Any] = {"logGroupName": group.name, "creationTime": group.created_ms, "metricFilterCount": 0,
                                "arn": f"{arn}:*", "logGroupArn": arn, "storedBytes": group.stored_bytes,
                                "logGroupClass": "STANDARD", "deletionProtectionEnabled": False}
        if group.retention_days is not None:
            wire["retentionInDays"] = group.retention_days
        return wire

    # Streams ---------------------------------------------------------------------------

    async def create_log_stream(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.writer.flush()
        await self.store.create_stream(p["logGroupName"], p["logStreamName"])
        return {}

    async def delete_log_stream(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self.writer.flush()
        await self.store.delete_stream(p["logGroupName"], p["logStreamName"])
        return {}

    async def describe_log_streams(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        group_name = _group_name(p)
        by_last_event = p.get("orderBy", "LogStreamName") == "LastEventTime"
        prefix = p.get("logStreamNamePrefix")
        if by_last_event and prefix:
            raise InvalidParameterException("Cannot order by LastEventTime with a logStreamNamePrefix.")
        await self.writer.flush()
        limit = p.get("limit", DEFAULT_DESCRIBE_LIMIT)
        after = tuple(_decode_token(p["nextToken"], 2 if by_last_event else 1)) if p.get("nextToken") else None
        streams = await self.store.list_streams(group_name, prefix, by_last_event, p.get("descending", False), after,
                                                limit + 1)
        result: dict[str, Any] = {"logStreams": [self._stream(stream) for stream in streams[:limit]]}
        if len(streams) > limit:
            last = streams[limit - 1]
            result["nextToken"] = _encode_token([last.last_event_ms or 0, last.name] if by_last_event else [last.name])
        return result

    def _stream(self, stream: LogStream) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "logStreamName": stream.name, "creationTime": stream.created_ms, "storedBytes": stream.stored_bytes,
            "arn": f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{stream.group_name}:log-stream:"
                   f"{stream.name}",
        }
        if stream.first_event_ms is not None:
            wire["firstEventTimestamp"] = stream.first_event_ms
        if stream.last_event_ms is not None:
            wire["lastEventTimestamp"] = stream.last_event_ms
        if stream.last_ingestion_ms is not None:
            wire["lastIngestionTime"] = stream.last_ingestion_ms
        return wire

    # Events ----------------------------------------------------------------------------

    async def put_log_events(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        group_name, stream_name = p["logGroupName"], p["logStreamName"]
        events = p["logEvents"]
        stamps = [event["timestamp"] for event in events]
        if stamps != sorted(stamps):
            raise InvalidParameterException(
                "Log events in a single PutLogEvents request must be in chronological order.")
        await self.writer.flush()
        group = await self.store.get_group(group_name)
        if group is None:
            raise ResourceNotFoundException("The specified log group does not exist.")
        if not await self.store.stream_exists(group_name, stream_name):
            raise ResourceNotFoundException("The specified log stream does not exist.")
        now = self.clock.time_ms()
        oldest_ms = now - MAX_EVENT_AGE_MS
        expired_before_ms = now - group.retention_days * 86_400_000 if group.retention_days else None
        accepted: list[tuple[int, str]] = []
        rejected: dict[str, int] = {}
        for index, event in enumerate(events):
            if event["timestamp"] > now + MAX_EVENT_LEAD_MS:
                rejected.setdefault("tooNewLogEventStartIndex", index)
            elif expired_before_ms is not None and event["timestamp"] < expired_before_ms:
                rejected["expiredLogEventEndIndex"] = index
            elif event["timestamp"] < oldest_ms:
                rejected["tooOldLogEventEndIndex"] = index
            else:
                accepted.append((event["timestamp"], event["message"]))
        self.writer.submit(group_name, stream_name, accepted)
        await self.writer.flush()  # accepted means stored
        result: dict[str, Any] = {"nextSequenceToken": f"{int(self.clock.time_s() * 1e9):056d}"}
        if rejected:
            result["rejectedLogEventsInfo"] = rejected
        return result

    async def get_log_events(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        group_name, stream_name = _group_name(p), p["logStreamName"]
        limit = p.get("limit", DEFAULT_EVENTS_LIMIT)
        token = p.get("nextToken")
        if token:
            is_forward, position = _parse_events_token(token)
        else:
            is_forward = p.get("startFromHead", False)
            position = _BEGINNING if is_forward else _END
        await self.writer.flush()
        if await self.store.get_group(group_name) is None:
            raise ResourceNotFoundException("The specified log group does not exist.")
        if not await self.store.stream_exists(group_name, stream_name):
            raise ResourceNotFoundException("The specified log stream does not exist.")
        events = await self.store.stream_events(group_name, stream_name, p.get("startTime"), p.get("endTime"),
                                                position, is_forward, limit)
        events = _within_response_size(events, keep_newest=not is_forward)
        if events:
            first, last = events[0].position, events[-1].position
        else:
            # Nothing (more) in that direction: hand back the same position, so a client that
            # follows nextForwardToken polls from where it was (AWS returns the token it was given).
            first = last = position
        return {
            "events": [{"timestamp": e.timestamp_ms, "message": e.message, "ingestionTime": e.ingestion_ms}
                       for e in events],
            "nextForwardToken": _events_token("f", last),
            "nextBackwardToken": _events_token("b", first),
        }

    async def filter_log_events(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        group_name = _group_name(p)
        stream_names, prefix = p.get("logStreamNames"), p.get("logStreamNamePrefix")
        if stream_names and prefix:
            raise InvalidParameterException(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.")
        start_ms, end_ms = p.get("startTime"), p.get("endTime")
        if start_ms is not None and end_ms is not None and start_ms > end_ms:
            raise InvalidParameterException("startTime must be less than or equal to endTime.")
        matches = compile_pattern(p.get("filterPattern"))
        after = tuple(_decode_token(p["nextToken"], 2)) if p.get("nextToken") else _BEGINNING
        await self.writer.flush()
        if await self.store.get_group(group_name) is None:
            raise ResourceNotFoundException("The specified log group does not exist.")
        events, resume = await self.store.filter_events(group_name, stream_names, prefix, start_ms, end_ms,
                                                        after, matches, p.get("limit", DEFAULT_EVENTS_LIMIT))
        kept = _within_response_size(events, keep_newest=False)
        if len(kept) < len(events):
            resume = kept[-1].position
        result: dict[str, Any] = {
            "events": [{"logStreamName": e.stream_name, "timestamp": e.timestamp_ms, "message": e.message,
                        "ingestionTime": e.ingestion_ms, "eventId": str(e.id)} for e in kept],
            "searchedLogStreams": [{"logStreamName": name, "searchedCompletely": resume is None}
                                   for name in sorted({e.stream_name for e in kept})],
        }
        if resume is not None:
            result["nextToken"] = _encode_token(list(resume))
        return result


def _group_name(p: dict[str, Any]) -> str:
    """The group a request names by logGroupName or logGroupIdentifier (a name or an ARN)."""
    name, identifier = p.get("logGroupName"), p.get("logGroupIdentifier")
    if name and identifier:
        raise InvalidParameterException("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if not name and not identifier:
        raise InvalidParameterException("Either the parameter logGroupName or logGroupIdentifier must be specified.")
    return name or _group_name_of(identifier or "")


def _group_name_of(identifier: str) -> str:
    if identifier.startswith("arn:"):
        _, _, rest = identifier.partition(":log-group:")
        return rest[:-2] if rest.endswith(":*") else rest
    return identifier


def _within_response_size(events: list[LogEvent], keep_newest: bool) -> list[LogEvent]:
    """As many events as fit in the 1 MB a response may hold (from the oldest, or the newest)."""
    ordered = events[::-1] if keep_newest else events
    kept: list[LogEvent] = []
    size = 0
    for event in ordered:
        size += len(event.message.encode()) + 26  # AWS counts 26 bytes of overhead per event
        if size > MAX_RESPONSE_BYTES and kept:
            break
        kept.append(event)
    return kept[::-1] if keep_newest else kept


def _events_token(direction: str, position: Position) -> str:
    return f"{direction}/{position[0]}/{position[1]}/s"


def _parse_events_token(token: str) -> tuple[bool, Position]:
    parts = token.split("/")
    try:
        if len(parts) != 4 or parts[0] not in ("f", "b") or parts[3] != "s":
            raise ValueError(token)
        return parts[0] == "f", (int(parts[1]), int(parts[2]))
    except ValueError:
        raise InvalidParameterException("The specified nextToken is invalid.") from None


def _encode_token(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode_token(token: str, length: int) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
        if not isinstance(key, list) or len(key) != length:
            raise ValueError(token)
        return key
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidParameterException("The specified nextToken is invalid.") from None
