"""Resources, the API's paths: GetResources, GetResource, CreateResource, DeleteResource.

A resource is one path part below its parent: a literal (`items`), a variable matching one
segment (`{id}`), or a greedy variable matching the rest of the path (`{proxy+}`), which can have
no children. Siblings may not share a path part, and only one of them may be a variable.
"""

from __future__ import annotations

from typing import Any

from ember.apigateway_store.base import ApiGatewayStore
from ember.apigateway_store.records import Resource
from ember.errors import NotFoundException
from ember.services.apigateway import paging, wire
from ember.services.apigateway.checks import check_path_part
from ember.services.apigateway.ids import with_new_id
from ember.services.base import RequestContext


def resource_not_found() -> NotFoundException:
    return NotFoundException("Invalid Resource identifier specified")


def embeds_methods(p: dict[str, Any]) -> bool:
    """`?embed=methods`: the resources' methods in full, not only their names."""
    return any(part.strip() == "methods" for embed in p.get("embed", ()) for part in embed.split(","))


class ResourceOperations:
    def __init__(self, store: ApiGatewayStore) -> None:
        self.store = store

    async def get_resources(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        found = await self.store.list_resources(p["restApiId"])
        shown, more = paging.page(found, lambda resource: resource.path, p)
        embed = embeds_methods(p)
        return wire.items((wire.resource(resource, embed_methods=embed) for resource in shown), more)

    async def get_resource(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        found = await self.store.get_resource(p["restApiId"], p["resourceId"])
        if found is None:
            raise resource_not_found()
        return wire.resource(found, embed_methods=embeds_methods(p))

    async def create_resource(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        check_path_part(p["pathPart"])

        async def create(resource_id: str) -> Resource:
            return await self.store.create_resource(p["restApiId"], resource_id, p["parentId"], p["pathPart"])

        return wire.resource(await with_new_id(create))

    async def delete_resource(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.delete_resource(p["restApiId"], p["resourceId"]):
            raise resource_not_found()
        return {}
