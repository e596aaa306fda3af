"""Tags on functions: TagResource, UntagResource, ListTags."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ember.errors import InvalidParameterValueException
from ember.lambda_.backend import LambdaBackend
from ember.lambda_.functions import FunctionOperations
from ember.lambda_.settings_check import check_tag_count
from ember.services.base import RequestContext


class TagOperations:
    def __init__(self, backend: LambdaBackend, functions: FunctionOperations) -> None:
        self.backend = backend
        self.functions = functions

    def _function_name(self, resource_arn: str) -> str:
        ref = self.backend.resolve(resource_arn)
        if ref.qualifier is not None:
            raise InvalidParameterValueException(
                "Tags on function aliases and versions are not supported. Please specify a function ARN."
            )
        return ref.name

    async def tag_resource(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        name = self._function_name(p["Resource"])
        await self.backend.get(self.backend.resolve(name))
        new_tags = p["Tags"]
        if not new_tags:
            raise InvalidParameterValueException("An error occurred and the request cannot be processed.")

        def tag(function: Any) -> Any:
            merged = {**function.tags, **new_tags}
            check_tag_count(merged)
            return replace(function, tags=merged)  # tags leave RevisionId alone, as on Lambda

        await self.functions.apply_update(name, None, tag)
        return {}

    async def untag_resource(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        name = self._function_name(p["Resource"])
        await self.backend.get(self.backend.resolve(name))
        removed = set(p["TagKeys"])

        def untag(function: Any) -> Any:
            kept = {k: v for k, v in function.tags.items() if k not in removed}
            return replace(function, tags=kept)

        await self.functions.apply_update(name, None, untag)
        return {}

    async def list_tags(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        name = self._function_name(p["Resource"])
        function = await self.backend.get(self.backend.resolve(name))
        return {"Tags": dict(function.tags)}
