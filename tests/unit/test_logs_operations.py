"""CloudWatch Logs handlers on a FakeClock: which events PutLogEvents accepts by their age, and
what a retention policy deletes at once. Real handlers, log writer and SQLite log store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ember.clock import FakeClock
from ember.services.base import RequestContext
from ember.services.logs.operations import MAX_EVENT_AGE_MS, MAX_EVENT_LEAD_MS, LogsOperations
from ember.telemetry.log_writer import LogWriter
from ember.telemetry.sqlite_log_store import SQLiteLogStore

CTX = RequestContext("request-1", "us-east-1", "123456789012", "http://127.0.0.1", {})
DAY_MS = 86_400_000


def test_put_log_events_takes_events_by_their_age_on_the_clock(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        store = SQLiteLogStore(tmp_path / "logs.db", clock)
        writer = LogWriter(store, clock)
        writer.start()
        logs = LogsOperations(store, writer, "us-east-1", "123456789012", clock)
        await logs.create_log_group(CTX, {"logGroupName": "/app"})
        await logs.create_log_stream(CTX, {"logGroupName": "/app", "logStreamName": "s"})
        now_ms = clock.time_ms()
        events = [{"timestamp": now_ms - MAX_EVENT_AGE_MS - 1, "message": "too old"},
                  {"timestamp": now_ms - MAX_EVENT_AGE_MS, "message": "oldest kept"},
                  {"timestamp": now_ms + MAX_EVENT_LEAD_MS, "message": "newest kept"},
                  {"timestamp": now_ms + MAX_EVENT_LEAD_MS + 1, "message": "too new"}]
        answer = await logs.put_log_events(CTX, {"logGroupName": "/app", "logStreamName": "s", "logEvents": events})
        assert answer["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 3}
        assert len(answer["nextSequenceToken"]) == 56
        stored = await logs.get_log_events(CTX, {"logGroupName": "/app", "logStreamName": "s", "startFromHead": True})
        assert [(e["message"], e["ingestionTime"]) for e in stored["events"]] == [
            ("oldest kept", now_ms), ("newest kept", now_ms)]

        # A retention policy deletes at once what is older than it, as of the clock's now.
        clock.advance(DAY_MS / 1000)
        await logs.put_retention_policy(CTX, {"logGroupName": "/app", "retentionInDays": 1})
        stored = await logs.get_log_events(CTX, {"logGroupName": "/app", "logStreamName": "s", "startFromHead": True})
        assert [e["message"] for e in stored["events"]] == ["newest kept"]  # 22 h old now; the other 15 days
        await writer.close()
        await store.close()

    asyncio.run(scenario())
