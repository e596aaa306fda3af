"""Function life cycle: CreateFunction, Get*, ListFunctions, Update*, DeleteFunction."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ember.arns import FunctionRef
from ember.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from ember.feed.base import FunctionChanged, FunctionDeleted
from ember.lambda_ import versions, wire
from ember.lambda_.backend import LambdaBackend
from ember.lambda_.destinations import check_dead_letter_target
from ember.lambda_.layers import resolve_function_layers
from ember.lambda_.settings_check import check_environment, check_limits, check_runtime, check_tag_count
from ember.lambda_.vpc import check_vpc
from ember.models import FunctionConfig
from ember.services.base import RequestContext

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 64
#: CAS retries when a concurrent update changed the function between read and write
MAX_UPDATE_ATTEMPTS = 8


class FunctionOperations:
    def __init__(self, backend: LambdaBackend) -> None:
        self.backend = backend

    def _configuration(self, function: FunctionConfig, qualifier: str | None = None) -> dict[str, Any]:
        return self.backend.configuration(function, qualifier)

    async def create_function(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        if len(ref.name) > MAX_NAME_LENGTH:
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{ref.name}' at 'functionName' failed to satisfy "
                f"constraint: Member must have length less than or equal to {MAX_NAME_LENGTH}"
            )
        if p.get("PackageType", "Zip") != "Zip":
            raise InvalidParameterValueException(
                "Ember runs Zip packages only: container images (PackageType Image) are not supported."
            )
        if not p.get("Runtime"):
            raise InvalidParameterValueException("Runtime and Handler are mandatory parameters for functions "
                                                 "created with deployment packages.")
        if not p.get("Handler"):
            raise InvalidParameterValueException("Runtime and Handler are mandatory parameters for functions "
                                                 "created with deployment packages.")
        check_runtime(p["Runtime"], self.backend.runtimes)
        check_limits(p.get("Timeout"), p.get("MemorySize"), (p.get("EphemeralStorage") or {}).get("Size"))
        variables = (p.get("Environment") or {}).get("Variables") or {}
        check_environment(variables)
        check_tag_count(p.get("Tags") or {})
        dead_letter_target_arn = check_dead_letter_target(p.get("DeadLetterConfig"))
        vpc = check_vpc(p.get("VpcConfig"), self.backend.networks)
        await self.backend.check_role(p["Role"])
        if await self.backend.store.get_function(ref.name) is not None:
            raise ResourceConflictException(f"Function already exist: {ref.name}")
        code_param = p["Code"]
        async with self.backend.stored_code(code_param, code_param.get("ZipFile")) as code:
            layers = await resolve_function_layers(self.backend, p.get("Layers") or [], code)
            function = FunctionConfig(
                name=ref.name,
                runtime=p["Runtime"],
                handler=p["Handler"],
                role=p["Role"],
                code=code,
                description=p.get("Description", ""),
                timeout_s=p.get("Timeout", 3),
                memory_mb=p.get("MemorySize", 128),
                ephemeral_storage_mb=(p.get("EphemeralStorage") or {}).get("Size", 512),
                environment=dict(variables),
                kms_key_arn=p.get("KMSKeyArn") or None,
                architectures=tuple(p.get("Architectures") or ("x86_64",)),
                tags=dict(p.get("Tags") or {}),
                layers=layers,
                dead_letter_target_arn=dead_letter_target_arn,
                vpc=vpc,
            )
            await self.backend.store.create_function(function)
        await self.backend.feed.publish(FunctionChanged(ref.name))
        if p.get("Publish"):
            # Lambda answers CreateFunction with the unqualified ARN, whatever it published.
            version = await versions.publish(self.backend, function)
            return self._configuration(version)
        return self._configuration(function)

    async def get_function(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        function = await self.backend.get(ref, show_qualifier=True)
        if ref.qualifier is not None:  # tags belong to the function, not to a version
            function = replace(function, tags=(await self.backend.get(replace(ref, qualifier=None))).tags)
        result: dict[str, Any] = {
            "Configuration": self._configuration(function, ref.qualifier),
            "Code": {"RepositoryType": "S3",
                     "Location": self.backend.code_location(ctx.base_url, function.code.sha256_hex)},
        }
        if function.tags:
            result["Tags"] = dict(function.tags)
        reserved = function.reserved_concurrency if ref.qualifier is None else None
        if reserved is not None:
            result["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return result

    async def get_function_configuration(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        function = await self.backend.get(ref, show_qualifier=True)
        return self._configuration(function, ref.qualifier)

    async def list_functions(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        limit = p.get("MaxItems", 50)
        after = _decode_marker(p["Marker"]) if p.get("Marker") else None
        functions = await self.backend.store.list_functions(after, limit + 1)
        page = functions[:limit]
        result: dict[str, Any] = {"Functions": [wire.listed(self._configuration(f)) for f in page]}
        if len(functions) > limit:
            result["NextMarker"] = _encode_marker(page[-1].name)
        return result

    async def update_function_code(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = _unqualified(self.backend.resolve(p["FunctionName"]))
        await self.backend.get(ref)  # not found before a 50 MB unzip
        replaced: list[FunctionConfig] = []  # the $LATEST the committed attempt replaced

        def change(current: FunctionConfig) -> FunctionConfig:
            replaced.append(current)
            return current.revised(code=code)

        source = {k: p.get(k) for k in ("S3Bucket", "S3Key", "ImageUri")}
        async with self.backend.stored_code(source, p.get("ZipFile")) as code:
            if p.get("DryRun"):
                function = await self.backend.get(ref)
                return self._configuration(function.revised(code=code))
            updated = await self.apply_update(ref.name, p.get("RevisionId"), change)
        await self.backend.feed.publish(FunctionChanged(ref.name))  # its idle environments retire
        self.backend.collector.forget_function(replaced[-1])  # its code, unless a version keeps it
        if p.get("Publish"):
            version = await versions.publish(self.backend, updated)
            return self._configuration(version, version.version)
        return self._configuration(updated)

    async def update_function_configuration(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = _unqualified(self.backend.resolve(p["FunctionName"]))
        check_limits(p.get("Timeout"), p.get("MemorySize"), (p.get("EphemeralStorage") or {}).get("Size"))
        changes: dict[str, Any] = {}
        if "Runtime" in p:
            check_runtime(p["Runtime"], self.backend.runtimes)
            changes["runtime"] = p["Runtime"]
        if "Environment" in p:
            variables = (p["Environment"] or {}).get("Variables") or {}
            check_environment(variables)
            changes["environment"] = dict(variables)
        if "KMSKeyArn" in p:
            changes["kms_key_arn"] = p["KMSKeyArn"] or None  # "" goes back to the default key
        simple = {"Handler": "handler", "Timeout": "timeout_s", "MemorySize": "memory_mb",
                  "Description": "description", "Role": "role"}
        changes.update({field: p[key] for key, field in simple.items() if key in p})
        if "Role" in p:
            await self.backend.check_role(p["Role"])
        if "EphemeralStorage" in p:
            changes["ephemeral_storage_mb"] = p["EphemeralStorage"]["Size"]
        if "DeadLetterConfig" in p:
            changes["dead_letter_target_arn"] = check_dead_letter_target(p["DeadLetterConfig"])
        if "VpcConfig" in p:
            changes["vpc"] = check_vpc(p["VpcConfig"], self.backend.networks)
        if "Layers" in p:
            current = await self.backend.get(ref)
            changes["layers"] = await resolve_function_layers(self.backend, p["Layers"] or [], current.code)
        replaced: list[FunctionConfig] = []

        def change(current: FunctionConfig) -> FunctionConfig:
            replaced.append(current)
            return current.revised(**changes)

        updated = await self.apply_update(ref.name, p.get("RevisionId"), change)
        await self.backend.feed.publish(FunctionChanged(ref.name))  # its idle environments retire
        if "layers" in changes:
            self.backend.collector.forget_function(replaced[-1])  # its layers and their merge may be unused now
        return self._configuration(updated)

    async def apply_update(self, name: str, expected_revision: str | None,
                           change: Callable[[FunctionConfig], FunctionConfig]) -> FunctionConfig:
        """Apply `change` to the stored function atomically, honouring a RevisionId precondition."""
        for _ in range(MAX_UPDATE_ATTEMPTS):
            current = await self.backend.get(self.backend.resolve(name))
            if expected_revision is not None and current.revision_id != expected_revision:
                raise PreconditionFailedException(
                    "The Revision Id provided does not match the latest Revision Id. "
                    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            updated = change(current)
            if await self.backend.store.replace_function(updated, current.revision_id):
                return updated
        raise ResourceConflictException(
            "The operation cannot be performed at this time. An update is in progress for resource: "
            f"{self.backend.arn(name)}"
        )

    async def delete_function(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        if ref.qualifier == "$LATEST":
            raise InvalidParameterValueException("$LATEST version cannot be deleted without deleting the function.")
        if ref.qualifier is not None:
            await self._delete_version(ref.name, ref.qualifier)
            return {"StatusCode": 204}
        await self.backend.store.delete_provisioned(ref.name)
        records = [latest] if (latest := await self.backend.store.get_function(ref.name)) else []
        records += await self.backend.store.list_versions(ref.name)
        if not await self.backend.store.delete_function(ref.name):
            raise ResourceNotFoundException(f"Function not found: {self.backend.arn(ref.name)}")
        # Its queued Event invocations go with it, rather than running against a function
        # created later under the same name.
        discarded = await self.backend.async_queue.discard_function(ref.name)
        if discarded:
            log.info("discarded %d queued Event invocation(s) of deleted function %s", discarded, ref.name)
        # Its provisioned environments stop, its reservation and idle environments go.
        await self.backend.feed.publish(FunctionDeleted(ref.name))
        for record in records:  # their code goes once no other function, version or layer uses it
            self.backend.collector.forget_function(record)
        return {"StatusCode": 204}  # the model says 200, but Lambda answers 204 (botocore reports it)


    async def _delete_version(self, name: str, version: str) -> None:
        record = await self.backend.store.get_version(name, version) if version.isdigit() else None
        if record is None:
            raise self.backend.not_found(name, version)
        users = [a.name for a in await self.backend.store.list_aliases(name)
                 if a.function_version == version or version in a.additional_weights]
        if users:
            raise ResourceConflictException(
                f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]"
            )
        await self.backend.store.delete_version(name, version)
        await self.backend.store.delete_provisioned(name, version)
        await self.backend.feed.publish(FunctionDeleted(name, version))
        self.backend.collector.forget_function(record)


def _unqualified(ref: FunctionRef) -> FunctionRef:
    """Only $LATEST changes; versions are immutable and aliases change with UpdateAlias."""
    if ref.qualifier not in (None, "$LATEST"):
        raise InvalidParameterValueException(
            f"Only $LATEST can be updated: {ref.qualifier} is a published version or an alias. Update the "
            "unqualified function and publish a new version, or point an alias elsewhere with UpdateAlias."
        )
    return replace(ref, qualifier=None)


def _encode_marker(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _decode_marker(marker: str) -> str:
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameterValueException(f"Invalid Marker: {marker}. Pass the NextMarker of a previous "
                                             "ListFunctions response.") from None
