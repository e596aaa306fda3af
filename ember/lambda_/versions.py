"""Versions: PublishVersion and ListVersionsByFunction.

A version is an immutable snapshot of $LATEST's code and configuration, numbered from 1.
As on Lambda, publishing when $LATEST has not changed since the last version returns that
version rather than a new one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ember.errors import InvalidParameterValueException, PreconditionFailedException, ServiceException
from ember.lambda_ import paging, wire
from ember.lambda_.backend import LambdaBackend
from ember.models import FunctionConfig, new_revision_id, now_iso
from ember.services.base import RequestContext

#: attempts at taking the next number when publishes race
MAX_PUBLISH_ATTEMPTS = 8


def _publishable(function: FunctionConfig) -> tuple[Any, ...]:
    """What makes two snapshots the same version (not names, dates or revision ids)."""
    return (function.code.sha256_hex, function.runtime, function.handler, function.role, function.timeout_s,
            function.memory_mb, function.ephemeral_storage_mb, sorted(function.environment.items()),
            function.architectures, function.description, [layer.code.sha256_hex for layer in function.layers],
            function.dead_letter_target_arn)


async def publish(backend: LambdaBackend, latest: FunctionConfig, description: str | None = None) -> FunctionConfig:
    """A version of `latest`: the last one if nothing changed since, else a new number."""
    versions = await backend.store.list_versions(latest.name)
    candidate = latest if description is None else replace(latest, description=description)
    if versions and _publishable(versions[-1]) == _publishable(candidate):
        return versions[-1]
    number = int(versions[-1].version) + 1 if versions else 1
    for _ in range(MAX_PUBLISH_ATTEMPTS):
        version = replace(candidate, version=str(number), revision_id=new_revision_id(), last_modified=now_iso(),
                          policy_statements=(), tags={})
        if await backend.store.add_version(version):
            return version
        number += 1  # another publish took it
    raise ServiceException(f"Could not take a version number for {latest.name}; try again")


class VersionOperations:
    def __init__(self, backend: LambdaBackend) -> None:
        self.backend = backend

    async def publish_version(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        latest = await self.backend.get(ref)
        if p.get("RevisionId") is not None and p["RevisionId"] != latest.revision_id:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. "
                "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
            )
        if p.get("CodeSha256") is not None and p["CodeSha256"] != latest.code.sha256_b64:
            raise InvalidParameterValueException(
                f"CodeSHA256 ({p['CodeSha256']}) is different from current CodeSHA256 in $LATEST "
                f"({latest.code.sha256_b64}). Please try again with the CodeSHA256 in $LATEST."
            )
        version = await publish(self.backend, latest, p.get("Description"))
        return self.backend.configuration(version, version.version)

    async def list_versions_by_function(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        latest = await self.backend.get(ref)
        entries = [self.backend.configuration(latest, "$LATEST")]
        entries += [self.backend.configuration(v, v.version) for v in await self.backend.store.list_versions(ref.name)]
        shown, next_marker = paging.page(entries, p.get("Marker"), p.get("MaxItems"))
        result: dict[str, Any] = {"Versions": [wire.listed(e) for e in shown]}
        if next_marker:
            result["NextMarker"] = next_marker
        return result

