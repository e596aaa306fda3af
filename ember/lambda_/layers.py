"""Layers: publish, read, list and delete layer versions, their permissions, and resolving a
function's `Layers` list.

A function keeps what it needs of each layer version it uses (the zip's content address),
so deleting a layer version never breaks functions already using it, as on Lambda.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from ember.code.package import MAX_UNZIPPED_BYTES
from ember.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from ember.lambda_ import paging
from ember.lambda_.backend import LambdaBackend
from ember.models import FunctionCode, FunctionLayer, LayerVersion, new_revision_id
from ember.services.base import RequestContext

MAX_LAYERS = 5
_LAYER_ARN = re.compile(r"^arn:[a-zA-Z0-9-]+:lambda:[a-zA-Z0-9-]+:\d{12}:layer:(?P<name>[a-zA-Z0-9-_]+)"
                        r"(?::(?P<version>[0-9]+))?$")


async def resolve_function_layers(backend: LambdaBackend, arns: list[str],
                                  code: FunctionCode) -> tuple[FunctionLayer, ...]:
    """The layers a function's `Layers` names, checked as Lambda checks them."""
    if len(arns) > MAX_LAYERS:
        raise InvalidParameterValueException(f"Cannot reference more than {MAX_LAYERS} layers.")
    resolved = []
    for arn in arns:
        match = _LAYER_ARN.match(arn)
        layer = None
        if match and match["version"] is not None:
            layer = await backend.store.get_layer_version(match["name"], int(match["version"]))
        if layer is None:
            raise InvalidParameterValueException(f"Layer version {arn} does not exist.")
        resolved.append(FunctionLayer(backend.home.layer_arn(layer.layer_name, layer.version), layer.code))
    total = code.unzipped_bytes + sum(layer.code.unzipped_bytes for layer in resolved)
    if total > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValueException(
            f"Function code combined with layers exceeds the maximum allowed size of {MAX_UNZIPPED_BYTES} bytes. "
            f"The actual size is {total} bytes."
        )
    return tuple(resolved)



class LayerOperations:
    def __init__(self, backend: LambdaBackend) -> None:
        self.backend = backend

    def layer_arn(self, name: str, version: int | None = None) -> str:
        return self.backend.home.layer_arn(name, version)

    def _wire(self, layer: LayerVersion, ctx: RequestContext | None = None, *, listed: bool = False) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "LayerVersionArn": self.layer_arn(layer.layer_name, layer.version),
            "Version": layer.version,
            "Description": layer.description,
            "CreatedDate": layer.created_date,
            "CompatibleRuntimes": list(layer.compatible_runtimes),
            "CompatibleArchitectures": list(layer.compatible_architectures),
        }
        if layer.license_info is not None:
            wire["LicenseInfo"] = layer.license_info
        if not listed:
            wire["LayerArn"] = self.layer_arn(layer.layer_name)
            wire["Content"] = {"CodeSha256": layer.code.sha256_b64, "CodeSize": layer.code.size_bytes}
            if ctx is not None:
                wire["Content"]["Location"] = self.backend.code_location(ctx.base_url, layer.code.sha256_hex)
        return wire

    async def _get(self, layer_name: str, version: int, *, naming: bool = False) -> LayerVersion:
        """The layer version, or AWS's not-found error: the permission operations name the
        version (`naming`), the others do not."""
        name = _name_of(layer_name)
        layer = await self.backend.store.get_layer_version(name, version)
        if layer is None:
            if naming:
                raise ResourceNotFoundException(f"Layer version {self.layer_arn(name, version)} does not exist.")
            raise ResourceNotFoundException("The resource you requested does not exist.")
        return layer

    async def publish_layer_version(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        name = _name_of(p["LayerName"])
        content = p["Content"]
        async with self.backend.stored_code(content, content.get("ZipFile")) as code:
            layer = await self.backend.store.add_layer_version(name, lambda number: LayerVersion(
                layer_name=name, version=number, code=code, description=p.get("Description", ""),
                compatible_runtimes=tuple(p.get("CompatibleRuntimes") or ()),
                compatible_architectures=tuple(p.get("CompatibleArchitectures") or ()),
                license_info=p.get("LicenseInfo"),
            ))
        return self._wire(layer, ctx)

    async def get_layer_version(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return self._wire(await self._get(p["LayerName"], p["VersionNumber"]), ctx)

    async def get_layer_version_by_arn(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        match = _LAYER_ARN.match(p["Arn"])
        if not match or match["version"] is None:
            raise InvalidParameterValueException(f"{p['Arn']} is not a layer version ARN.")
        return self._wire(await self._get(match["name"], int(match["version"])), ctx)

    async def list_layer_versions(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        layers = [layer for layer in await self.backend.store.list_layer_versions(_name_of(p["LayerName"]))
                  if _matches(layer, p.get("CompatibleRuntime"), p.get("CompatibleArchitecture"))]
        shown, next_marker = paging.page(layers, p.get("Marker"), p.get("MaxItems"))
        result: dict[str, Any] = {"LayerVersions": [self._wire(layer, listed=True) for layer in shown]}
        if next_marker:
            result["NextMarker"] = next_marker
        return result

    async def list_layers(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        latest: dict[str, LayerVersion] = {}
        for layer in await self.backend.store.list_layer_versions():  # newest first per name
            if layer.layer_name not in latest and _matches(layer, p.get("CompatibleRuntime"),
                                                           p.get("CompatibleArchitecture")):
                latest[layer.layer_name] = layer
        items = [{"LayerName": name, "LayerArn": self.layer_arn(name),
                  "LatestMatchingVersion": self._wire(layer, listed=True)} for name, layer in sorted(latest.items())]
        shown, next_marker = paging.page(items, p.get("Marker"), p.get("MaxItems"))
        result: dict[str, Any] = {"Layers": shown}
        if next_marker:
            result["NextMarker"] = next_marker
        return result

    async def delete_layer_version(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        name = _name_of(p["LayerName"])
        layer = await self.backend.store.get_layer_version(name, p["VersionNumber"])
        if layer is not None and await self.backend.store.delete_layer_version(name, p["VersionNumber"]):
            # Its zip stays while a function or version still runs with it, as on Lambda.
            self.backend.collector.consider([layer.code.sha256_hex])
        return {}  # 204 whether or not it existed, as on Lambda

    async def add_layer_version_permission(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        layer = await self._get(p["LayerName"], p["VersionNumber"], naming=True)
        _check_revision(layer, p.get("RevisionId"))
        if any(s["Sid"] == p["StatementId"] for s in layer.policy_statements):
            raise ResourceConflictException(
                f"The statement id ({p['StatementId']}) provided already exists. Please provide a new statement "
                "id, or remove the existing statement."
            )
        principal: Any = "*" if p["Principal"] == "*" else {"AWS": f"arn:aws:iam::{p['Principal']}:root"}
        statement: dict[str, Any] = {"Sid": p["StatementId"], "Effect": "Allow", "Principal": principal,
                                     "Action": p["Action"], "Resource": self.layer_arn(layer.layer_name, layer.version)}
        if p.get("OrganizationId"):
            statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": p["OrganizationId"]}}
        updated = replace(layer, policy_statements=(*layer.policy_statements, statement),
                          revision_id=new_revision_id())
        await self._save(layer, updated)
        return {"Statement": json.dumps(statement), "RevisionId": updated.revision_id}

    async def remove_layer_version_permission(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        layer = await self._get(p["LayerName"], p["VersionNumber"], naming=True)
        _check_revision(layer, p.get("RevisionId"))
        kept = tuple(s for s in layer.policy_statements if s["Sid"] != p["StatementId"])
        if len(kept) == len(layer.policy_statements):
            raise ResourceNotFoundException(f"Statement {p['StatementId']} is not found in resource policy.")
        await self._save(layer, replace(layer, policy_statements=kept, revision_id=new_revision_id()))
        return {}

    async def get_layer_version_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        layer = await self._get(p["LayerName"], p["VersionNumber"], naming=True)
        if not layer.policy_statements:
            raise ResourceNotFoundException("No policy is associated with the given resource.")
        policy = {"Version": "2012-10-17", "Id": "default", "Statement": list(layer.policy_statements)}
        return {"Policy": json.dumps(policy), "RevisionId": layer.revision_id}

    async def _save(self, current: LayerVersion, updated: LayerVersion) -> None:
        if not await self.backend.store.replace_layer_version(updated, current.revision_id):
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to "
                "retrieve the latest Revision Id"
            )


def _name_of(layer_name: str) -> str:
    match = _LAYER_ARN.match(layer_name)
    return match["name"] if match else layer_name


def _matches(layer: LayerVersion, runtime: str | None, architecture: str | None) -> bool:
    return ((runtime is None or runtime in layer.compatible_runtimes)
            and (architecture is None or architecture in layer.compatible_architectures))


def _check_revision(layer: LayerVersion, expected: str | None) -> None:
    if expected is not None and expected != layer.revision_id:
        raise PreconditionFailedException(
            "The Revision Id provided does not match the latest Revision Id. Call the GetLayerPolicy API to "
            "retrieve the latest Revision Id"
        )
