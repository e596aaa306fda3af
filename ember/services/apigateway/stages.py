"""Stages: CreateStage, GetStage, GetStages, UpdateStage, DeleteStage.

A stage is a named URL (`/prod`) serving one deployment, with stage variables its integrations
and authorizers may read (`${stageVariables.NAME}`). Moving it to another deployment
(`/deploymentId`) is how a release is rolled forward or back.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ember.apigateway_store.base import ApiGatewayStore
from ember.apigateway_store.records import Stage
from ember.clock import Clock
from ember.errors import BadRequestException, NotFoundException
from ember.services.apigateway import patches, wire
from ember.services.apigateway.checks import check_stage_name, check_variables
from ember.services.apigateway.deployments import refuse_canary
from ember.services.apigateway.patches import Patch
from ember.services.base import RequestContext

CACHE_CLUSTER_SIZES = ("0.5", "1.6", "6.1", "13.5", "28.4", "58.2", "118", "237")
_REPLACEABLE = ("/description", "/deploymentId", "/tracingEnabled", "/cacheClusterEnabled", "/cacheClusterSize")


def stage_not_found() -> NotFoundException:
    return NotFoundException("Invalid Stage identifier specified")


def _cache_cluster_size(size: str | None) -> str | None:
    if size is not None and size not in CACHE_CLUSTER_SIZES:
        raise BadRequestException(f"Invalid cache cluster size specified: {size}. Valid options are "
                                  f"{', '.join(CACHE_CLUSTER_SIZES)}")
    return size


def _apply_patches(stage: Stage, changes: list[Patch], now_s: float) -> Stage:
    """`stage` with UpdateStage's patch operations applied, in order."""
    for patch in changes:
        segments = patch.segments
        if segments[0] == "variables" and len(segments) == 2:
            variables = patches.patched_entry(patch, stage.variables, patches.required_text)
            if patch.op != "remove":
                check_variables({segments[1]: variables[segments[1]]})
            stage = replace(stage, variables=variables)
            continue
        if patch.path not in _REPLACEABLE:
            raise patches.invalid_path(patch, (*_REPLACEABLE, "/variables/NAME"))
        patches.require_op(patch, "replace")
        if patch.path == "/description":
            stage = replace(stage, description=patches.text(patch))
        elif patch.path == "/deploymentId":
            stage = replace(stage, deployment_id=patches.required_text(patch))
        elif patch.path == "/tracingEnabled":
            stage = replace(stage, tracing_enabled=patches.boolean(patch))
        elif patch.path == "/cacheClusterEnabled":
            stage = replace(stage, cache_cluster_enabled=patches.boolean(patch))
        else:
            stage = replace(stage, cache_cluster_size=_cache_cluster_size(patches.required_text(patch)))
    return replace(stage, last_updated_at_s=now_s)


class StageOperations:
    def __init__(self, store: ApiGatewayStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def _now_s(self) -> float:
        return float(int(self.clock.time_s()))

    async def create_stage(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        refuse_canary(p)
        check_stage_name(p["stageName"])
        check_variables(p.get("variables", {}))
        now_s = self._now_s()
        stage = Stage(p["stageName"], p["deploymentId"], now_s, now_s, p.get("description"),
                      dict(p.get("variables", {})), p.get("tracingEnabled", False),
                      p.get("cacheClusterEnabled", False), _cache_cluster_size(p.get("cacheClusterSize")),
                      dict(p.get("tags", {})))
        await self.store.create_stage(p["restApiId"], stage)
        return wire.stage(stage)

    async def get_stage(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        found = await self.store.get_stage(p["restApiId"], p["stageName"])
        if found is None:
            raise stage_not_found()
        return wire.stage(found)

    async def get_stages(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        found = await self.store.list_stages(p["restApiId"], p.get("deploymentId"))
        return {"item": [wire.stage(stage) for stage in found]}

    async def update_stage(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        changes = patches.patches_of(p)
        now_s = self._now_s()
        return wire.stage(await self.store.update_stage(p["restApiId"], p["stageName"],
                                                        lambda stage: _apply_patches(stage, changes, now_s)))

    async def delete_stage(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.delete_stage(p["restApiId"], p["stageName"]):
            raise stage_not_found()
        return {}
