"""Function life cycle: CreateFunction, Get*, ListFunctions, Update*, DeleteFunction."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

from ember.edge.service import RequestContext
from ember.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from ember.lambda_ import package, wire
from ember.lambda_.backend import LambdaBackend
from ember.lambda_.settings_check import check_environment, check_limits, check_runtime, check_tag_count
from ember.models import FunctionCode, FunctionConfig

MAX_NAME_LENGTH = 64
#: CAS retries when a concurrent update changed the function between read and write
MAX_UPDATE_ATTEMPTS = 8


class FunctionOperations:
    def __init__(self, backend: LambdaBackend) -> None:
        self.backend = backend

    def _configuration(self, function: FunctionConfig) -> dict[str, Any]:
        return wire.configuration(function, self.backend.settings.region, self.backend.settings.account_id)

    async def _store_code(self, code: dict[str, Any] | None, zip_file: bytes | None) -> FunctionCode:
        if zip_file is None:
            source = code or {}
            if source.get("S3Bucket") or source.get("S3Key"):
                raise InvalidParameterValueException(
                    "Ember has no object storage yet, so S3Bucket/S3Key cannot be read: upload the package "
                    "inline with ZipFile (aws lambda ... --zip-file fileb://function.zip)."
                )
            if source.get("ImageUri"):
                raise InvalidParameterValueException(
                    "Ember runs Zip packages only: container images (ImageUri) are not supported."
                )
            raise InvalidParameterValueException("Please provide a source for function code.")
        # Checking, hashing and unpacking can take a while for a 50 MB zip: not on the loop.
        return await asyncio.to_thread(self._store_zip, zip_file)

    def _store_zip(self, data: bytes) -> FunctionCode:
        info = package.check_zip(data)
        digest = self.backend.blobs.put(data)
        package.unpack(data, self.backend.settings.unpacked_dir / digest)
        return FunctionCode(
            sha256_hex=digest,
            sha256_b64=base64.b64encode(hashlib.sha256(data).digest()).decode(),
            size_bytes=len(data),
            unzipped_bytes=info.unzipped_bytes,
        )

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
        _refuse_layers(p)
        check_limits(p.get("Timeout"), p.get("MemorySize"), (p.get("EphemeralStorage") or {}).get("Size"))
        variables = (p.get("Environment") or {}).get("Variables") or {}
        check_environment(variables)
        check_tag_count(p.get("Tags") or {})
        if await self.backend.store.get_function(ref.name) is not None:
            raise ResourceConflictException(f"Function already exist: {ref.name}")
        code_param = p["Code"]
        code = await self._store_code(code_param, code_param.get("ZipFile"))
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
            architectures=tuple(p.get("Architectures") or ("x86_64",)),
            tags=dict(p.get("Tags") or {}),
        )
        await self.backend.store.create_function(function)
        return self._configuration(function)

    async def get_function(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        function = await self.backend.get(self.backend.resolve(p["FunctionName"], p.get("Qualifier")),
                                          show_qualifier=True)
        result: dict[str, Any] = {
            "Configuration": self._configuration(function),
            "Code": {"RepositoryType": "S3", "Location": f"{ctx.base_url}/_ember/code/{function.code.sha256_hex}.zip"},
        }
        if function.tags:
            result["Tags"] = dict(function.tags)
        return result

    async def get_function_configuration(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        function = await self.backend.get(self.backend.resolve(p["FunctionName"], p.get("Qualifier")),
                                          show_qualifier=True)
        return self._configuration(function)

    async def list_functions(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        limit = p.get("MaxItems", 50)
        after = _decode_marker(p["Marker"]) if p.get("Marker") else None
        functions = await self.backend.store.list_functions(after, limit + 1)
        page = functions[:limit]
        result: dict[str, Any] = {"Functions": [_listed(self._configuration(f)) for f in page]}
        if len(functions) > limit:
            result["NextMarker"] = _encode_marker(page[-1].name)
        return result

    async def update_function_code(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        await self.backend.get(ref)  # not found before a 50 MB unzip
        code = await self._store_code({k: p.get(k) for k in ("S3Bucket", "S3Key", "ImageUri")}, p.get("ZipFile"))
        if p.get("DryRun"):
            function = await self.backend.get(ref)
            return self._configuration(function.revised(code=code))
        updated = await self.apply_update(ref.name, p.get("RevisionId"), lambda f: f.revised(code=code))
        await self.backend.scheduler.retire_function(ref.name)
        return self._configuration(updated)

    async def update_function_configuration(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        _refuse_layers(p)
        check_limits(p.get("Timeout"), p.get("MemorySize"), (p.get("EphemeralStorage") or {}).get("Size"))
        changes: dict[str, Any] = {}
        if "Runtime" in p:
            check_runtime(p["Runtime"], self.backend.runtimes)
            changes["runtime"] = p["Runtime"]
        if "Environment" in p:
            variables = (p["Environment"] or {}).get("Variables") or {}
            check_environment(variables)
            changes["environment"] = dict(variables)
        simple = {"Handler": "handler", "Timeout": "timeout_s", "MemorySize": "memory_mb",
                  "Description": "description", "Role": "role"}
        changes.update({field: p[key] for key, field in simple.items() if key in p})
        if "EphemeralStorage" in p:
            changes["ephemeral_storage_mb"] = p["EphemeralStorage"]["Size"]
        updated = await self.apply_update(ref.name, p.get("RevisionId"), lambda f: f.revised(**changes))
        await self.backend.scheduler.retire_function(ref.name)
        return self._configuration(updated)

    async def apply_update(self, name: str, expected_revision: str | None, change: Any) -> FunctionConfig:
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
            raise ResourceNotFoundException(f"Function not found: {self.backend.arn(ref.name, ref.qualifier)}")
        if not await self.backend.store.delete_function(ref.name):
            raise ResourceNotFoundException(f"Function not found: {self.backend.arn(ref.name)}")
        await self.backend.scheduler.retire_function(ref.name)
        return {"StatusCode": 204}  # the model says 200, but Lambda answers 204 (botocore reports it)


def _refuse_layers(p: dict[str, Any]) -> None:
    if p.get("Layers"):
        raise InvalidParameterValueException(
            "Ember does not support layers yet: put the layer's contents in the function's own package."
        )


def _listed(configuration: dict[str, Any]) -> dict[str, Any]:
    # ListFunctions leaves out the state fields (AWS documents this; use GetFunction for them).
    for key in ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
                "LastUpdateStatusReasonCode", "RuntimeVersionConfig"):
        configuration.pop(key, None)
    return configuration


def _encode_marker(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def _decode_marker(marker: str) -> str:
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidParameterValueException(f"Invalid Marker: {marker}. Pass the NextMarker of a previous "
                                             "ListFunctions response.") from None
