"""REST APIs: CreateRestApi, GetRestApi, GetRestApis, UpdateRestApi, DeleteRestApi."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ember.apigateway_store.base import ApiGatewayStore
from ember.apigateway_store.records import RestApi
from ember.clock import Clock
from ember.errors import BadRequestException, NotFoundException
from ember.services.apigateway import paging, patches, wire
from ember.services.apigateway.ids import API_ID_LENGTH, new_id, with_new_id
from ember.services.apigateway.patches import Patch
from ember.services.base import RequestContext

MAX_COMPRESSION_SIZE_BYTES = 10_485_760
API_KEY_SOURCES = ("HEADER", "AUTHORIZER")
#: UpdateRestApi's paths that `replace` takes, each a scalar of the record
_REPLACEABLE = ("/name", "/description", "/version", "/apiKeySource", "/minimumCompressionSize",
                "/disableExecuteApiEndpoint", "/policy")


def api_not_found(ctx: RequestContext, api_id: str) -> NotFoundException:
    return NotFoundException(f"Invalid API identifier specified {ctx.account_id}:{api_id}")


def _compression_size(size: int | None) -> int | None:
    if size is not None and not 0 <= size <= MAX_COMPRESSION_SIZE_BYTES:
        raise BadRequestException(f"Invalid minimum compression size, must be between 0 and "
                                  f"{MAX_COMPRESSION_SIZE_BYTES}")
    return size


def _api_key_source(source: str) -> str:
    if source not in API_KEY_SOURCES:
        raise BadRequestException(f"Invalid API key source specified: {source}. Valid options are "
                                  f"{', '.join(API_KEY_SOURCES)}")
    return source


def apply_patches(api: RestApi, changes: list[Patch]) -> RestApi:
    """`api` with UpdateRestApi's patch operations applied, in order."""
    for patch in changes:
        if patch.path.startswith("/binaryMediaTypes/") and len(patch.segments) == 2:
            patches.require_op(patch, "add", "remove")
            media_type = patch.segments[1]
            kept = tuple(t for t in api.binary_media_types if t != media_type)
            api = replace(api, binary_media_types=kept + ((media_type,) if patch.op == "add" else ()))
            continue
        if patch.path not in _REPLACEABLE:
            raise patches.invalid_path(patch, (*_REPLACEABLE, "/binaryMediaTypes/TYPE"))
        patches.require_op(patch, "replace")
        if patch.path == "/name":
            api = replace(api, name=patches.required_text(patch))
        elif patch.path == "/description":
            api = replace(api, description=patches.text(patch))
        elif patch.path == "/version":
            api = replace(api, version=patches.text(patch))
        elif patch.path == "/policy":
            api = replace(api, policy=patches.text(patch))
        elif patch.path == "/apiKeySource":
            api = replace(api, api_key_source=_api_key_source(patches.required_text(patch)))
        elif patch.path == "/disableExecuteApiEndpoint":
            api = replace(api, disable_execute_api_endpoint=patches.boolean(patch))
        else:  # /minimumCompressionSize: empty turns compression off
            size = patches.integer(patch, 0, MAX_COMPRESSION_SIZE_BYTES) if patch.value else None
            api = replace(api, minimum_compression_size_bytes=size)
    return api


class RestApiOperations:
    def __init__(self, store: ApiGatewayStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def create_rest_api(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not p["name"].strip():
            raise BadRequestException("Invalid REST API name specified: name must not be empty")
        if p.get("cloneFrom"):
            raise BadRequestException("Ember cannot clone a REST API (cloneFrom): create the API, then its "
                                      "resources and methods")
        types = tuple(p.get("endpointConfiguration", {}).get("types") or ("EDGE",))
        if len(types) != 1:
            raise BadRequestException("Only one endpoint type may be specified: EDGE, REGIONAL or PRIVATE")

        async def create(api_id: str) -> RestApi:
            api = RestApi(
                api_id=api_id, name=p["name"], created_at_s=float(int(self.clock.time_s())),
                root_resource_id=new_id(API_ID_LENGTH), description=p.get("description"),
                version=p.get("version"), binary_media_types=tuple(dict.fromkeys(p.get("binaryMediaTypes", ()))),
                minimum_compression_size_bytes=_compression_size(p.get("minimumCompressionSize")),
                api_key_source=_api_key_source(p.get("apiKeySource", "HEADER")), endpoint_types=types,
                disable_execute_api_endpoint=p.get("disableExecuteApiEndpoint", False), policy=p.get("policy"),
                tags=dict(p.get("tags", {})))
            await self.store.create_rest_api(api)
            return api

        return wire.rest_api(await with_new_id(create, API_ID_LENGTH))

    async def get_rest_api(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        api = await self.store.get_rest_api(p["restApiId"])
        if api is None:
            raise api_not_found(ctx, p["restApiId"])
        return wire.rest_api(api)

    async def get_rest_apis(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        limit = paging.limit_of(p)
        found = await self.store.list_rest_apis(paging.after_key(p), limit + 1)
        shown = found[:limit]
        more = paging.position_token(shown[-1].api_id) if len(found) > limit else None
        return wire.items((wire.rest_api(api) for api in shown), more)

    async def update_rest_api(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        changes = patches.patches_of(p)
        return wire.rest_api(await self.store.update_rest_api(p["restApiId"],
                                                              lambda api: apply_patches(api, changes)))

    async def delete_rest_api(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.delete_rest_api(p["restApiId"]):
            raise api_not_found(ctx, p["restApiId"])
        return {}
