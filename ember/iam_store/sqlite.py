"""SQLite (WAL) IAM store: the embedded default. All SQL runs on one dedicated thread, and every
check-then-write runs in one IMMEDIATE transaction there."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypeVar

from ember.errors import (
    DeleteConflictException,
    EntityAlreadyExistsException,
    LimitExceededException,
    NoSuchEntityException,
)
from ember.iam_store.base import (
    MAX_ACCESS_KEYS_PER_USER,
    MAX_POLICY_VERSIONS,
    AccessKey,
    Group,
    IamStore,
    ManagedPolicy,
    OwnerKind,
    PolicyVersion,
    Role,
    Tag,
    User,
)
from ember.store.sqlite_thread import SQLiteThread, immediate_transaction

T = TypeVar("T")

_IDENTITY_COLUMNS = "name TEXT PRIMARY KEY COLLATE NOCASE, path TEXT NOT NULL, record TEXT NOT NULL"

# Ordered, idempotent migrations; the index of each is its schema version. Names compare without
# case, as IAM's do.
MIGRATIONS: list[str] = [
    f"CREATE TABLE IF NOT EXISTS users ({_IDENTITY_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS groups ({_IDENTITY_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS roles ({_IDENTITY_COLUMNS})",
    """
    CREATE TABLE IF NOT EXISTS access_keys (
        id TEXT PRIMARY KEY, user_name TEXT NOT NULL COLLATE NOCASE, created_at TEXT NOT NULL, record TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS access_keys_by_user ON access_keys (user_name)",
    """
    CREATE TABLE IF NOT EXISTS group_members (
        group_name TEXT NOT NULL COLLATE NOCASE, user_name TEXT NOT NULL COLLATE NOCASE,
        PRIMARY KEY (group_name, user_name)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS inline_policies (
        kind TEXT NOT NULL, owner TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL, document TEXT NOT NULL,
        PRIMARY KEY (kind, owner, name)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS managed_policies (
        arn TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE, path TEXT NOT NULL,
        last_version INTEGER NOT NULL, record TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS policy_versions (
        arn TEXT NOT NULL, number INTEGER NOT NULL, document TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (arn, number)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS attachments (
        kind TEXT NOT NULL, owner TEXT NOT NULL COLLATE NOCASE, arn TEXT NOT NULL, PRIMARY KEY (kind, owner, arn)
    )
    """,
]

_OWNER_TABLES = {OwnerKind.USER: "users", OwnerKind.GROUP: "groups", OwnerKind.ROLE: "roles"}
_OWNER_NOUNS = {OwnerKind.USER: "user", OwnerKind.GROUP: "group", OwnerKind.ROLE: "role"}


class SQLiteIamStore(IamStore):
    def __init__(self, path: Path) -> None:
        self._sqlite = SQLiteThread(path, MIGRATIONS, is_durable=True, name="iam")  # durable before 2xx
        self._db = self._sqlite.db
        self._run = self._sqlite.run
        self._generation = 0  # this object is the only writer of its file: one server per data dir

    async def _transaction(self, work: Callable[[], T]) -> T:
        """`work()` in one IMMEDIATE transaction: its checks and its writes are one step."""

        def run() -> T:
            with immediate_transaction(self._db):
                return work()

        return await self._write(run)

    async def _write(self, work: Callable[[], T]) -> T:
        """`work()`, a write: the generation moves on once it has run (committed or refused)."""
        try:
            return await self._run(work)
        finally:
            self._generation += 1

    @property
    def generation(self) -> int:
        return self._generation

    def _exists(self, table: str, name: str) -> bool:
        return self._db.execute(f"SELECT 1 FROM {table} WHERE name = ?", (name,)).fetchone() is not None

    def _require_owner(self, kind: OwnerKind, owner: str) -> None:
        if not self._exists(_OWNER_TABLES[kind], owner):
            raise NoSuchEntityException(f"The {_OWNER_NOUNS[kind]} with name {owner} cannot be found.")

    # Users, groups and roles ------------------------------------------------------------

    async def _insert_identity(self, table: str, noun: str, name: str, path: str, record: dict[str, Any]) -> None:
        def insert() -> None:
            try:
                self._db.execute(f"INSERT INTO {table} (name, path, record) VALUES (?, ?, ?)",
                                 (name, path, json.dumps(record)))
            except sqlite3.IntegrityError:
                raise EntityAlreadyExistsException(f"{noun} with name {name} already exists.") from None

        await self._write(insert)

    async def _get_record(self, table: str, name: str) -> dict[str, Any] | None:
        rows = await self._run(lambda: self._db.execute(f"SELECT record FROM {table} WHERE name = ?",
                                                        (name,)).fetchall())
        return json.loads(rows[0][0]) if rows else None

    async def _list_records(self, table: str, path_prefix: str, after_name: str | None,
                            limit: int) -> list[dict[str, Any]]:
        rows = await self._run(lambda: self._db.execute(
            f"SELECT record FROM {table} WHERE substr(path, 1, ?) = ? AND name > ? COLLATE NOCASE "
            "ORDER BY name LIMIT ?", (len(path_prefix), path_prefix, after_name or "", limit)).fetchall())
        return [json.loads(row[0]) for row in rows]

    def _refuse_delete_if(self, query: str, name: str, message: str) -> None:
        if self._db.execute(query, (name,)).fetchone() is not None:
            raise DeleteConflictException(message)

    def _refuse_delete_with_policies(self, kind: OwnerKind, name: str) -> None:
        self._refuse_delete_if(f"SELECT 1 FROM inline_policies WHERE kind = '{kind}' AND owner = ?", name,
                               "Cannot delete entity, must delete policies first.")
        self._refuse_delete_if(f"SELECT 1 FROM attachments WHERE kind = '{kind}' AND owner = ?", name,
                               "Cannot delete entity, must detach all policies first.")

    async def create_user(self, user: User) -> None:
        await self._insert_identity("users", "User", user.name, user.path, _record(user))

    async def get_user(self, name: str) -> User | None:
        record = await self._get_record("users", name)
        return _user(record) if record else None

    async def list_users(self, path_prefix: str, after_name: str | None, limit: int) -> list[User]:
        return [_user(r) for r in await self._list_records("users", path_prefix, after_name, limit)]

    async def delete_user(self, name: str) -> bool:
        def delete() -> bool:
            self._refuse_delete_if("SELECT 1 FROM access_keys WHERE user_name = ?", name,
                                   "Cannot delete entity, must delete access keys first.")
            self._refuse_delete_with_policies(OwnerKind.USER, name)
            self._refuse_delete_if("SELECT 1 FROM group_members WHERE user_name = ?", name,
                                   "Cannot delete entity, must remove users from group first.")
            return self._db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 1

        return await self._transaction(delete)

    async def create_group(self, group: Group) -> None:
        await self._insert_identity("groups", "Group", group.name, group.path, asdict(group))

    async def get_group(self, name: str) -> Group | None:
        record = await self._get_record("groups", name)
        return Group(**record) if record else None

    async def list_groups(self, path_prefix: str, after_name: str | None, limit: int) -> list[Group]:
        return [Group(**r) for r in await self._list_records("groups", path_prefix, after_name, limit)]

    async def delete_group(self, name: str) -> bool:
        def delete() -> bool:
            self._refuse_delete_if("SELECT 1 FROM group_members WHERE group_name = ?", name,
                                   "Cannot delete entity, must remove users from group first.")
            self._refuse_delete_with_policies(OwnerKind.GROUP, name)
            return self._db.execute("DELETE FROM groups WHERE name = ?", (name,)).rowcount == 1

        return await self._transaction(delete)

    async def create_role(self, role: Role) -> None:
        await self._insert_identity("roles", "Role", role.name, role.path, _record(role))

    async def get_role(self, name: str) -> Role | None:
        record = await self._get_record("roles", name)
        return _role(record) if record else None

    async def list_roles(self, path_prefix: str, after_name: str | None, limit: int) -> list[Role]:
        return [_role(r) for r in await self._list_records("roles", path_prefix, after_name, limit)]

    async def replace_role(self, role: Role) -> bool:
        return await self._write(lambda: self._db.execute(
            "UPDATE roles SET record = ? WHERE name = ?", (json.dumps(_record(role)), role.name)).rowcount == 1)

    async def delete_role(self, name: str) -> bool:
        def delete() -> bool:
            self._refuse_delete_with_policies(OwnerKind.ROLE, name)
            return self._db.execute("DELETE FROM roles WHERE name = ?", (name,)).rowcount == 1

        return await self._transaction(delete)

    # Access keys --------------------------------------------------------------------------

    async def create_access_key(self, key: AccessKey) -> None:
        def insert() -> None:
            self._require_owner(OwnerKind.USER, key.user_name)
            count = self._db.execute("SELECT COUNT(*) FROM access_keys WHERE user_name = ?",
                                     (key.user_name,)).fetchone()[0]
            if count >= MAX_ACCESS_KEYS_PER_USER:
                raise LimitExceededException(
                    f"Cannot exceed quota for AccessKeysPerUser: {MAX_ACCESS_KEYS_PER_USER}")
            self._db.execute("INSERT INTO access_keys (id, user_name, created_at, record) VALUES (?, ?, ?, ?)",
                             (key.access_key_id, key.user_name, key.created_at, json.dumps(asdict(key))))

        await self._transaction(insert)

    async def get_access_key(self, access_key_id: str) -> AccessKey | None:
        rows = await self._run(lambda: self._db.execute("SELECT record FROM access_keys WHERE id = ?",
                                                        (access_key_id,)).fetchall())
        return AccessKey(**json.loads(rows[0][0])) if rows else None

    async def list_access_keys(self, user_name: str) -> list[AccessKey]:
        rows = await self._run(lambda: self._db.execute(
            "SELECT record FROM access_keys WHERE user_name = ? ORDER BY created_at, id", (user_name,)).fetchall())
        return [AccessKey(**json.loads(row[0])) for row in rows]

    async def set_access_key_status(self, user_name: str, access_key_id: str, status: str) -> bool:
        def update() -> bool:
            rows = self._db.execute("SELECT record FROM access_keys WHERE id = ? AND user_name = ?",
                                    (access_key_id, user_name)).fetchall()
            if not rows:
                return False
            key = replace(AccessKey(**json.loads(rows[0][0])), status=status)
            self._db.execute("UPDATE access_keys SET record = ? WHERE id = ?",
                             (json.dumps(asdict(key)), key.access_key_id))
            return True

        return await self._transaction(update)

    async def delete_access_key(self, user_name: str, access_key_id: str) -> bool:
        return await self._write(lambda: self._db.execute("DELETE FROM access_keys WHERE id = ? AND user_name = ?",
                                                        (access_key_id, user_name)).rowcount == 1)

    # Group membership ---------------------------------------------------------------------

    async def add_user_to_group(self, group_name: str, user_name: str) -> None:
        def insert() -> None:
            self._require_owner(OwnerKind.GROUP, group_name)
            self._require_owner(OwnerKind.USER, user_name)
            self._db.execute("INSERT OR IGNORE INTO group_members (group_name, user_name) VALUES (?, ?)",
                             (group_name, user_name))

        await self._transaction(insert)

    async def remove_user_from_group(self, group_name: str, user_name: str) -> bool:
        return await self._write(lambda: self._db.execute(
            "DELETE FROM group_members WHERE group_name = ? AND user_name = ?", (group_name, user_name)).rowcount == 1)

    async def groups_of_user(self, user_name: str) -> list[Group]:
        rows = await self._run(lambda: self._db.execute(
            "SELECT g.record FROM groups g JOIN group_members m ON m.group_name = g.name "
            "WHERE m.user_name = ? ORDER BY g.name", (user_name,)).fetchall())
        return [Group(**json.loads(row[0])) for row in rows]

    async def users_of_group(self, group_name: str) -> list[User]:
        rows = await self._run(lambda: self._db.execute(
            "SELECT u.record FROM users u JOIN group_members m ON m.user_name = u.name "
            "WHERE m.group_name = ? ORDER BY u.name", (group_name,)).fetchall())
        return [_user(json.loads(row[0])) for row in rows]

    # Inline policies ----------------------------------------------------------------------

    async def put_inline_policy(self, kind: OwnerKind, owner: str, policy_name: str, document: str) -> None:
        def put() -> None:
            self._require_owner(kind, owner)
            self._db.execute("INSERT OR REPLACE INTO inline_policies (kind, owner, name, document) VALUES (?, ?, ?, ?)",
                             (str(kind), owner, policy_name, document))

        await self._transaction(put)

    async def get_inline_policy(self, kind: OwnerKind, owner: str, policy_name: str) -> str | None:
        rows = await self._run(lambda: self._db.execute(
            "SELECT document FROM inline_policies WHERE kind = ? AND owner = ? AND name = ?",
            (str(kind), owner, policy_name)).fetchall())
        return str(rows[0][0]) if rows else None

    async def list_inline_policies(self, kind: OwnerKind, owner: str) -> list[str]:
        rows = await self._run(lambda: self._db.execute(
            "SELECT name FROM inline_policies WHERE kind = ? AND owner = ? ORDER BY name",
            (str(kind), owner)).fetchall())
        return [str(row[0]) for row in rows]

    async def delete_inline_policy(self, kind: OwnerKind, owner: str, policy_name: str) -> bool:
        return await self._write(lambda: self._db.execute(
            "DELETE FROM inline_policies WHERE kind = ? AND owner = ? AND name = ?",
            (str(kind), owner, policy_name)).rowcount == 1)

    # Managed policies ---------------------------------------------------------------------

    def _policy(self, row: tuple[Any, ...]) -> ManagedPolicy:
        arn, record = row
        count = self._db.execute("SELECT COUNT(*) FROM attachments WHERE arn = ?", (arn,)).fetchone()[0]
        return replace(ManagedPolicy(**json.loads(record)), attachment_count=count)

    async def create_managed_policy(self, policy: ManagedPolicy, first_version: PolicyVersion) -> None:
        def insert() -> None:
            record = replace(policy, default_version_id="v1", attachment_count=0)
            try:
                self._db.execute(
                    "INSERT INTO managed_policies (arn, name, path, last_version, record) VALUES (?, ?, ?, 1, ?)",
                    (policy.arn, policy.name, policy.path, json.dumps(asdict(record))))
            except sqlite3.IntegrityError:
                raise EntityAlreadyExistsException(
                    f"A policy called {policy.name} already exists. Duplicate names are not allowed.") from None
            self._db.execute("INSERT INTO policy_versions (arn, number, document, created_at) VALUES (?, 1, ?, ?)",
                             (policy.arn, first_version.document, first_version.created_at))

        await self._transaction(insert)

    async def get_managed_policy(self, arn: str) -> ManagedPolicy | None:
        def select() -> ManagedPolicy | None:
            rows = self._db.execute("SELECT arn, record FROM managed_policies WHERE arn = ?", (arn,)).fetchall()
            return self._policy(rows[0]) if rows else None

        return await self._run(select)

    async def list_managed_policies(self, path_prefix: str, only_attached: bool, after_name: str | None,
                                    limit: int) -> list[ManagedPolicy]:
        attached = " AND arn IN (SELECT arn FROM attachments)" if only_attached else ""

        def select() -> list[ManagedPolicy]:
            rows = self._db.execute(
                f"SELECT arn, record FROM managed_policies WHERE substr(path, 1, ?) = ?{attached} "
                "AND name > ? COLLATE NOCASE ORDER BY name LIMIT ?",
                (len(path_prefix), path_prefix, after_name or "", limit)).fetchall()
            return [self._policy(row) for row in rows]

        return await self._run(select)

    async def delete_managed_policy(self, arn: str) -> bool:
        def delete() -> bool:
            self._refuse_delete_if("SELECT 1 FROM attachments WHERE arn = ?", arn,
                                   "Cannot delete a policy attached to entities.")
            if self._db.execute("SELECT COUNT(*) FROM policy_versions WHERE arn = ?", (arn,)).fetchone()[0] > 1:
                raise DeleteConflictException("This policy has more than one version. Before you delete a policy, "
                                              "you must delete the policy's versions. The default version is "
                                              "deleted with the policy.")
            self._db.execute("DELETE FROM policy_versions WHERE arn = ?", (arn,))
            return self._db.execute("DELETE FROM managed_policies WHERE arn = ?", (arn,)).rowcount == 1

        return await self._transaction(delete)

    def _policy_record(self, arn: str) -> tuple[ManagedPolicy, int]:
        rows = self._db.execute("SELECT record, last_version FROM managed_policies WHERE arn = ?", (arn,)).fetchall()
        if not rows:
            raise NoSuchEntityException(f"Policy {arn} does not exist or is not attachable.")
        return ManagedPolicy(**json.loads(rows[0][0])), int(rows[0][1])

    async def add_policy_version(self, arn: str, version: PolicyVersion, set_as_default: bool) -> str:
        def insert() -> str:
            policy, last_version = self._policy_record(arn)
            if self._db.execute("SELECT COUNT(*) FROM policy_versions WHERE arn = ?",
                                (arn,)).fetchone()[0] >= MAX_POLICY_VERSIONS:
                raise LimitExceededException(
                    f"A managed policy can have up to {MAX_POLICY_VERSIONS} versions. Before you create a new "
                    "version, you must delete an existing version.")
            number = last_version + 1
            self._db.execute("INSERT INTO policy_versions (arn, number, document, created_at) VALUES (?, ?, ?, ?)",
                             (arn, number, version.document, version.created_at))
            if set_as_default:
                policy = replace(policy, default_version_id=f"v{number}", updated_at=version.created_at)
            self._db.execute("UPDATE managed_policies SET last_version = ?, record = ? WHERE arn = ?",
                             (number, json.dumps(asdict(policy)), arn))
            return f"v{number}"

        return await self._transaction(insert)

    def _versions(self, arn: str, number: int | None) -> list[PolicyVersion]:
        rows = self._db.execute("SELECT record FROM managed_policies WHERE arn = ?", (arn,)).fetchall()
        if not rows:
            return []
        default_id = json.loads(rows[0][0])["default_version_id"]
        query = "SELECT number, document, created_at FROM policy_versions WHERE arn = ?"
        args: tuple[str | int, ...] = (arn,)
        if number is not None:
            query += " AND number = ?"
            args = (arn, number)
        return [PolicyVersion(f"v{n}", document, created_at, is_default=f"v{n}" == default_id)
                for n, document, created_at in self._db.execute(query + " ORDER BY number DESC", args).fetchall()]

    async def get_policy_version(self, arn: str, version_id: str) -> PolicyVersion | None:
        number = _version_number(version_id)
        if number is None:
            return None
        versions = await self._run(lambda: self._versions(arn, number))
        return versions[0] if versions else None

    async def list_policy_versions(self, arn: str) -> list[PolicyVersion]:
        return await self._run(lambda: self._versions(arn, None))

    async def set_default_policy_version(self, arn: str, version_id: str) -> bool:
        number = _version_number(version_id)

        def update() -> bool:
            policy, _ = self._policy_record(arn)
            if number is None or not self._versions(arn, number):
                return False
            self._db.execute("UPDATE managed_policies SET record = ? WHERE arn = ?",
                             (json.dumps(asdict(replace(policy, default_version_id=version_id))), arn))
            return True

        return await self._transaction(update)

    async def delete_policy_version(self, arn: str, version_id: str) -> bool:
        number = _version_number(version_id)

        def delete() -> bool:
            versions = self._versions(arn, number) if number is not None else []
            if not versions:
                return False
            if versions[0].is_default:
                raise DeleteConflictException("Cannot delete the default version of a policy.")
            self._db.execute("DELETE FROM policy_versions WHERE arn = ? AND number = ?", (arn, number))
            return True

        return await self._transaction(delete)

    # Attachments --------------------------------------------------------------------------

    async def attach_policy(self, kind: OwnerKind, owner: str, arn: str) -> None:
        def insert() -> None:
            self._require_owner(kind, owner)
            self._policy_record(arn)
            self._db.execute("INSERT OR IGNORE INTO attachments (kind, owner, arn) VALUES (?, ?, ?)",
                             (str(kind), owner, arn))

        await self._transaction(insert)

    async def detach_policy(self, kind: OwnerKind, owner: str, arn: str) -> bool:
        return await self._write(lambda: self._db.execute(
            "DELETE FROM attachments WHERE kind = ? AND owner = ? AND arn = ?", (str(kind), owner, arn)).rowcount == 1)

    async def attached_policies(self, kind: OwnerKind, owner: str) -> list[ManagedPolicy]:
        def select() -> list[ManagedPolicy]:
            rows = self._db.execute(
                "SELECT p.arn, p.record FROM managed_policies p JOIN attachments a ON a.arn = p.arn "
                "WHERE a.kind = ? AND a.owner = ? ORDER BY p.name", (str(kind), owner)).fetchall()
            return [self._policy(row) for row in rows]

        return await self._run(select)

    async def policy_attachments(self, arn: str) -> list[tuple[OwnerKind, str]]:
        rows = await self._run(lambda: self._db.execute(
            "SELECT kind, owner FROM attachments WHERE arn = ? ORDER BY kind, owner", (arn,)).fetchall())
        return [(OwnerKind(kind), str(owner)) for kind, owner in rows]

    async def close(self) -> None:
        await self._sqlite.close()


def _record(identity: User | Role) -> dict[str, Any]:
    record = asdict(identity)
    record["tags"] = [[tag.key, tag.value] for tag in identity.tags]
    return record


def _tags(record: dict[str, Any]) -> dict[str, Any]:
    return {**record, "tags": tuple(Tag(key, value) for key, value in record.get("tags", []))}


def _user(record: dict[str, Any]) -> User:
    return User(**_tags(record))


def _role(record: dict[str, Any]) -> Role:
    return Role(**_tags(record))


def _version_number(version_id: str) -> int | None:
    digits = version_id[1:] if version_id.startswith("v") else ""
    return int(digits) if digits.isdigit() else None
