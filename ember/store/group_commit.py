"""Group commit for SQLite: many concurrent writers share one transaction and one fsync.

Callers on the event loop submit units of work; one thread owns the connection, takes
everything pending, runs it inside a single transaction, commits once, and only then
resolves each caller's future. With synchronous=FULL a commit is durable, so a resolved
future means the work is on disk; N callers cost one fsync instead of N. A unit that raises
rolls back alone: the group is then redone with a SAVEPOINT around each unit, so units must
be safe to run again after a rollback.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ember.data_dir import create_private
from ember.disk_health import DataDiskFull, is_full_error

log = logging.getLogger(__name__)

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]
#: a unit's future, and its result or the exception it raised
Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]
#: the most units in one transaction; bounds a commit's latency when callers pile up
MAX_BATCH = 2048


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode that syncs every commit (durable before the caller hears back)."""
    create_private(path)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


class GroupCommitWriter:
    """Owns one SQLite connection on a dedicated thread; `run` work there, committed in groups."""

    def __init__(self, db: sqlite3.Connection, name: str = "ember-group-commit") -> None:
        self._db = db
        #: the folder of the database file, named in the error a full disk gets
        self._folder = Path(db.execute("PRAGMA database_list").fetchone()[2] or ".").parent
        self._pending: list[tuple[Work, asyncio.Future[Any]]] = []
        self._wakeup = threading.Condition()
        self._is_closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._write_forever, name=name, daemon=True)
        self._thread.start()

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` on the writer thread; return its result once it is committed.

        If `work` raises, its changes are rolled back (others' in the same group are not) and
        the exception is raised here.
        """
        loop = asyncio.get_running_loop()
        self._loop = loop
        future: asyncio.Future[T] = loop.create_future()
        with self._wakeup:
            if self._is_closing:
                raise RuntimeError("the group-commit writer is closed")
            self._pending.append((work, future))
            self._wakeup.notify()
        try:
            return await future
        except sqlite3.Error as exc:
            if is_full_error(exc):
                raise DataDiskFull(self._folder) from exc
            raise

    def _write_forever(self) -> None:
        while True:
            with self._wakeup:
                while not self._pending and not self._is_closing:
                    self._wakeup.wait()
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                if not batch and self._is_closing:
                    return
            outcomes = self._commit(batch)
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, outcomes)

    def _commit(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> list[Outcome]:
        try:
            return self._commit_together(batch)
        except _UnitFailed:
            # Rare: redo the group with a savepoint per unit, so only the failing ones roll back.
            return self._commit_each_isolated(batch)

    def _commit_together(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> list[Outcome]:
        """The fast path: every unit in one transaction, with no savepoints."""
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            return [(future, None, exc) for _, future in batch]
        outcomes: list[Outcome] = []
        for work, future in batch:
            try:
                outcomes.append((future, work(db), None))
            except Exception as exc:
                db.execute("ROLLBACK")
                raise _UnitFailed from exc
        return self._finish(batch, outcomes)

    def _commit_each_isolated(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> list[Outcome]:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            return [(future, None, exc) for _, future in batch]
        outcomes: list[Outcome] = []
        for work, future in batch:
            db.execute("SAVEPOINT unit")
            try:
                result = work(db)
            except Exception as exc:  # the caller gets it; the rest of the group goes on
                db.execute("ROLLBACK TO unit")
                db.execute("RELEASE unit")
                outcomes.append((future, None, exc))
            else:
                db.execute("RELEASE unit")
                outcomes.append((future, result, None))
        return self._finish(batch, outcomes)

    def _finish(self, batch: list[tuple[Work, asyncio.Future[Any]]], outcomes: list[Outcome]) -> list[Outcome]:
        db = self._db
        try:
            db.execute("COMMIT")
        except sqlite3.Error as exc:  # disk full, I/O error: nothing in the group is durable
            log.error("group commit of %d units failed: %s", len(batch), exc)
            if db.in_transaction:
                db.execute("ROLLBACK")
            return [(future, None, exc) for _, future in batch]
        return outcomes

    def close(self) -> None:
        """Commit what is pending, stop the thread and close the connection."""
        with self._wakeup:
            self._is_closing = True
            self._wakeup.notify()
        self._thread.join()
        self._db.close()


class _UnitFailed(Exception):
    """A unit raised in the fast path: the group is rolled back and redone unit by unit."""


def _resolve(outcomes: list[Outcome]) -> None:
    for future, result, error in outcomes:
        if future.done():  # the caller gave up (its request was cancelled); the work stands
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
