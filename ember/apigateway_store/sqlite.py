"""SQLite (WAL) API Gateway store: the embedded default, in its own file (`apigateway.db`). All
SQL runs on one dedicated thread; every write, its checks included, is one IMMEDIATE
transaction there, committed with fsync before the method returns."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from ember.apigateway_store import codec
from ember.apigateway_store.base import ApiGatewayStore, IdTaken
from ember.apigateway_store.records import (
    ApiSnapshot,
    Authorizer,
    DeployedStage,
    Deployment,
    Method,
    Resource,
    RestApi,
    Stage,
    StagePlacement,
)
from ember.errors import BadRequestException, ConflictException, NotFoundException
from ember.store.sqlite_thread import SQLiteThread, immediate_transaction

T = TypeVar("T")

# Ordered, idempotent migrations; the index of each is its schema version. A resource's path is
# kept beside its parent so a subtree is one prefix match and a sibling one indexed lookup.
MIGRATIONS: list[str] = [
    "CREATE TABLE IF NOT EXISTS rest_apis (api_id TEXT PRIMARY KEY, record TEXT NOT NULL)",
    """
    CREATE TABLE IF NOT EXISTS resources (
        api_id TEXT NOT NULL, resource_id TEXT NOT NULL, parent_id TEXT, path_part TEXT, path TEXT NOT NULL,
        PRIMARY KEY (api_id, resource_id), UNIQUE (api_id, path)
    )
    """,
    "CREATE INDEX IF NOT EXISTS resources_by_parent ON resources (api_id, parent_id)",
    """
    CREATE TABLE IF NOT EXISTS methods (
        api_id TEXT NOT NULL, resource_id TEXT NOT NULL, http_method TEXT NOT NULL, authorizer_id TEXT,
        record TEXT NOT NULL, PRIMARY KEY (api_id, resource_id, http_method)
    )
    """,
    "CREATE INDEX IF NOT EXISTS methods_by_authorizer ON methods (api_id, authorizer_id)",
    """
    CREATE TABLE IF NOT EXISTS authorizers (
        api_id TEXT NOT NULL, authorizer_id TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (api_id, authorizer_id)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS deployments (
        api_id TEXT NOT NULL, deployment_id TEXT NOT NULL, record TEXT NOT NULL, snapshot TEXT NOT NULL,
        PRIMARY KEY (api_id, deployment_id)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS stages (
        api_id TEXT NOT NULL, stage_name TEXT NOT NULL, deployment_id TEXT NOT NULL, record TEXT NOT NULL,
        PRIMARY KEY (api_id, stage_name)
    )
    """,
    "CREATE INDEX IF NOT EXISTS stages_by_deployment ON stages (api_id, deployment_id)",
]

#: the tables holding what is inside an API, emptied of it when the API is deleted
_INSIDE_API_TABLES = ("methods", "resources", "authorizers", "stages", "deployments")
_RESOURCE_COLUMNS = "resource_id, parent_id, path_part, path"


def is_variable(path_part: str | None) -> bool:
    """`{id}` or `{proxy+}`: a path part that matches any segment."""
    return path_part is not None and path_part.startswith("{") and path_part.endswith("}")


def is_greedy(path_part: str | None) -> bool:
    """`{proxy+}`: matches the rest of the path, so nothing can sit below it."""
    return path_part is not None and path_part.startswith("{") and path_part.endswith("+}")


class SQLiteApiGatewayStore(ApiGatewayStore):
    def __init__(self, path: Path, account_id: str) -> None:
        self._sqlite = SQLiteThread(path, MIGRATIONS, is_durable=True, name="apigateway")  # durable before 2xx
        self._db = self._sqlite.db
        self.account_id = account_id

    async def _read(self, work: Callable[[], T]) -> T:
        # Every statement runs on the one thread in turn, so a read of several tables sees one state.
        return await self._sqlite.run(work)

    async def _transaction(self, work: Callable[[], T], *, frees_space: bool = False) -> T:
        """`work()` in one IMMEDIATE transaction: its checks and its writes are one step."""

        def run() -> T:
            with immediate_transaction(self._db):
                return work()

        return await self._sqlite.run(run, frees_space=frees_space)

    async def close(self) -> None:
        await self._sqlite.close()

    # Lookups inside a transaction, raising API Gateway's NotFoundException -------------

    def _api(self, api_id: str) -> RestApi:
        row = self._db.execute("SELECT record FROM rest_apis WHERE api_id = ?", (api_id,)).fetchone()
        if row is None:
            raise NotFoundException(f"Invalid API identifier specified {self.account_id}:{api_id}")
        return codec.rest_api(codec.load(row[0]))

    def _resource_row(self, api_id: str, resource_id: str) -> Resource | None:
        row = self._db.execute(f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE api_id = ? AND resource_id = ?",
                               (api_id, resource_id)).fetchone()
        return Resource(*row) if row else None

    def _resource(self, api_id: str, resource_id: str) -> Resource:
        found = self._resource_row(api_id, resource_id)
        if found is None:
            raise NotFoundException("Invalid Resource identifier specified")
        return found

    def _methods(self, api_id: str, resource_id: str | None = None) -> dict[str, dict[str, Method]]:
        """resource id → HTTP method → method, for the API (or one resource of it)."""
        query = "SELECT resource_id, record FROM methods WHERE api_id = ?"
        args: tuple[str, ...] = (api_id,)
        if resource_id is not None:
            query, args = query + " AND resource_id = ?", (api_id, resource_id)
        found: dict[str, dict[str, Method]] = {}
        for owner, record in self._db.execute(query + " ORDER BY http_method", args):
            method = codec.method(codec.load(record))
            found.setdefault(owner, {})[method.http_method] = method
        return found

    def _resources(self, api_id: str) -> list[Resource]:
        methods = self._methods(api_id)
        rows = self._db.execute(f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE api_id = ? ORDER BY path",
                                (api_id,)).fetchall()
        return [Resource(row[0], row[1], row[2], row[3], methods.get(row[0], {})) for row in rows]

    def _authorizers(self, api_id: str) -> list[Authorizer]:
        rows = self._db.execute("SELECT record FROM authorizers WHERE api_id = ? ORDER BY authorizer_id",
                                (api_id,)).fetchall()
        return [codec.authorizer(codec.load(row[0])) for row in rows]

    def _check_authorizer(self, api_id: str, method: Method) -> None:
        if method.authorizer_id is None:
            return
        if self._db.execute("SELECT 1 FROM authorizers WHERE api_id = ? AND authorizer_id = ?",
                            (api_id, method.authorizer_id)).fetchone() is None:
            raise BadRequestException("Invalid authorizer ID specified. Setting the authorization type to CUSTOM or "
                                      "COGNITO_USER_POOLS requires a valid authorizer.")

    def _stage_row(self, api_id: str, stage_name: str) -> Stage | None:
        row = self._db.execute("SELECT record FROM stages WHERE api_id = ? AND stage_name = ?",
                               (api_id, stage_name)).fetchone()
        return codec.stage(codec.load(row[0])) if row else None

    def _require_deployment(self, api_id: str, deployment_id: str) -> None:
        if self._db.execute("SELECT 1 FROM deployments WHERE api_id = ? AND deployment_id = ?",
                            (api_id, deployment_id)).fetchone() is None:
            raise NotFoundException("Invalid Deployment identifier specified")

    def _write_stage(self, api_id: str, stage: Stage) -> None:
        self._db.execute("INSERT OR REPLACE INTO stages (api_id, stage_name, deployment_id, record) "
                         "VALUES (?, ?, ?, ?)", (api_id, stage.stage_name, stage.deployment_id, codec.dump(stage)))

    # REST APIs ----------------------------------------------------------------------------

    async def create_rest_api(self, api: RestApi) -> None:
        def create() -> None:
            try:
                self._db.execute("INSERT INTO rest_apis (api_id, record) VALUES (?, ?)", (api.api_id, codec.dump(api)))
            except sqlite3.IntegrityError:
                raise IdTaken(f"REST API id {api.api_id} is taken") from None
            self._db.execute(f"INSERT INTO resources ({_RESOURCE_COLUMNS}, api_id) VALUES (?, NULL, NULL, '/', ?)",
                             (api.root_resource_id, api.api_id))

        await self._transaction(create)

    async def get_rest_api(self, api_id: str) -> RestApi | None:
        row = await self._read(lambda: self._db.execute("SELECT record FROM rest_apis WHERE api_id = ?",
                                                        (api_id,)).fetchone())
        return codec.rest_api(codec.load(row[0])) if row else None

    async def list_rest_apis(self, after_id: str | None, limit: int) -> list[RestApi]:
        rows = await self._read(lambda: self._db.execute(
            "SELECT record FROM rest_apis WHERE api_id > ? ORDER BY api_id LIMIT ?",
            (after_id or "", limit)).fetchall())
        return [codec.rest_api(codec.load(row[0])) for row in rows]

    async def update_rest_api(self, api_id: str, change: Callable[[RestApi], RestApi]) -> RestApi:
        def update() -> RestApi:
            current = self._api(api_id)
            changed = replace(change(current), api_id=current.api_id, root_resource_id=current.root_resource_id,
                              created_at_s=current.created_at_s)
            self._db.execute("UPDATE rest_apis SET record = ? WHERE api_id = ?", (codec.dump(changed), api_id))
            return changed

        return await self._transaction(update)

    async def delete_rest_api(self, api_id: str) -> bool:
        def delete() -> bool:
            for table in _INSIDE_API_TABLES:
                self._db.execute(f"DELETE FROM {table} WHERE api_id = ?", (api_id,))
            return self._db.execute("DELETE FROM rest_apis WHERE api_id = ?", (api_id,)).rowcount == 1

        return await self._transaction(delete, frees_space=True)

    # Resources ----------------------------------------------------------------------------

    async def create_resource(self, api_id: str, resource_id: str, parent_id: str, path_part: str) -> Resource:
        def create() -> Resource:
            self._api(api_id)
            parent = self._resource(api_id, parent_id)
            if is_greedy(parent.path_part):
                raise BadRequestException(
                    f"Cannot create a child of a resource with a greedy path variable: {parent.path_part}")
            siblings = [row[0] for row in self._db.execute(
                "SELECT path_part FROM resources WHERE api_id = ? AND parent_id = ?", (api_id, parent_id))]
            if path_part in siblings:
                raise ConflictException(f"Another resource with the same parent already has this name: {path_part}")
            variable = next((sibling for sibling in siblings if is_variable(sibling)), None)
            if is_variable(path_part) and variable is not None:
                raise ConflictException(
                    f"A sibling ({variable}) of this resource already has a variable path part -- only one is allowed")
            resource = Resource(resource_id, parent_id, path_part, parent.path.rstrip("/") + "/" + path_part)
            try:
                self._db.execute(f"INSERT INTO resources (api_id, {_RESOURCE_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                                 (api_id, resource.resource_id, resource.parent_id, resource.path_part, resource.path))
            except sqlite3.IntegrityError:
                raise IdTaken(f"Resource id {resource_id} is taken") from None
            return resource

        return await self._transaction(create)

    async def get_resource(self, api_id: str, resource_id: str) -> Resource | None:
        def get() -> Resource | None:
            self._api(api_id)
            found = self._resource_row(api_id, resource_id)
            if found is None:
                return None
            return replace(found, methods=self._methods(api_id, resource_id).get(resource_id, {}))

        return await self._read(get)

    async def list_resources(self, api_id: str) -> list[Resource]:
        def list_all() -> list[Resource]:
            self._api(api_id)
            return self._resources(api_id)

        return await self._read(list_all)

    async def delete_resource(self, api_id: str, resource_id: str) -> bool:
        def delete() -> bool:
            self._api(api_id)
            found = self._resource_row(api_id, resource_id)
            if found is None:
                return False
            if found.parent_id is None:
                raise BadRequestException("The root resource of a REST API cannot be deleted")
            # The subtree: the resource and every path below it (a prefix match on "path/").
            subtree = [row[0] for row in self._db.execute(
                "SELECT resource_id FROM resources WHERE api_id = ? AND (resource_id = ? OR substr(path, 1, ?) = ?)",
                (api_id, resource_id, len(found.path) + 1, found.path + "/"))]
            for member in subtree:
                self._db.execute("DELETE FROM methods WHERE api_id = ? AND resource_id = ?", (api_id, member))
                self._db.execute("DELETE FROM resources WHERE api_id = ? AND resource_id = ?", (api_id, member))
            return True

        return await self._transaction(delete, frees_space=True)

    # Methods ------------------------------------------------------------------------------

    async def put_method(self, api_id: str, resource_id: str, method: Method) -> None:
        def put() -> None:
            self._api(api_id)
            self._resource(api_id, resource_id)
            self._check_authorizer(api_id, method)
            try:
                self._db.execute(
                    "INSERT INTO methods (api_id, resource_id, http_method, authorizer_id, record) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (api_id, resource_id, method.http_method, method.authorizer_id, codec.dump(method)))
            except sqlite3.IntegrityError:
                raise ConflictException("Method already exists for this resource") from None

        await self._transaction(put)

    def _method_row(self, api_id: str, resource_id: str, http_method: str) -> Method | None:
        row = self._db.execute("SELECT record FROM methods WHERE api_id = ? AND resource_id = ? AND http_method = ?",
                               (api_id, resource_id, http_method)).fetchone()
        return codec.method(codec.load(row[0])) if row else None

    async def get_method(self, api_id: str, resource_id: str, http_method: str) -> Method | None:
        def get() -> Method | None:
            self._api(api_id)
            self._resource(api_id, resource_id)
            return self._method_row(api_id, resource_id, http_method)

        return await self._read(get)

    async def update_method(self, api_id: str, resource_id: str, http_method: str,
                            change: Callable[[Method], Method]) -> Method:
        def update() -> Method:
            self._api(api_id)
            self._resource(api_id, resource_id)
            current = self._method_row(api_id, resource_id, http_method)
            if current is None:
                raise NotFoundException("Invalid Method identifier specified")
            changed = replace(change(current), http_method=current.http_method)
            self._check_authorizer(api_id, changed)
            self._db.execute("UPDATE methods SET authorizer_id = ?, record = ? "
                             "WHERE api_id = ? AND resource_id = ? AND http_method = ?",
                             (changed.authorizer_id, codec.dump(changed), api_id, resource_id, http_method))
            return changed

        return await self._transaction(update)

    async def delete_method(self, api_id: str, resource_id: str, http_method: str) -> bool:
        def delete() -> bool:
            self._api(api_id)
            self._resource(api_id, resource_id)
            return self._db.execute("DELETE FROM methods WHERE api_id = ? AND resource_id = ? AND http_method = ?",
                                    (api_id, resource_id, http_method)).rowcount == 1

        return await self._transaction(delete, frees_space=True)

    # Authorizers --------------------------------------------------------------------------

    def _authorizer_row(self, api_id: str, authorizer_id: str) -> Authorizer | None:
        row = self._db.execute("SELECT record FROM authorizers WHERE api_id = ? AND authorizer_id = ?",
                               (api_id, authorizer_id)).fetchone()
        return codec.authorizer(codec.load(row[0])) if row else None

    async def create_authorizer(self, api_id: str, authorizer: Authorizer) -> None:
        def create() -> None:
            self._api(api_id)
            try:
                self._db.execute("INSERT INTO authorizers (api_id, authorizer_id, record) VALUES (?, ?, ?)",
                                 (api_id, authorizer.authorizer_id, codec.dump(authorizer)))
            except sqlite3.IntegrityError:
                raise IdTaken(f"Authorizer id {authorizer.authorizer_id} is taken") from None

        await self._transaction(create)

    async def get_authorizer(self, api_id: str, authorizer_id: str) -> Authorizer | None:
        def get() -> Authorizer | None:
            self._api(api_id)
            return self._authorizer_row(api_id, authorizer_id)

        return await self._read(get)

    async def list_authorizers(self, api_id: str) -> list[Authorizer]:
        def list_all() -> list[Authorizer]:
            self._api(api_id)
            return self._authorizers(api_id)

        return await self._read(list_all)

    async def update_authorizer(self, api_id: str, authorizer_id: str,
                                change: Callable[[Authorizer], Authorizer]) -> Authorizer:
        def update() -> Authorizer:
            self._api(api_id)
            current = self._authorizer_row(api_id, authorizer_id)
            if current is None:
                raise NotFoundException("Invalid Authorizer identifier specified")
            changed = replace(change(current), authorizer_id=current.authorizer_id)
            self._db.execute("UPDATE authorizers SET record = ? WHERE api_id = ? AND authorizer_id = ?",
                             (codec.dump(changed), api_id, authorizer_id))
            return changed

        return await self._transaction(update)

    async def delete_authorizer(self, api_id: str, authorizer_id: str) -> bool:
        def delete() -> bool:
            self._api(api_id)
            current = self._authorizer_row(api_id, authorizer_id)
            if current is None:
                return False
            user = self._db.execute(
                "SELECT m.http_method, r.path FROM methods m JOIN resources r "
                "ON r.api_id = m.api_id AND r.resource_id = m.resource_id "
                "WHERE m.api_id = ? AND m.authorizer_id = ? ORDER BY r.path, m.http_method LIMIT 1",
                (api_id, authorizer_id)).fetchone()
            if user is not None:
                raise BadRequestException(
                    f"Cannot delete authorizer '{current.name}', is referenced in method: {user[0]} {user[1]}")
            self._db.execute("DELETE FROM authorizers WHERE api_id = ? AND authorizer_id = ?", (api_id, authorizer_id))
            return True

        return await self._transaction(delete, frees_space=True)

    # Deployments --------------------------------------------------------------------------

    async def create_deployment(self, api_id: str, deployment: Deployment,
                                stage: StagePlacement | None) -> Deployment:
        def create() -> Deployment:
            api = self._api(api_id)
            resources = self._resources(api_id)
            methods = [method for resource in resources for method in resource.methods.values()]
            if not methods:
                raise BadRequestException("The REST API doesn't contain any methods")
            if any(method.integration is None for method in methods):
                raise BadRequestException("No integration defined for method")
            snapshot = ApiSnapshot(api, tuple(resources), tuple(self._authorizers(api_id)))
            try:
                self._db.execute(
                    "INSERT INTO deployments (api_id, deployment_id, record, snapshot) VALUES (?, ?, ?, ?)",
                    (api_id, deployment.deployment_id, codec.dump(deployment), codec.dump(snapshot)))
            except sqlite3.IntegrityError:
                raise IdTaken(f"Deployment id {deployment.deployment_id} is taken") from None
            if stage is not None:
                self._place_stage(api_id, deployment, stage)
            return deployment

        return await self._transaction(create)

    def _place_stage(self, api_id: str, deployment: Deployment, placement: StagePlacement) -> None:
        current = self._stage_row(api_id, placement.stage_name)
        if current is None:
            placed = Stage(placement.stage_name, deployment.deployment_id, deployment.created_at_s,
                           deployment.created_at_s, placement.description, dict(placement.variables),
                           bool(placement.tracing_enabled))
        else:
            placed = replace(current, deployment_id=deployment.deployment_id,
                             last_updated_at_s=deployment.created_at_s,
                             variables={**current.variables, **placement.variables},
                             tracing_enabled=current.tracing_enabled if placement.tracing_enabled is None
                             else placement.tracing_enabled)
        self._write_stage(api_id, placed)

    async def get_deployment(self, api_id: str, deployment_id: str) -> Deployment | None:
        def get() -> Deployment | None:
            self._api(api_id)
            row = self._db.execute("SELECT record FROM deployments WHERE api_id = ? AND deployment_id = ?",
                                   (api_id, deployment_id)).fetchone()
            return codec.deployment(codec.load(row[0])) if row else None

        return await self._read(get)

    async def deployment_snapshot(self, api_id: str, deployment_id: str) -> ApiSnapshot | None:
        def get() -> ApiSnapshot | None:
            self._api(api_id)
            row = self._db.execute("SELECT snapshot FROM deployments WHERE api_id = ? AND deployment_id = ?",
                                   (api_id, deployment_id)).fetchone()
            return codec.snapshot(codec.load(row[0])) if row else None

        return await self._read(get)

    async def list_deployments(self, api_id: str, after_id: str | None, limit: int) -> list[Deployment]:
        def list_page() -> list[Deployment]:
            self._api(api_id)
            rows = self._db.execute("SELECT record FROM deployments WHERE api_id = ? AND deployment_id > ? "
                                    "ORDER BY deployment_id LIMIT ?", (api_id, after_id or "", limit)).fetchall()
            return [codec.deployment(codec.load(row[0])) for row in rows]

        return await self._read(list_page)

    async def delete_deployment(self, api_id: str, deployment_id: str) -> bool:
        def delete() -> bool:
            self._api(api_id)
            if self._db.execute("SELECT 1 FROM stages WHERE api_id = ? AND deployment_id = ?",
                                (api_id, deployment_id)).fetchone() is not None:
                raise BadRequestException("Active stages pointing to this deployment must be moved or deleted")
            return self._db.execute("DELETE FROM deployments WHERE api_id = ? AND deployment_id = ?",
                                    (api_id, deployment_id)).rowcount == 1

        return await self._transaction(delete, frees_space=True)

    # Stages -------------------------------------------------------------------------------

    async def create_stage(self, api_id: str, stage: Stage) -> None:
        def create() -> None:
            self._api(api_id)
            self._require_deployment(api_id, stage.deployment_id)
            if self._stage_row(api_id, stage.stage_name) is not None:
                raise ConflictException("Stage already exists")
            self._write_stage(api_id, stage)

        await self._transaction(create)

    async def get_stage(self, api_id: str, stage_name: str) -> Stage | None:
        def get() -> Stage | None:
            self._api(api_id)
            return self._stage_row(api_id, stage_name)

        return await self._read(get)

    async def list_stages(self, api_id: str, deployment_id: str | None) -> list[Stage]:
        def list_all() -> list[Stage]:
            self._api(api_id)
            query = "SELECT record FROM stages WHERE api_id = ?"
            args: tuple[str, ...] = (api_id,)
            if deployment_id is not None:
                query, args = query + " AND deployment_id = ?", (api_id, deployment_id)
            return [codec.stage(codec.load(row[0])) for row in self._db.execute(query + " ORDER BY stage_name", args)]

        return await self._read(list_all)

    async def update_stage(self, api_id: str, stage_name: str, change: Callable[[Stage], Stage]) -> Stage:
        def update() -> Stage:
            self._api(api_id)
            current = self._stage_row(api_id, stage_name)
            if current is None:
                raise NotFoundException("Invalid Stage identifier specified")
            changed = replace(change(current), stage_name=current.stage_name, created_at_s=current.created_at_s)
            if changed.deployment_id != current.deployment_id:
                self._require_deployment(api_id, changed.deployment_id)
            self._write_stage(api_id, changed)
            return changed

        return await self._transaction(update)

    async def delete_stage(self, api_id: str, stage_name: str) -> bool:
        def delete() -> bool:
            self._api(api_id)
            return self._db.execute("DELETE FROM stages WHERE api_id = ? AND stage_name = ?",
                                    (api_id, stage_name)).rowcount == 1

        return await self._transaction(delete, frees_space=True)

    async def deployed_stage(self, api_id: str, stage_name: str) -> DeployedStage | None:
        row = await self._read(lambda: self._db.execute(
            "SELECT s.record, d.record, d.snapshot FROM stages s JOIN deployments d "
            "ON d.api_id = s.api_id AND d.deployment_id = s.deployment_id WHERE s.api_id = ? AND s.stage_name = ?",
            (api_id, stage_name)).fetchone())
        if row is None:
            return None
        return DeployedStage(api_id, codec.stage(codec.load(row[0])), codec.deployment(codec.load(row[1])),
                             codec.snapshot(codec.load(row[2])))
