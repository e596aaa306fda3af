"""Tags on REST APIs and stages: TagResource, UntagResource, GetTags, addressed by the tagged
thing's ARN (`arn:aws:apigateway:REGION::/restapis/ID`, `.../restapis/ID/stages/NAME`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ember.apigateway_store.base import ApiGatewayStore
from ember.errors import BadRequestException
from ember.services.apigateway.rest_apis import api_not_found
from ember.services.apigateway.stages import stage_not_found
from ember.services.base import RequestContext

MAX_TAGS = 50
_TAGGABLE = re.compile(r"arn:aws[a-z-]*:apigateway:[a-z0-9-]*::/restapis/(?P<api>[^/]+)(?:/stages/(?P<stage>[^/]+))?")

Change = Callable[[dict[str, str]], dict[str, str]]


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise BadRequestException(f"Too many tags: a resource has at most {MAX_TAGS}")
    for key in tags:
        if key.lower().startswith("aws:"):
            raise BadRequestException(f"Invalid tag key {key}: keys starting with aws: are reserved for AWS")
    return tags


def _tagged(arn: str) -> tuple[str, str | None]:
    """The REST API id and, for a stage, its name, that `arn` names."""
    found = _TAGGABLE.fullmatch(arn)
    if found is None:
        raise BadRequestException(f"Invalid ARN specified in the request: {arn}. Tags go on a REST API "
                                  "(arn:aws:apigateway:REGION::/restapis/ID) or a stage (.../stages/NAME)")
    return found["api"], found["stage"]


class TagOperations:
    def __init__(self, store: ApiGatewayStore) -> None:
        self.store = store

    async def _change(self, arn: str, change: Change) -> None:
        """Apply `change` to the tags of what `arn` names, in the store's transaction."""
        api_id, stage_name = _tagged(arn)
        if stage_name is None:
            await self.store.update_rest_api(api_id, lambda a: replace(a, tags=_check_tags(change(a.tags))))
            return
        if await self.store.get_stage(api_id, stage_name) is None:
            raise stage_not_found()
        await self.store.update_stage(api_id, stage_name, lambda s: replace(s, tags=_check_tags(change(s.tags))))

    async def tag_resource(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self._change(p["resourceArn"], lambda tags: {**tags, **p["tags"]})
        return {}

    async def untag_resource(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self._change(p["resourceArn"], lambda tags: {k: v for k, v in tags.items() if k not in p["tagKeys"]})
        return {}

    async def get_tags(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        api_id, stage_name = _tagged(p["resourceArn"])
        if stage_name is None:
            api = await self.store.get_rest_api(api_id)
            if api is None:
                raise api_not_found(ctx, api_id)
            return {"tags": dict(api.tags)}
        stage = await self.store.get_stage(api_id, stage_name)
        if stage is None:
            raise stage_not_found()
        return {"tags": dict(stage.tags)}
