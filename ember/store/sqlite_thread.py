"""One SQLite database owned by one thread: the shape every embedded SQLite file of Ember has.

SQLite serialises writes anyway, and a commit may wait on fsync: one dedicated thread runs
every statement, so the event loop never blocks and no two threads share a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from ember.data_dir import create_private
from ember.disk_health import DataDiskFull, is_full_error, release_reserve

T = TypeVar("T")


class SQLiteThread:
    """A WAL database at `path`, migrated to the end of `migrations` (ordered, idempotent SQL;
    the index of each is its schema version), with statements run by `run` on its thread."""

    def __init__(self, path: Path, migrations: Sequence[str], *, is_durable: bool, name: str) -> None:
        """`is_durable`: fsync every commit (synchronous=FULL), for what is acknowledged to
        callers; otherwise a commit survives a crash of Ember but not of the machine."""
        create_private(path)
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ember-{name}")
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={'FULL' if is_durable else 'NORMAL'}")
        self.db.execute("PRAGMA busy_timeout=5000")
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for index, statement in enumerate(migrations[version:], start=version):
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(statement)
            self.db.execute(f"PRAGMA user_version={index + 1}")
            self.db.execute("COMMIT")

    async def run(self, work: Callable[[], T], *, frees_space: bool = False) -> T:
        """`work()` on the database's thread. A full disk raises DataDiskFull; `frees_space`
        (a delete) first tries again with the data dir's reserve given back to the disk."""
        loop = asyncio.get_running_loop()
        is_retry = False
        while True:
            try:
                return await loop.run_in_executor(self._executor, work)
            except (sqlite3.Error, OSError) as exc:
                if not is_full_error(exc):
                    raise
                if is_retry or not (frees_space and release_reserve(self.path.parent)):
                    raise DataDiskFull(self.path.parent) from exc
                is_retry = True

    async def close(self) -> None:
        await self.run(self.db.close)
        self._executor.shutdown(wait=True)


@contextlib.contextmanager
def immediate_transaction(db: sqlite3.Connection) -> Iterator[None]:
    """The block as one IMMEDIATE transaction (the write lock taken at its start, so checks and
    writes inside it see no other writer): committed when it ends, rolled back if it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")  # inside: a commit that fails (a full disk) is rolled back too
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
