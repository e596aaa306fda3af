"""Deployments: CreateDeployment, GetDeployment, GetDeployments, DeleteDeployment.

A deployment freezes the API as it is (resources, methods, integrations, authorizers); a stage
serves one deployment, so later edits reach callers only when deployed again. CreateDeployment
with a stageName makes that stage, or moves it onto the new deployment, in the same step.
"""

from __future__ import annotations

from typing import Any

from ember.apigateway_store.base import ApiGatewayStore
from ember.apigateway_store.records import Deployment, StagePlacement
from ember.clock import Clock
from ember.errors import BadRequestException, NotFoundException
from ember.services.apigateway import paging, wire
from ember.services.apigateway.checks import check_stage_name, check_variables
from ember.services.apigateway.ids import with_new_id
from ember.services.base import RequestContext


def deployment_not_found() -> NotFoundException:
    return NotFoundException("Invalid Deployment identifier specified")


def refuse_canary(p: dict[str, Any]) -> None:
    if p.get("canarySettings"):
        raise BadRequestException("Ember does not run canary releases: leave canarySettings out, and deploy to a "
                                  "second stage to try a change")


class DeploymentOperations:
    def __init__(self, store: ApiGatewayStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def create_deployment(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        refuse_canary(p)
        placement = None
        if p.get("stageName"):
            check_stage_name(p["stageName"])
            check_variables(p.get("variables", {}))
            placement = StagePlacement(p["stageName"], p.get("stageDescription"), dict(p.get("variables", {})),
                                       p.get("tracingEnabled"))

        async def create(deployment_id: str) -> Deployment:
            deployment = Deployment(deployment_id, float(int(self.clock.time_s())), p.get("description"))
            return await self.store.create_deployment(p["restApiId"], deployment, placement)

        return wire.deployment(await with_new_id(create))

    async def get_deployment(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        found = await self.store.get_deployment(p["restApiId"], p["deploymentId"])
        if found is None:
            raise deployment_not_found()
        embeds = {part.strip().lower() for embed in p.get("embed", ()) for part in embed.split(",")}
        snapshot = None
        if "apisummary" in embeds:
            snapshot = await self.store.deployment_snapshot(p["restApiId"], p["deploymentId"])
        return wire.deployment(found, snapshot)

    async def get_deployments(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        limit = paging.limit_of(p)
        found = await self.store.list_deployments(p["restApiId"], paging.after_key(p), limit + 1)
        shown = found[:limit]
        more = paging.position_token(shown[-1].deployment_id) if len(found) > limit else None
        return wire.items((wire.deployment(deployment) for deployment in shown), more)

    async def delete_deployment(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.delete_deployment(p["restApiId"], p["deploymentId"]):
            raise deployment_not_found()
        return {}
