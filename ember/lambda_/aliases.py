"""Aliases: CreateAlias, GetAlias, ListAliases, UpdateAlias, DeleteAlias.

An alias points at a version and may send a share of invocations to one more version
(RoutingConfig.AdditionalVersionWeights), which is how canary deployments shift traffic.
"""

from __future__ import annotations

from typing import Any

from ember.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
    ValidationException,
)
from ember.feed.base import AliasChanged
from ember.lambda_ import paging, wire
from ember.lambda_.backend import LambdaBackend
from ember.models import Alias
from ember.services.base import RequestContext

MAX_UPDATE_ATTEMPTS = 8


class AliasOperations:
    def __init__(self, backend: LambdaBackend) -> None:
        self.backend = backend

    def _wire(self, alias: Alias) -> dict[str, Any]:
        return wire.alias_configuration(alias, self.backend.home)

    def _not_found(self, function_name: str, name: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(f"Cannot find alias arn: {self.backend.arn(function_name, name)}")

    async def _check_targets(self, function_name: str, version: str, weights: dict[str, float]) -> None:
        if version != "$LATEST" and await self.backend.store.get_version(function_name, version) is None:
            raise self.backend.not_found(function_name, version)
        if not weights:
            return
        if version == "$LATEST":
            raise InvalidParameterValueException(
                "$LATEST is not supported for an alias pointing to more than 1 version"
            )
        if len(weights) > 1:
            raise InvalidParameterValueException(
                "Number of items in AdditionalVersionWeights cannot be greater than 1"
            )
        for extra in weights:
            if extra == version:
                raise InvalidParameterValueException(
                    f"Invalid function version {extra}. Function version {extra} is already included in routing "
                    "configuration."
                )
            if not extra.isdigit():
                raise ValidationException(
                    f"1 validation error detected: Value '{{{extra}={weights[extra]}}}' at "
                    "'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map keys must satisfy "
                    "constraint: [Member must have length less than or equal to 1024, Member must have length "
                    "greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+, Member "
                    "must not be null]"
                )
            if await self.backend.store.get_version(function_name, extra) is None:
                raise self.backend.not_found(function_name, extra)

    async def create_alias(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        await self.backend.get(ref)
        weights = _weights(p.get("RoutingConfig"))
        await self._check_targets(ref.name, p["FunctionVersion"], weights)
        alias = Alias(ref.name, p["Name"], p["FunctionVersion"], p.get("Description", ""), weights)
        try:
            await self.backend.store.create_alias(alias)
        except ResourceConflictException:
            raise ResourceConflictException(
                f"Alias already exists: {self.backend.arn(ref.name, alias.name)}"
            ) from None
        await self.backend.feed.publish(AliasChanged(ref.name, alias.name))
        return self._wire(alias)

    async def get_alias(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        await self.backend.get(ref)
        alias = await self.backend.store.get_alias(ref.name, p["Name"])
        if alias is None:
            raise self._not_found(ref.name, p["Name"])
        return self._wire(alias)

    async def list_aliases(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        await self.backend.get(ref)
        aliases = await self.backend.store.list_aliases(ref.name)
        if p.get("FunctionVersion"):
            aliases = [a for a in aliases if a.function_version == p["FunctionVersion"]]
        shown, next_marker = paging.page(aliases, p.get("Marker"), p.get("MaxItems"))
        result: dict[str, Any] = {"Aliases": [self._wire(a) for a in shown]}
        if next_marker:
            result["NextMarker"] = next_marker
        return result

    async def update_alias(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        await self.backend.get(ref)
        for _ in range(MAX_UPDATE_ATTEMPTS):
            current = await self.backend.store.get_alias(ref.name, p["Name"])
            if current is None:
                raise self._not_found(ref.name, p["Name"])
            if p.get("RevisionId") is not None and p["RevisionId"] != current.revision_id:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            version = p.get("FunctionVersion", current.function_version)
            weights = _weights(p["RoutingConfig"]) if "RoutingConfig" in p else current.additional_weights
            await self._check_targets(ref.name, version, weights)
            updated = current.revised(function_version=version, additional_weights=weights,
                                      description=p.get("Description", current.description))
            if await self.backend.store.replace_alias(updated, current.revision_id):
                await self.backend.feed.publish(AliasChanged(ref.name, updated.name))
                return self._wire(updated)
        raise ResourceConflictException(f"The alias {p['Name']} is being updated; try again")

    async def delete_alias(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        await self.backend.get(ref)
        await self.backend.store.delete_alias(ref.name, p["Name"])  # Lambda answers 204 either way
        await self.backend.feed.publish(AliasChanged(ref.name, p["Name"]))
        return {}


def _weights(routing: dict[str, Any] | None) -> dict[str, float]:
    return dict((routing or {}).get("AdditionalVersionWeights") or {})

