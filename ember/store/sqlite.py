"""SQLite (WAL) store: the embedded default. All SQL runs on one dedicated thread."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ember.errors import ResourceConflictException
from ember.models import FunctionConfig
from ember.store.base import Store

T = TypeVar("T")

# Ordered, idempotent migrations; the index of each is its schema version.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE IF NOT EXISTS functions (
        name TEXT PRIMARY KEY,
        revision_id TEXT NOT NULL,
        code_size INTEGER NOT NULL,
        record TEXT NOT NULL
    )
    """,
]


class SQLiteStore(Store):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One thread owns the connection: SQLite writes are serialised anyway, and the
        # event loop never blocks on a commit's fsync.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ember-sqlite")
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # durable before we answer 2xx
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for index, statement in enumerate(MIGRATIONS[version:], start=version):
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version={index + 1}")
            self._db.execute("COMMIT")

    async def _run(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def create_function(self, function: FunctionConfig) -> None:
        def insert() -> None:
            try:
                self._db.execute(
                    "INSERT INTO functions (name, revision_id, code_size, record) VALUES (?, ?, ?, ?)",
                    (function.name, function.revision_id, function.code.size_bytes, _dump(function)),
                )
            except sqlite3.IntegrityError as exc:
                raise ResourceConflictException(f"Function already exist: {function.name}") from exc

        await self._run(insert)

    async def get_function(self, name: str) -> FunctionConfig | None:
        row = await self._run(
            lambda: self._db.execute("SELECT record FROM functions WHERE name = ?", (name,)).fetchone()
        )
        return _load(row[0]) if row else None

    async def list_functions(self, after_name: str | None, limit: int) -> list[FunctionConfig]:
        rows = await self._run(
            lambda: self._db.execute(
                "SELECT record FROM functions WHERE name > ? ORDER BY name LIMIT ?", (after_name or "", limit)
            ).fetchall()
        )
        return [_load(row[0]) for row in rows]

    async def replace_function(self, function: FunctionConfig, expected_revision_id: str) -> bool:
        def update() -> bool:
            cursor = self._db.execute(
                "UPDATE functions SET revision_id = ?, code_size = ?, record = ? WHERE name = ? AND revision_id = ?",
                (function.revision_id, function.code.size_bytes, _dump(function), function.name,
                 expected_revision_id),
            )
            return cursor.rowcount == 1

        return await self._run(update)

    async def delete_function(self, name: str) -> bool:
        cursor = await self._run(lambda: self._db.execute("DELETE FROM functions WHERE name = ?", (name,)))
        return cursor.rowcount == 1

    async def count_functions(self) -> tuple[int, int]:
        row = await self._run(
            lambda: self._db.execute("SELECT COUNT(*), COALESCE(SUM(code_size), 0) FROM functions").fetchone()
        )
        return int(row[0]), int(row[1])

    async def close(self) -> None:
        await self._run(self._db.close)
        self._executor.shutdown(wait=True)


def _dump(function: FunctionConfig) -> str:
    return json.dumps(function.to_record())


def _load(text: str) -> FunctionConfig:
    record: dict[str, Any] = json.loads(text)
    return FunctionConfig.from_record(record)
