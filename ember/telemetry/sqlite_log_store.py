"""The embedded LogStore: log groups, their streams and events, in SQLite (WAL) in the data dir.

Its own database file (`logs.db`), so a burst of log writes never waits on, or holds up, the
metadata store. All SQL runs on one thread. Writes are batched by the LogWriter; with
`synchronous=NORMAL` a committed batch survives a crash of Ember (not of the machine). An
event's id is its AUTOINCREMENT row id: the insertion order the contract asks for.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from ember.clock import Clock, SystemClock
from ember.errors import ResourceAlreadyExistsException, ResourceNotFoundException
from ember.store.sqlite_thread import SQLiteThread, immediate_transaction
from ember.telemetry.log_store import LogEvent, LogGroup, LogStore, LogStream, PendingEvents, Position

#: how many rows one FilterLogEvents call looks at before it answers with a nextToken
MAX_SCANNED_EVENTS = 100_000
_DAY_MS = 86_400_000

MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS log_groups (
        name TEXT PRIMARY KEY,
        created_ms INTEGER NOT NULL,
        retention_days INTEGER
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS log_streams (
        group_name TEXT NOT NULL,
        name TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        first_event_ms INTEGER,
        last_event_ms INTEGER,
        last_ingestion_ms INTEGER,
        stored_bytes INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (group_name, name)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS log_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        group_name TEXT NOT NULL,
        stream_name TEXT NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        ingestion_ms INTEGER NOT NULL,
        message TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS log_events_by_stream ON log_events (group_name, stream_name, timestamp_ms, id)",
    "CREATE INDEX IF NOT EXISTS log_events_by_group ON log_events (group_name, timestamp_ms, id)",
]


class SQLiteLogStore(LogStore):
    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()  #: wall time: events' ingestion, groups' and streams' creation
        # Logs are not acknowledged to anyone: a committed batch need only survive Ember's crash.
        self._sqlite = SQLiteThread(path, MIGRATIONS, is_durable=False, name="logs")
        self._db = self._sqlite.db
        self._run = self._sqlite.run

    async def close(self) -> None:
        await self._sqlite.close()

    # Writing ---------------------------------------------------------------------------

    async def append(self, batches: Sequence[PendingEvents]) -> None:
        def write() -> None:
            ingestion_ms = self._clock.time_ms()
            with immediate_transaction(self._db):
                for batch in batches:
                    if not batch.events:
                        continue
                    self._db.execute("INSERT OR IGNORE INTO log_groups (name, created_ms) VALUES (?, ?)",
                                     (batch.group_name, ingestion_ms))
                    self._db.execute("INSERT OR IGNORE INTO log_streams (group_name, name, created_ms) "
                                     "VALUES (?, ?, ?)", (batch.group_name, batch.stream_name, ingestion_ms))
                    self._db.executemany(
                        "INSERT INTO log_events (group_name, stream_name, timestamp_ms, ingestion_ms, message) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [(batch.group_name, batch.stream_name, ts, ingestion_ms, message)
                         for ts, message in batch.events])
                    stamps = [ts for ts, _ in batch.events]
                    size = sum(len(message.encode()) for _, message in batch.events)
                    self._db.execute(
                        "UPDATE log_streams SET first_event_ms = MIN(COALESCE(first_event_ms, ?), ?), "
                        "last_event_ms = MAX(COALESCE(last_event_ms, ?), ?), last_ingestion_ms = ?, "
                        "stored_bytes = stored_bytes + ? WHERE group_name = ? AND name = ?",
                        (min(stamps), min(stamps), max(stamps), max(stamps), ingestion_ms, size,
                         batch.group_name, batch.stream_name))

        await self._run(write)

    async def create_group(self, name: str) -> None:
        def insert() -> None:
            try:
                self._db.execute("INSERT INTO log_groups (name, created_ms) VALUES (?, ?)",
                                 (name, self._clock.time_ms()))
            except sqlite3.IntegrityError:
                raise ResourceAlreadyExistsException("The specified log group already exists") from None

        await self._run(insert)

    async def create_stream(self, group_name: str, name: str) -> None:
        def insert() -> None:
            if not self._group_exists(group_name):
                raise ResourceNotFoundException("The specified log group does not exist.")
            try:
                self._db.execute("INSERT INTO log_streams (group_name, name, created_ms) VALUES (?, ?, ?)",
                                 (group_name, name, self._clock.time_ms()))
            except sqlite3.IntegrityError:
                raise ResourceAlreadyExistsException("The specified log stream already exists") from None

        await self._run(insert)

    async def delete_group(self, name: str) -> None:
        def delete() -> None:
            with immediate_transaction(self._db):
                if self._db.execute("DELETE FROM log_groups WHERE name = ?", (name,)).rowcount == 0:
                    raise ResourceNotFoundException("The specified log group does not exist.")
                self._db.execute("DELETE FROM log_streams WHERE group_name = ?", (name,))
                self._db.execute("DELETE FROM log_events WHERE group_name = ?", (name,))

        await self._run(delete)

    async def delete_stream(self, group_name: str, name: str) -> None:
        def delete() -> None:
            with immediate_transaction(self._db):
                if not self._group_exists(group_name):
                    raise ResourceNotFoundException("The specified log group does not exist.")
                if self._db.execute("DELETE FROM log_streams WHERE group_name = ? AND name = ?",
                                    (group_name, name)).rowcount == 0:
                    raise ResourceNotFoundException("The specified log stream does not exist.")
                self._db.execute("DELETE FROM log_events WHERE group_name = ? AND stream_name = ?",
                                 (group_name, name))

        await self._run(delete)

    async def set_retention(self, name: str, days: int | None) -> None:
        def update() -> None:
            if self._db.execute("UPDATE log_groups SET retention_days = ? WHERE name = ?",
                                (days, name)).rowcount == 0:
                raise ResourceNotFoundException("The specified log group does not exist.")

        await self._run(update)

    async def delete_expired(self, at_ms: int, group_name: str | None = None) -> int:
        def delete() -> int:
            query = "SELECT name, retention_days FROM log_groups WHERE retention_days IS NOT NULL"
            args: tuple[str, ...] = ()
            if group_name is not None:
                query += " AND name = ?"
                args = (group_name,)
            deleted = 0
            for name, days in self._db.execute(query, args).fetchall():
                cutoff = at_ms - days * _DAY_MS
                with immediate_transaction(self._db):
                    cursor = self._db.execute("DELETE FROM log_events WHERE group_name = ? AND timestamp_ms < ?",
                                              (name, cutoff))
                    if cursor.rowcount:
                        deleted += cursor.rowcount
                        self._refresh_streams(name)
            return deleted

        return await self._run(delete)

    def _refresh_streams(self, group_name: str) -> None:
        self._db.execute(
            "UPDATE log_streams SET "
            "first_event_ms = (SELECT MIN(timestamp_ms) FROM log_events e WHERE e.group_name = log_streams.group_name"
            " AND e.stream_name = log_streams.name), "
            "stored_bytes = (SELECT COALESCE(SUM(LENGTH(CAST(message AS BLOB))), 0) FROM log_events e "
            "WHERE e.group_name = log_streams.group_name AND e.stream_name = log_streams.name) "
            "WHERE group_name = ?", (group_name,))

    # Reading ---------------------------------------------------------------------------

    def _group_exists(self, name: str) -> bool:
        return self._db.execute("SELECT 1 FROM log_groups WHERE name = ?", (name,)).fetchone() is not None

    async def get_group(self, name: str) -> LogGroup | None:
        groups = await self._run(lambda: self._groups("g.name = ?", (name,), None, 1))
        return groups[0] if groups else None

    async def list_groups(self, prefix: str | None, pattern: str | None, after_name: str | None,
                          limit: int) -> list[LogGroup]:
        conditions, args = ["g.name > ?"], list[str | int]([after_name or ""])
        if prefix:
            conditions.append("substr(g.name, 1, ?) = ?")
            args += [len(prefix), prefix]
        if pattern:
            conditions.append("instr(lower(g.name), lower(?)) > 0")
            args.append(pattern)
        return await self._run(lambda: self._groups(" AND ".join(conditions), tuple(args), "g.name", limit))

    def _groups(self, where: str, args: tuple[str | int, ...], order: str | None, limit: int) -> list[LogGroup]:
        rows = self._db.execute(
            "SELECT g.name, g.created_ms, g.retention_days, "
            "(SELECT COALESCE(SUM(s.stored_bytes), 0) FROM log_streams s WHERE s.group_name = g.name) "
            f"FROM log_groups g WHERE {where}" + (f" ORDER BY {order}" if order else "") + " LIMIT ?",
            (*args, limit)).fetchall()
        return [LogGroup(*row) for row in rows]

    async def list_streams(self, group_name: str, prefix: str | None, by_last_event: bool, descending: bool,
                           after: tuple[str | int, ...] | None, limit: int) -> list[LogStream]:
        def select() -> list[LogStream]:
            if not self._group_exists(group_name):
                raise ResourceNotFoundException("The specified log group does not exist.")
            sort = "(COALESCE(last_event_ms, 0), name)" if by_last_event else "(name)"
            conditions, args = ["group_name = ?"], list[str | int]([group_name])
            if prefix:
                conditions.append("substr(name, 1, ?) = ?")
                args += [len(prefix), prefix]
            if after is not None:
                conditions.append(f"{sort} {'<' if descending else '>'} ({', '.join('?' * len(after))})")
                args += list(after)
            direction = "DESC" if descending else "ASC"
            order = f"name {direction}"
            if by_last_event:
                order = f"COALESCE(last_event_ms, 0) {direction}, " + order
            rows = self._db.execute(
                "SELECT group_name, name, created_ms, first_event_ms, last_event_ms, last_ingestion_ms, stored_bytes "
                f"FROM log_streams WHERE {' AND '.join(conditions)} ORDER BY {order} LIMIT ?",
                (*args, limit)).fetchall()
            return [LogStream(*row) for row in rows]

        return await self._run(select)

    async def stream_exists(self, group_name: str, name: str) -> bool:
        row = await self._run(lambda: self._db.execute(
            "SELECT 1 FROM log_streams WHERE group_name = ? AND name = ?", (group_name, name)).fetchone())
        return row is not None

    async def stream_events(self, group_name: str, stream_name: str, start_ms: int | None, end_ms: int | None,
                            position: Position, is_forward: bool, limit: int) -> list[LogEvent]:
        def select() -> list[LogEvent]:
            conditions = ["group_name = ?", "stream_name = ?",
                          f"(timestamp_ms, id) {'>' if is_forward else '<'} (?, ?)"]
            args: list[str | int] = [group_name, stream_name, *position]
            _time_range(conditions, args, start_ms, end_ms)
            direction = "ASC" if is_forward else "DESC"
            rows = self._db.execute(
                "SELECT id, stream_name, timestamp_ms, ingestion_ms, message FROM log_events "
                f"WHERE {' AND '.join(conditions)} ORDER BY timestamp_ms {direction}, id {direction} LIMIT ?",
                (*args, limit)).fetchall()
            events = [LogEvent(*row) for row in rows]
            return events if is_forward else events[::-1]

        return await self._run(select)

    async def filter_events(self, group_name: str, stream_names: Sequence[str] | None, stream_prefix: str | None,
                            start_ms: int | None, end_ms: int | None, after: Position,
                            matches: Callable[[str], bool], limit: int) -> tuple[list[LogEvent], Position | None]:
        def select() -> tuple[list[LogEvent], Position | None]:
            conditions = ["group_name = ?", "(timestamp_ms, id) > (?, ?)"]
            args: list[str | int] = [group_name, *after]
            _time_range(conditions, args, start_ms, end_ms)
            if stream_names:
                conditions.append(f"stream_name IN ({', '.join('?' * len(stream_names))})")
                args += list(stream_names)
            if stream_prefix:
                conditions.append("substr(stream_name, 1, ?) = ?")
                args += [len(stream_prefix), stream_prefix]
            cursor = self._db.execute(
                "SELECT id, stream_name, timestamp_ms, ingestion_ms, message FROM log_events "
                f"WHERE {' AND '.join(conditions)} ORDER BY timestamp_ms, id", args)
            found: list[LogEvent] = []
            scanned = 0
            try:
                while rows := cursor.fetchmany(1000):
                    for row in rows:
                        event = LogEvent(*row)
                        scanned += 1
                        if matches(event.message):
                            found.append(event)
                            if len(found) >= limit:
                                return found, event.position
                        if scanned >= MAX_SCANNED_EVENTS:
                            return found, event.position
            finally:
                cursor.close()
            return found, None

        return await self._run(select)


def _time_range(conditions: list[str], args: list[str | int], start_ms: int | None, end_ms: int | None) -> None:
    # AWS: an event at startTime is included, one at endTime is not.
    if start_ms is not None:
        conditions.append("timestamp_ms >= ?")
        args.append(start_ms)
    if end_ms is not None:
        conditions.append("timestamp_ms < ?")
        args.append(end_ms)
