"""Function URLs: Create/Get/Update/Delete/ListFunctionUrlConfig(s).

A function URL belongs to the unqualified function ($LATEST) or to one of its aliases, one per
qualifier. AWS answers with `https://<url-id>.lambda-url.<region>.on.aws/`; Ember with
`http://<url-id>.lambda-url.<region>.localhost:<port>/` (`*.localhost` reaches loopback with no
DNS set-up) and serves the same URL at `/lambda-url/<url-id>/` on its own port
(ember/lambda_/function_url_door.py answers both).
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from ember.arns import FunctionRef
from ember.errors import InvalidParameterValueException, ResourceConflictException, ResourceNotFoundException
from ember.lambda_ import paging
from ember.lambda_.backend import LambdaBackend
from ember.models import FunctionUrlConfig
from ember.services.base import RequestContext

LATEST = "$LATEST"
URL_ID_ALPHABET = string.ascii_lowercase + string.digits
URL_ID_LENGTH = 32
#: the methods a Cors.AllowMethods entry may name ("*": all)
CORS_METHODS = {"GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS", "*"}


def new_url_id() -> str:
    return "".join(secrets.choice(URL_ID_ALPHABET) for _ in range(URL_ID_LENGTH))


def url_host(url_id: str, region: str) -> str:
    return f"{url_id}.lambda-url.{region}.localhost"


def aws_time(clock_s: float) -> str:
    """CreationTime/LastModifiedTime as function URLs write them: 2021-10-27T20:22:56.312345Z."""
    return dt.datetime.fromtimestamp(clock_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FunctionUrlOperations:
    def __init__(self, backend: LambdaBackend) -> None:
        self.backend = backend

    def _wire(self, config: FunctionUrlConfig, ctx: RequestContext, with_modified: bool = True) -> dict[str, Any]:
        port = urlsplit(ctx.base_url).port
        wire: dict[str, Any] = {
            "FunctionUrl": f"http://{url_host(config.url_id, self.backend.home.region)}"
                           f"{f':{port}' if port else ''}/",
            "FunctionArn": self.backend.arn(config.function_name, None if config.qualifier == LATEST
                                            else config.qualifier),
            "AuthType": config.auth_type,
            "CreationTime": config.creation_time,
            "InvokeMode": config.invoke_mode,
        }
        if config.cors is not None:
            wire["Cors"] = config.cors
        if with_modified:
            wire["LastModifiedTime"] = config.last_modified_time
        return wire

    async def _qualifier(self, ref: FunctionRef) -> str:
        """The qualifier a function URL may have: $LATEST or an existing alias, never a version."""
        qualifier = ref.qualifier or LATEST
        if qualifier.isdigit():
            raise InvalidParameterValueException(
                f"Function URLs belong to the unqualified function or an alias, not to a version: "
                f"{self.backend.arn(ref.name, qualifier)}")
        await self.backend.get(FunctionRef(ref.name, qualifier), show_qualifier=qualifier != LATEST)
        return qualifier

    async def _existing(self, ref: FunctionRef) -> FunctionUrlConfig:
        qualifier = await self._qualifier(ref)
        config = await self.backend.store.get_function_url(ref.name, qualifier)
        if config is None:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        return config

    async def create_function_url_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        qualifier = await self._qualifier(ref)
        now = aws_time(self.backend.clock.time_s())
        config = FunctionUrlConfig(ref.name, qualifier, new_url_id(), p["AuthType"], p.get("InvokeMode") or "BUFFERED",
                                   check_cors(p.get("Cors")), creation_time=now, last_modified_time=now)
        if not await self.backend.store.create_function_url(config):
            raise ResourceConflictException(
                f"Failed to create function url config for [functionArn = "
                f"{self.backend.arn(ref.name, None if qualifier == LATEST else qualifier)}]. Error message:  "
                "FunctionUrlConfig exists for this Lambda function")
        return self._wire(config, ctx, with_modified=False)

    async def get_function_url_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return self._wire(await self._existing(self.backend.resolve(p["FunctionName"], p.get("Qualifier"))), ctx)

    async def update_function_url_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        current = await self._existing(ref)
        changes: dict[str, Any] = {"last_modified_time": aws_time(self.backend.clock.time_s())}
        if p.get("AuthType"):
            changes["auth_type"] = p["AuthType"]
        if p.get("InvokeMode"):
            changes["invoke_mode"] = p["InvokeMode"]
        if "Cors" in p:
            changes["cors"] = check_cors(p["Cors"])
        updated = replace(current, **changes)
        if not await self.backend.store.replace_function_url(updated):
            raise ResourceNotFoundException("The resource you requested does not exist.")
        return self._wire(updated, ctx)

    async def delete_function_url_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        qualifier = await self._qualifier(ref)
        if not await self.backend.store.delete_function_url(ref.name, qualifier):
            raise ResourceNotFoundException("The resource you requested does not exist.")
        return {}

    async def list_function_url_configs(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        await self.backend.get(FunctionRef(ref.name, None))
        configs = [self._wire(config, ctx) for config in await self.backend.store.list_function_urls(ref.name)]
        page, next_marker = paging.page(configs, p.get("Marker"), p.get("MaxItems"))
        response: dict[str, Any] = {"FunctionUrlConfigs": page}
        if next_marker:
            response["NextMarker"] = next_marker
        return response


def check_cors(cors: dict[str, Any] | None) -> dict[str, Any] | None:
    """The Cors parameter as stored (empty lists left out; nothing left: no CORS), or AWS's error for a
    method it does not know."""
    if cors is None:
        return None
    for method in cors.get("AllowMethods") or []:
        if method.upper() not in CORS_METHODS:
            raise InvalidParameterValueException(
                f"Cors.AllowMethods contains {method!r}: name GET, PUT, HEAD, POST, PATCH, DELETE, OPTIONS or *")
    kept = {key: value for key, value in cors.items() if value not in (None, [])}
    return kept or None
