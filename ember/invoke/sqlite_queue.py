"""The embedded AsyncQueue: a SQLite (WAL, synchronous=FULL) file in the data dir.

Every operation runs on one group-commit writer thread, so concurrent puts share a
transaction and an fsync. The queue assumes it is the only process using its file (one
Ember server): when opened it makes every claimed ("running") event claimable again,
since whoever claimed it is gone; while open, each claim does the same for claims whose
lease has run out.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ember.clock import Clock, SystemClock
from ember.invoke.async_queue import (
    AsyncQueue,
    Claim,
    Deferral,
    FunctionDepth,
    LastRun,
    NewEvent,
    QueuedEvent,
)
from ember.store.group_commit import GroupCommitWriter, connect

# Ordered, idempotent migrations; the index of each is its schema version.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL,
        function_name TEXT NOT NULL,
        qualifier TEXT,
        payload BLOB NOT NULL,
        trace_id TEXT,
        enqueued_at_ms INTEGER NOT NULL,
        is_running INTEGER NOT NULL DEFAULT 0,
        -- its function was deleted while it ran: removed, not put back, when its run ends
        is_discarded INTEGER NOT NULL DEFAULT 0,
        visible_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        throttles INTEGER NOT NULL DEFAULT 0,
        last_payload BLOB,
        last_function_error TEXT,
        last_executed_version TEXT
    )
    """,
    # A function's claimable events in order: what each claim reads.
    "CREATE INDEX IF NOT EXISTS events_claimable ON events (function_name, is_running, visible_at_ms, id)",
    # When events become too old to run: claims find those across functions without room.
    "CREATE INDEX IF NOT EXISTS events_expiring ON events (expires_at_ms) WHERE expires_at_ms IS NOT NULL",
    # Claimed events by the end of their lease: each claim looks for leases that ran out.
    "CREATE INDEX IF NOT EXISTS events_leased ON events (visible_at_ms) WHERE is_running = 1",
]

_COLUMNS = ("id, request_id, function_name, qualifier, payload, trace_id, enqueued_at_ms, attempts, throttles, "
            "last_payload, last_function_error, last_executed_version")


class SQLiteAsyncQueue(AsyncQueue):
    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        #: wall time: when events are enqueued, come due, expire and when leases end
        self._clock = clock or SystemClock()
        db = connect(path)
        _migrate(db)
        # Whoever held these claims is gone (the previous server process): run them again,
        # unless their function was deleted meanwhile.
        db.execute("DELETE FROM events WHERE is_discarded = 1")
        db.execute("UPDATE events SET is_running = 0, visible_at_ms = ? WHERE is_running = 1", (self._clock.time_ms(),))
        #: functions that may have events, in round-robin order (touched on the writer thread only)
        self._functions: list[str] = [row[0] for row in db.execute("SELECT DISTINCT function_name FROM events")]
        self._next_function = 0
        self._writer = GroupCommitWriter(db, name="ember-async-queue")
        self._put_signal = asyncio.Event()

    async def put(self, event: NewEvent) -> None:
        await self._writer.run(lambda db: self._insert(db, event, self._clock.time_ms()))
        self._put_signal.set()

    def _insert(self, db: sqlite3.Connection, event: NewEvent, now_ms: int) -> None:
        expires_at_ms = now_ms + event.max_age_s * 1000 if event.max_age_s is not None else None
        db.execute(
            "INSERT INTO events (request_id, function_name, qualifier, payload, trace_id, enqueued_at_ms, "
            "visible_at_ms, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (event.request_id, event.function_name, event.qualifier, event.payload, event.trace_id, now_ms, now_ms,
             expires_at_ms),
        )
        if event.function_name not in self._functions:
            self._functions.append(event.function_name)

    async def claim(self, limit: int, lease_s: float, room: Mapping[str, int] | None = None) -> Claim:
        rooms = dict(room or {})
        return await self._writer.run(lambda db: self._claim(db, limit, lease_s, rooms))

    def _claim(self, db: sqlite3.Connection, limit: int, lease_s: float, room: dict[str, int]) -> Claim:
        now_ms = self._clock.time_ms()
        self._end_lapsed_leases(db, now_ms)
        rows: dict[int, tuple[Any, ...]] = {}
        # Events too old to run are handed out whatever the room, so they are discarded on time.
        for row in db.execute(f"SELECT {_COLUMNS} FROM events WHERE expires_at_ms IS NOT NULL AND "
                              "expires_at_ms <= ? AND is_running = 0 ORDER BY expires_at_ms LIMIT ?",
                              (now_ms, limit)):
            rows[row[0]] = row
        next_visible: int | None = None
        per_function: list[list[tuple[Any, ...]]] = []
        count = len(self._functions)
        order = [self._functions[(self._next_function + i) % count] for i in range(count)] if count else []
        self._next_function = self._next_function + 1 if count else 0
        for name in order:
            wanted = min(limit, room.get(name, limit))
            if wanted <= 0:
                continue
            due = db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE function_name = ? AND is_running = 0 AND visible_at_ms <= ? "
                "ORDER BY visible_at_ms, id LIMIT ?", (name, now_ms, wanted)).fetchall()
            per_function.append(due)
            if len(due) < wanted:
                later = db.execute("SELECT MIN(visible_at_ms) FROM events WHERE function_name = ? AND is_running = 0 "
                                   "AND visible_at_ms > ?", (name, now_ms)).fetchone()[0]
                if later is not None:
                    next_visible = later if next_visible is None else min(next_visible, later)
                elif not due and db.execute("SELECT 1 FROM events WHERE function_name = ? LIMIT 1",
                                            (name,)).fetchone() is None:
                    self._functions.remove(name)  # nothing left: stop asking until a put brings it back
        # A waiting event that comes of age must be claimed then (to be discarded on time), even if its
        # function has no room: the dispatcher sleeps no later than that.
        expiring = db.execute("SELECT MIN(expires_at_ms) FROM events WHERE expires_at_ms > ? AND is_running = 0",
                              (now_ms,)).fetchone()[0]
        if expiring is not None:
            next_visible = expiring if next_visible is None else min(next_visible, expiring)
        # Round-robin across functions so one function's backlog does not starve the others.
        depth = 0
        while len(rows) < limit and any(depth < len(due) for due in per_function):
            for due in per_function:
                if depth < len(due) and len(rows) < limit:
                    rows.setdefault(due[depth][0], due[depth])
            depth += 1
        if rows:
            lease_until_ms = now_ms + int(lease_s * 1000)
            db.executemany("UPDATE events SET is_running = 1, visible_at_ms = ? WHERE id = ?",
                           [(lease_until_ms, event_id) for event_id in rows])
        return Claim([_event(row) for row in rows.values()], next_visible)

    def _end_lapsed_leases(self, db: sqlite3.Connection, now_ms: int) -> None:
        """Claims whose lease ran out (a claimed event's visible_at_ms is its lease's end): whoever
        held them went quiet, so they are back in line, as a reopen would put them (or gone, if
        their function was deleted meanwhile). The dispatcher's lease outlasts the longest run,
        so in a live server this only answers a claimant that hung or lost its way."""
        db.execute("DELETE FROM events WHERE is_running = 1 AND visible_at_ms <= ? AND is_discarded = 1", (now_ms,))
        db.execute("UPDATE events SET is_running = 0 WHERE is_running = 1 AND visible_at_ms <= ?", (now_ms,))

    async def finish(self, event_id: int, follow_ups: Sequence[NewEvent] = ()) -> None:
        def finish(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM events WHERE id = ?", (event_id,))
            now_ms = self._clock.time_ms()
            for event in follow_ups:
                self._insert(db, event, now_ms)

        await self._writer.run(finish)
        if follow_ups:
            self._put_signal.set()

    async def defer(self, event_id: int, deferral: Deferral) -> None:
        last = deferral.last_run

        def defer(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE events SET is_running = 0, visible_at_ms = ?, expires_at_ms = ?, attempts = ?, throttles = ?, "
                "last_payload = COALESCE(?, last_payload), last_function_error = CASE WHEN ? THEN ? "
                "ELSE last_function_error END, last_executed_version = COALESCE(?, last_executed_version) "
                "WHERE id = ? AND is_discarded = 0",
                (deferral.visible_at_ms, deferral.expires_at_ms, deferral.attempts, deferral.throttles,
                 last.payload if last else None, last is not None, last.function_error if last else None,
                 last.executed_version if last else None, event_id))
            db.execute("DELETE FROM events WHERE id = ? AND is_discarded = 1", (event_id,))

        await self._writer.run(defer)

    async def release(self, event_ids: Sequence[int]) -> None:
        if not event_ids:
            return
        now_ms = self._clock.time_ms()

        def release(db: sqlite3.Connection) -> None:
            db.executemany("UPDATE events SET is_running = 0, visible_at_ms = ? WHERE id = ? AND is_discarded = 0",
                           [(now_ms, event_id) for event_id in event_ids])
            db.executemany("DELETE FROM events WHERE id = ? AND is_discarded = 1", [(e,) for e in event_ids])

        await self._writer.run(release)

    async def discard_function(self, function_name: str) -> int:
        def discard(db: sqlite3.Connection) -> int:
            # Running ones are marked, so they are not put back in line when their run ends.
            db.execute("UPDATE events SET is_discarded = 1 WHERE function_name = ? AND is_running = 1",
                       (function_name,))
            return db.execute("DELETE FROM events WHERE function_name = ? AND is_running = 0",
                              (function_name,)).rowcount

        return await self._writer.run(discard)

    async def wait_for_put(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._put_signal.wait(), timeout_s)
        except TimeoutError:
            pass
        self._put_signal.clear()

    async def depths(self) -> list[FunctionDepth]:
        now_ms = self._clock.time_ms()
        rows = await self._writer.run(lambda db: db.execute(
            "SELECT function_name, COUNT(*), SUM(is_running), SUM(is_running = 0 AND visible_at_ms > ?), "
            "MIN(enqueued_at_ms) FROM events GROUP BY function_name ORDER BY function_name", (now_ms,)).fetchall())
        return [FunctionDepth(name, depth, running, delayed, oldest) for name, depth, running, delayed, oldest in rows]

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.close)


def _migrate(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for index, statement in enumerate(MIGRATIONS[version:], start=version):
        db.execute("BEGIN IMMEDIATE")
        db.execute(statement)
        db.execute(f"PRAGMA user_version={index + 1}")
        db.execute("COMMIT")


def _event(row: tuple[Any, ...]) -> QueuedEvent:
    (event_id, request_id, function_name, qualifier, payload, trace_id, enqueued_at_ms, attempts, throttles,
     last_payload, last_function_error, last_executed_version) = row
    last_run = LastRun(last_payload, last_function_error, last_executed_version) if last_executed_version else None
    return QueuedEvent(event_id, request_id, function_name, qualifier, bytes(payload), trace_id, enqueued_at_ms,
                       attempts, throttles, last_run)
