"""Event invoke configs: Put/Get/Update/Delete/ListFunctionEventInvokeConfig(s).

How Event invocations of a function, version or alias are retried (MaximumRetryAttempts,
0–2, default 2), how long they may wait (MaximumEventAgeInSeconds, 60–21,600, default
21,600) and where their records go (DestinationConfig). The model checks the ranges; the
wording of the other errors follows AWS's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ember.arns import FunctionRef
from ember.errors import InvalidParameterValueException, ResourceNotFoundException
from ember.lambda_ import paging
from ember.lambda_.backend import LambdaBackend
from ember.lambda_.destinations import check_destinations
from ember.models import EventInvokeConfig
from ember.services.base import RequestContext

LATEST = "$LATEST"


class EventInvokeConfigOperations:
    def __init__(self, backend: LambdaBackend) -> None:
        self.backend = backend

    def _wire(self, config: EventInvokeConfig) -> dict[str, Any]:
        """The FunctionEventInvokeConfig shape: unset limits are left out; both destinations always shown."""
        wire: dict[str, Any] = {
            "LastModified": config.last_modified_s,
            "FunctionArn": self.backend.arn(config.function_name, config.qualifier),
            "DestinationConfig": {
                "OnSuccess": {"Destination": config.on_success_arn} if config.on_success_arn else {},
                "OnFailure": {"Destination": config.on_failure_arn} if config.on_failure_arn else {},
            },
        }
        if config.max_retry_attempts is not None:
            wire["MaximumRetryAttempts"] = config.max_retry_attempts
        if config.max_event_age_s is not None:
            wire["MaximumEventAgeInSeconds"] = config.max_event_age_s
        return wire

    def _missing_config(self, function_name: str, qualifier: str) -> ResourceNotFoundException:
        return ResourceNotFoundException(
            f"The function {self.backend.arn(function_name, qualifier)} doesn't have an EventInvokeConfig"
        )

    async def _existing_qualifier(self, ref: FunctionRef) -> str:
        """The qualifier `ref` names ($LATEST when none), once the function and it are known to exist."""
        qualifier = ref.qualifier or LATEST
        try:
            await self.backend.get(FunctionRef(ref.name, qualifier))
        except ResourceNotFoundException:
            raise ResourceNotFoundException("The function doesn't exist.") from None
        return qualifier

    async def put_function_event_invoke_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        _require_a_setting(p)
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        qualifier = await self._existing_qualifier(ref)
        on_success, on_failure = await check_destinations(self.backend, ref.name, p.get("DestinationConfig"))
        # Put replaces the whole configuration: what is left out is unset.
        config = EventInvokeConfig(ref.name, qualifier, p.get("MaximumRetryAttempts"),
                                   p.get("MaximumEventAgeInSeconds"), on_success, on_failure,
                                   last_modified_s=self.backend.clock.time_s())
        await self.backend.store.put_event_invoke_config(config)
        return self._wire(config)

    async def update_function_event_invoke_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        _require_a_setting(p)
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        qualifier = await self._existing_qualifier(ref)
        current = await self.backend.store.get_event_invoke_config(ref.name, qualifier)
        if current is None:
            raise self._missing_config(ref.name, qualifier)
        changes: dict[str, Any] = {}
        if p.get("MaximumRetryAttempts") is not None:
            changes["max_retry_attempts"] = p["MaximumRetryAttempts"]
        if p.get("MaximumEventAgeInSeconds") is not None:
            changes["max_event_age_s"] = p["MaximumEventAgeInSeconds"]
        destinations = p.get("DestinationConfig")
        if destinations is not None:
            on_success, on_failure = await check_destinations(self.backend, ref.name, destinations)
            # Update changes only what it names: a destination left out stays as it was.
            if "OnSuccess" in destinations:
                changes["on_success_arn"] = on_success
            if "OnFailure" in destinations:
                changes["on_failure_arn"] = on_failure
        updated = replace(current, last_modified_s=self.backend.clock.time_s(), **changes)
        await self.backend.store.put_event_invoke_config(updated)
        return self._wire(updated)

    async def get_function_event_invoke_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        qualifier = ref.qualifier or LATEST
        config = await self.backend.store.get_event_invoke_config(ref.name, qualifier)
        if config is None:
            raise self._missing_config(ref.name, qualifier)
        return self._wire(config)

    async def delete_function_event_invoke_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p.get("Qualifier"))
        qualifier = ref.qualifier or LATEST
        if not await self.backend.store.delete_event_invoke_config(ref.name, qualifier):
            raise self._missing_config(ref.name, qualifier)
        return {}

    async def list_function_event_invoke_configs(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        if ref.qualifier is not None:
            raise InvalidParameterValueException(
                "ListFunctionEventInvokeConfigs lists the configurations of a whole function: pass its name or "
                "unqualified ARN, without a version or alias."
            )
        if await self.backend.store.get_function(ref.name) is None:
            raise ResourceNotFoundException("The function doesn't exist.")
        configs = await self.backend.store.list_event_invoke_configs(ref.name)
        shown, next_marker = paging.page(configs, p.get("Marker"), p.get("MaxItems"))
        result: dict[str, Any] = {"FunctionEventInvokeConfigs": [self._wire(config) for config in shown]}
        if next_marker:
            result["NextMarker"] = next_marker
        return result


def _require_a_setting(p: dict[str, Any]) -> None:
    if all(p.get(key) is None for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")):
        raise InvalidParameterValueException("You must specify at least one of error handling or destination setting.")
