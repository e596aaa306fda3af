"""SQLite (WAL) store: the embedded default. All SQL runs on one dedicated thread."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ember.errors import ResourceConflictException
from ember.models import Alias, EventInvokeConfig, FunctionConfig, FunctionUrlConfig, LayerVersion, ProvisionedConfig
from ember.store.base import CodeReferences, Sealer, Store
from ember.store.sqlite_thread import SQLiteThread, immediate_transaction

T = TypeVar("T")
#: bound on cached event invoke config lookups (absent ones included); past it the cache starts over
MAX_CACHED_EVENT_CONFIGS = 10_000
#: the record key under which a sealed environment is kept (no variable may be named so: AWS's
#: names start with a letter)
SEALED_KEY = "_sealed"

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
    """
    CREATE TABLE IF NOT EXISTS versions (
        function_name TEXT NOT NULL,
        number INTEGER NOT NULL,
        revision_id TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (function_name, number)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS aliases (
        function_name TEXT NOT NULL,
        name TEXT NOT NULL,
        revision_id TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (function_name, name)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS layer_versions (
        layer_name TEXT NOT NULL,
        number INTEGER NOT NULL,
        revision_id TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (layer_name, number)
    )
    """,
    # Numbers are never reused, even after the newest version is deleted (as on Lambda).
    """
    CREATE TABLE IF NOT EXISTS layer_counters (
        layer_name TEXT PRIMARY KEY,
        last_number INTEGER NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS provisioned_configs (
        function_name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        requested INTEGER NOT NULL,
        last_modified TEXT NOT NULL,
        PRIMARY KEY (function_name, qualifier)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS event_invoke_configs (
        function_name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (function_name, qualifier)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS function_urls (
        function_name TEXT NOT NULL,
        qualifier TEXT NOT NULL,
        url_id TEXT NOT NULL UNIQUE,
        record TEXT NOT NULL,
        PRIMARY KEY (function_name, qualifier)
    )
    """,
]


class SQLiteStore(Store):
    def __init__(self, path: Path, sealer: Sealer | None = None) -> None:
        """`sealer` encrypts functions' environment variables at rest; without one they are kept
        in the clear (tests of the store alone)."""
        self._sealer = sealer
        self._sqlite = SQLiteThread(path, MIGRATIONS, is_durable=True, name="store")  # durable before 2xx
        self._db = self._sqlite.db
        self._run = self._sqlite.run
        # Point reads (a function, version or alias by its key) run on the event loop against a
        # second, read-only connection: in WAL mode a reader never waits for the writer, and one
        # indexed row costs less than the hop to the writer thread that every invoke would pay.
        self._reader = sqlite3.connect(path, isolation_level=None)
        self._reader.execute("PRAGMA query_only=1")
        if sealer is not None:
            self._seal_clear_environments()
        # Write-through caches of the two lookups every Event invoke makes. This store is the only
        # writer of its file (one server process), so its own writes are all the invalidation
        # needed: each write path forgets the entry before it starts and again once it has
        # committed, so no read that raced the write can leave a stale entry behind.
        self._functions: dict[str, FunctionConfig] = {}  # name → $LATEST (frozen; changed with replace())
        self._event_configs: dict[tuple[str, str], EventInvokeConfig | None] = {}  # absent ones too

    def _dump(self, function: FunctionConfig) -> str:
        record = function.to_record()
        if self._sealer is not None and record["environment"]:
            sealed = self._sealer.seal(json.dumps(record["environment"]).encode())
            record["environment"] = {SEALED_KEY: base64.b64encode(sealed).decode()}
        return json.dumps(record)

    def _load(self, text: str) -> FunctionConfig:
        record: dict[str, Any] = json.loads(text)
        environment = record.get("environment") or {}
        if SEALED_KEY in environment:
            if self._sealer is None:
                raise ValueError("this store holds sealed environment variables and was opened without a sealer")
            record["environment"] = json.loads(self._sealer.unseal(base64.b64decode(environment[SEALED_KEY])))
        return FunctionConfig.from_record(record)

    def _seal_clear_environments(self) -> None:
        """Seal the environments of records written without a sealer (a data dir from before
        sealing), once, at open: nothing is kept in the clear from then on."""
        # Only the rows still holding variables in the clear are read: a start finds none after the first.
        in_clear = (f"json_extract(record, '$.environment') != '{{}}' "
                    f"AND json_extract(record, '$.environment.{SEALED_KEY}') IS NULL")
        for table, key_columns in (("functions", ("name",)), ("versions", ("function_name", "number"))):
            columns = ", ".join(key_columns)
            where = " AND ".join(f"{column} = ?" for column in key_columns)
            for *keys, text in self._db.execute(f"SELECT {columns}, record FROM {table} WHERE {in_clear}").fetchall():
                self._db.execute(f"UPDATE {table} SET record = ? WHERE {where}", (self._dump(self._load(text)), *keys))

    def _forget(self, function_name: str, qualifier: str | None = None, *, whole_function: bool = False) -> None:
        if whole_function:
            self._functions.pop(function_name, None)
            for key in [key for key in self._event_configs if key[0] == function_name]:
                del self._event_configs[key]
        elif qualifier is None:
            self._functions.pop(function_name, None)
        else:
            self._event_configs.pop((function_name, qualifier), None)

    async def _write(self, work: Callable[[], T], function_name: str, qualifier: str | None = None, *,
                     whole_function: bool = False, frees_space: bool = False) -> T:
        """Run a write that changes a cached record, forgetting it before and after the commit."""
        self._forget(function_name, qualifier, whole_function=whole_function)
        try:
            return await self._run(work, frees_space=frees_space)
        finally:
            self._forget(function_name, qualifier, whole_function=whole_function)

    def _read_one(self, query: str, args: tuple[Any, ...]) -> Any:
        rows = self._reader.execute(query, args).fetchall()  # fetchall: the read transaction ends here
        return rows[0][0] if rows else None

    async def create_function(self, function: FunctionConfig) -> None:
        def insert() -> None:
            try:
                self._db.execute(
                    "INSERT INTO functions (name, revision_id, code_size, record) VALUES (?, ?, ?, ?)",
                    (function.name, function.revision_id, function.code.size_bytes, self._dump(function)),
                )
            except sqlite3.IntegrityError as exc:
                raise ResourceConflictException(f"Function already exist: {function.name}") from exc

        await self._write(insert, function.name, whole_function=True)

    async def get_function(self, name: str) -> FunctionConfig | None:
        cached = self._functions.get(name)
        if cached is not None:
            return cached
        text = self._read_one("SELECT record FROM functions WHERE name = ?", (name,))
        if text is None:
            return None  # not cached: names that do not exist would grow the cache without bound
        function = self._load(text)
        self._functions[name] = function
        return function

    async def list_functions(self, after_name: str | None, limit: int) -> list[FunctionConfig]:
        rows = await self._run(
            lambda: self._db.execute(
                "SELECT record FROM functions WHERE name > ? ORDER BY name LIMIT ?", (after_name or "", limit)
            ).fetchall()
        )
        return [self._load(row[0]) for row in rows]

    async def replace_function(self, function: FunctionConfig, expected_revision_id: str) -> bool:
        def update() -> bool:
            cursor = self._db.execute(
                "UPDATE functions SET revision_id = ?, code_size = ?, record = ? WHERE name = ? AND revision_id = ?",
                (function.revision_id, function.code.size_bytes, self._dump(function), function.name,
                 expected_revision_id),
            )
            return cursor.rowcount == 1

        return await self._write(update, function.name)

    async def delete_function(self, name: str) -> bool:
        def delete() -> bool:
            with immediate_transaction(self._db):
                deleted = self._db.execute("DELETE FROM functions WHERE name = ?", (name,)).rowcount == 1
                self._db.execute("DELETE FROM versions WHERE function_name = ?", (name,))
                self._db.execute("DELETE FROM aliases WHERE function_name = ?", (name,))
                self._db.execute("DELETE FROM event_invoke_configs WHERE function_name = ?", (name,))
                self._db.execute("DELETE FROM function_urls WHERE function_name = ?", (name,))
            return deleted

        return await self._write(delete, name, whole_function=True, frees_space=True)

    async def add_version(self, version: FunctionConfig) -> bool:
        def insert() -> bool:
            try:
                self._db.execute(
                    "INSERT INTO versions (function_name, number, revision_id, record) VALUES (?, ?, ?, ?)",
                    (version.name, int(version.version), version.revision_id, self._dump(version)),
                )
            except sqlite3.IntegrityError:
                return False
            return True

        return await self._run(insert)

    async def get_version(self, function_name: str, version: str) -> FunctionConfig | None:
        if not version.isdigit():
            return None
        text = self._read_one("SELECT record FROM versions WHERE function_name = ? AND number = ?",
                              (function_name, int(version)))
        return self._load(text) if text is not None else None

    async def list_versions(self, function_name: str) -> list[FunctionConfig]:
        rows = await self._run(lambda: self._db.execute(
            "SELECT record FROM versions WHERE function_name = ? ORDER BY number", (function_name,)
        ).fetchall())
        return [self._load(row[0]) for row in rows]

    async def replace_version(self, version: FunctionConfig, expected_revision_id: str) -> bool:
        cursor = await self._run(lambda: self._db.execute(
            "UPDATE versions SET revision_id = ?, record = ? WHERE function_name = ? AND number = ? "
            "AND revision_id = ?",
            (version.revision_id, self._dump(version), version.name, int(version.version), expected_revision_id),
        ))
        return cursor.rowcount == 1

    async def delete_version(self, function_name: str, version: str) -> bool:
        return await self._write(lambda: self._delete_with_config(
            "DELETE FROM versions WHERE function_name = ? AND number = ?", (function_name, int(version)),
            function_name, version), function_name, version, frees_space=True)

    def _delete_with_config(self, statement: str, args: tuple[Any, ...], function_name: str, qualifier: str) -> bool:
        """Delete a version or alias row and the event invoke config of that qualifier in one transaction."""
        with immediate_transaction(self._db):
            deleted = self._db.execute(statement, args).rowcount == 1
            self._db.execute("DELETE FROM event_invoke_configs WHERE function_name = ? AND qualifier = ?",
                             (function_name, qualifier))
            self._db.execute("DELETE FROM function_urls WHERE function_name = ? AND qualifier = ?",
                             (function_name, qualifier))
        return deleted

    async def create_alias(self, alias: Alias) -> None:
        def insert() -> None:
            try:
                self._db.execute(
                    "INSERT INTO aliases (function_name, name, revision_id, record) VALUES (?, ?, ?, ?)",
                    (alias.function_name, alias.name, alias.revision_id, json.dumps(alias.to_record())),
                )
            except sqlite3.IntegrityError as exc:
                raise ResourceConflictException(
                    f"Alias already exists: {alias.name}"
                ) from exc

        await self._run(insert)

    async def get_alias(self, function_name: str, name: str) -> Alias | None:
        text = self._read_one("SELECT record FROM aliases WHERE function_name = ? AND name = ?", (function_name, name))
        return Alias.from_record(json.loads(text)) if text is not None else None

    async def list_aliases(self, function_name: str) -> list[Alias]:
        rows = await self._run(lambda: self._db.execute(
            "SELECT record FROM aliases WHERE function_name = ? ORDER BY name", (function_name,)
        ).fetchall())
        return [Alias.from_record(json.loads(row[0])) for row in rows]

    async def replace_alias(self, alias: Alias, expected_revision_id: str) -> bool:
        cursor = await self._run(lambda: self._db.execute(
            "UPDATE aliases SET revision_id = ?, record = ? WHERE function_name = ? AND name = ? AND revision_id = ?",
            (alias.revision_id, json.dumps(alias.to_record()), alias.function_name, alias.name, expected_revision_id),
        ))
        return cursor.rowcount == 1

    async def delete_alias(self, function_name: str, name: str) -> bool:
        return await self._write(lambda: self._delete_with_config(
            "DELETE FROM aliases WHERE function_name = ? AND name = ?", (function_name, name), function_name, name),
            function_name, name)

    async def add_layer_version(self, layer_name: str, make: Callable[[int], LayerVersion]) -> LayerVersion:
        def insert() -> LayerVersion:
            with immediate_transaction(self._db):
                row = self._db.execute("SELECT last_number FROM layer_counters WHERE layer_name = ?",
                                       (layer_name,)).fetchone()
                number = (row[0] if row else 0) + 1
                layer = make(number)
                self._db.execute("INSERT OR REPLACE INTO layer_counters (layer_name, last_number) VALUES (?, ?)",
                                 (layer.layer_name, number))
                self._db.execute(
                    "INSERT INTO layer_versions (layer_name, number, revision_id, record) VALUES (?, ?, ?, ?)",
                    (layer.layer_name, number, layer.revision_id, json.dumps(layer.to_record())),
                )
            return layer

        return await self._run(insert)

    async def get_layer_version(self, layer_name: str, version: int) -> LayerVersion | None:
        row = await self._run(lambda: self._db.execute(
            "SELECT record FROM layer_versions WHERE layer_name = ? AND number = ?", (layer_name, version)
        ).fetchone())
        return LayerVersion.from_record(json.loads(row[0])) if row else None

    async def list_layer_versions(self, layer_name: str | None = None) -> list[LayerVersion]:
        def select() -> list[Any]:
            if layer_name is None:
                return self._db.execute(
                    "SELECT record FROM layer_versions ORDER BY layer_name, number DESC").fetchall()
            return self._db.execute("SELECT record FROM layer_versions WHERE layer_name = ? ORDER BY number DESC",
                                    (layer_name,)).fetchall()

        return [LayerVersion.from_record(json.loads(row[0])) for row in await self._run(select)]

    async def replace_layer_version(self, layer: LayerVersion, expected_revision_id: str) -> bool:
        cursor = await self._run(lambda: self._db.execute(
            "UPDATE layer_versions SET revision_id = ?, record = ? WHERE layer_name = ? AND number = ? "
            "AND revision_id = ?",
            (layer.revision_id, json.dumps(layer.to_record()), layer.layer_name, layer.version,
             expected_revision_id),
        ))
        return cursor.rowcount == 1

    async def delete_layer_version(self, layer_name: str, version: int) -> bool:
        cursor = await self._run(lambda: self._db.execute(
            "DELETE FROM layer_versions WHERE layer_name = ? AND number = ?", (layer_name, version)
        ), frees_space=True)
        return cursor.rowcount == 1

    async def put_provisioned(self, config: ProvisionedConfig) -> None:
        await self._run(lambda: self._db.execute(
            "INSERT OR REPLACE INTO provisioned_configs (function_name, qualifier, requested, last_modified) "
            "VALUES (?, ?, ?, ?)", (config.function_name, config.qualifier, config.requested, config.last_modified)))

    async def list_provisioned(self, function_name: str | None = None) -> list[ProvisionedConfig]:
        def select() -> list[Any]:
            query = "SELECT function_name, qualifier, requested, last_modified FROM provisioned_configs"
            if function_name is None:
                return self._db.execute(query + " ORDER BY function_name, qualifier").fetchall()
            return self._db.execute(query + " WHERE function_name = ? ORDER BY qualifier", (function_name,)).fetchall()

        return [ProvisionedConfig(*row) for row in await self._run(select)]

    async def delete_provisioned(self, function_name: str, qualifier: str | None = None) -> bool:
        def delete() -> int:
            if qualifier is None:
                return self._db.execute("DELETE FROM provisioned_configs WHERE function_name = ?",
                                        (function_name,)).rowcount
            return self._db.execute("DELETE FROM provisioned_configs WHERE function_name = ? AND qualifier = ?",
                                    (function_name, qualifier)).rowcount

        return await self._run(delete) > 0

    async def put_event_invoke_config(self, config: EventInvokeConfig) -> None:
        await self._write(lambda: self._db.execute(
            "INSERT OR REPLACE INTO event_invoke_configs (function_name, qualifier, record) VALUES (?, ?, ?)",
            (config.function_name, config.qualifier, json.dumps(config.to_record()))),
            config.function_name, config.qualifier)

    async def get_event_invoke_config(self, function_name: str, qualifier: str) -> EventInvokeConfig | None:
        # Read for every Event invocation accepted and every one run: cached, absent ones included.
        key = (function_name, qualifier)
        if key in self._event_configs:
            return self._event_configs[key]
        text = self._read_one("SELECT record FROM event_invoke_configs WHERE function_name = ? AND qualifier = ?",
                              key)
        config = EventInvokeConfig.from_record(json.loads(text)) if text is not None else None
        if len(self._event_configs) >= MAX_CACHED_EVENT_CONFIGS:  # lookups of qualifiers that do not exist
            self._event_configs.clear()
        self._event_configs[key] = config
        return config

    async def list_event_invoke_configs(self, function_name: str) -> list[EventInvokeConfig]:
        rows = await self._run(lambda: self._db.execute(
            "SELECT record FROM event_invoke_configs WHERE function_name = ? ORDER BY qualifier",
            (function_name,)).fetchall())
        return [EventInvokeConfig.from_record(json.loads(row[0])) for row in rows]

    async def delete_event_invoke_config(self, function_name: str, qualifier: str) -> bool:
        cursor = await self._write(lambda: self._db.execute(
            "DELETE FROM event_invoke_configs WHERE function_name = ? AND qualifier = ?", (function_name, qualifier)),
            function_name, qualifier)
        return cursor.rowcount == 1

    async def create_function_url(self, config: FunctionUrlConfig) -> bool:
        def insert() -> bool:
            try:
                self._db.execute("INSERT INTO function_urls (function_name, qualifier, url_id, record) "
                                 "VALUES (?, ?, ?, ?)", (config.function_name, config.qualifier, config.url_id,
                                                         json.dumps(config.to_record())))
            except sqlite3.IntegrityError:
                return False
            return True

        return await self._run(insert)

    async def replace_function_url(self, config: FunctionUrlConfig) -> bool:
        cursor = await self._run(lambda: self._db.execute(
            "UPDATE function_urls SET record = ? WHERE function_name = ? AND qualifier = ? AND url_id = ?",
            (json.dumps(config.to_record()), config.function_name, config.qualifier, config.url_id)))
        return cursor.rowcount == 1

    async def get_function_url(self, function_name: str, qualifier: str) -> FunctionUrlConfig | None:
        text = self._read_one("SELECT record FROM function_urls WHERE function_name = ? AND qualifier = ?",
                              (function_name, qualifier))
        return FunctionUrlConfig.from_record(json.loads(text)) if text is not None else None

    async def find_function_url(self, url_id: str) -> FunctionUrlConfig | None:
        text = self._read_one("SELECT record FROM function_urls WHERE url_id = ?", (url_id,))
        return FunctionUrlConfig.from_record(json.loads(text)) if text is not None else None

    async def list_function_urls(self, function_name: str) -> list[FunctionUrlConfig]:
        rows = await self._run(lambda: self._db.execute(
            "SELECT record FROM function_urls WHERE function_name = ? ORDER BY qualifier", (function_name,)).fetchall())
        return [FunctionUrlConfig.from_record(json.loads(row[0])) for row in rows]

    async def delete_function_url(self, function_name: str, qualifier: str) -> bool:
        cursor = await self._run(lambda: self._db.execute(
            "DELETE FROM function_urls WHERE function_name = ? AND qualifier = ?", (function_name, qualifier)))
        return cursor.rowcount == 1

    async def code_references(self) -> CodeReferences:
        def select() -> CodeReferences:
            # json_extract in SQLite: no record is parsed in Python, however many there are.
            self._db.execute("BEGIN")
            try:
                digests = {row[0] for row in self._db.execute(
                    "SELECT json_extract(record, '$.code.sha256_hex') FROM functions "
                    "UNION SELECT json_extract(record, '$.code.sha256_hex') FROM versions "
                    "UNION SELECT json_extract(record, '$.code.sha256_hex') FROM layer_versions")}
                layer_lists = {tuple(layer["code"]["sha256_hex"] for layer in json.loads(row[0])) for row in
                               self._db.execute(
                                   "SELECT json_extract(record, '$.layers') FROM functions "
                                   "WHERE json_array_length(record, '$.layers') > 0 "
                                   "UNION SELECT json_extract(record, '$.layers') FROM versions "
                                   "WHERE json_array_length(record, '$.layers') > 0")}
            finally:
                self._db.execute("COMMIT")
            digests.update(digest for layers in layer_lists for digest in layers)
            digests.discard(None)
            return CodeReferences(frozenset(digests), frozenset(layer_lists))

        return await self._run(select)

    async def count_functions(self) -> tuple[int, int]:
        row = await self._run(
            lambda: self._db.execute("SELECT COUNT(*), COALESCE(SUM(code_size), 0) FROM functions").fetchone()
        )
        return int(row[0]), int(row[1])

    async def close(self) -> None:
        self._reader.close()
        await self._sqlite.close()
