"""Concurrency controls: reserved concurrency per function, provisioned concurrency per
version or alias."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ember.errors import InvalidParameterValueException, ProvisionedConcurrencyConfigNotFoundException
from ember.feed.base import ConcurrencyChanged, ProvisionedConcurrencyChanged
from ember.lambda_ import paging
from ember.lambda_.backend import LambdaBackend
from ember.lambda_.functions import FunctionOperations
from ember.models import ProvisionedConfig, now_iso
from ember.services.base import RequestContext

#: Lambda keeps this much of the account's concurrency for functions without a reservation
MIN_UNRESERVED = 100


class ConcurrencyOperations:
    def __init__(self, backend: LambdaBackend, functions: FunctionOperations) -> None:
        self.backend = backend
        self.functions = functions

    async def put_function_concurrency(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        reserved = p["ReservedConcurrentExecutions"]
        account_concurrency = self.backend.account_concurrency
        current = (await self.backend.get(ref)).reserved_concurrency or 0
        reserved_by_others = account_concurrency - await self.backend.unreserved_limit() - current
        if account_concurrency - (reserved_by_others + reserved) < MIN_UNRESERVED:
            raise InvalidParameterValueException(
                "Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{MIN_UNRESERVED}]."
            )
        await self.functions.apply_update(ref.name, None, lambda f: replace(f, reserved_concurrency=reserved))
        await self.backend.feed.publish(ConcurrencyChanged(ref.name, reserved))
        return {"ReservedConcurrentExecutions": reserved}

    async def get_function_concurrency(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        function = await self.backend.get(self.backend.resolve(p["FunctionName"]))
        if function.reserved_concurrency is None:
            return {}
        return {"ReservedConcurrentExecutions": function.reserved_concurrency}

    async def delete_function_concurrency(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        await self.backend.get(ref)
        await self.functions.apply_update(ref.name, None, lambda f: replace(f, reserved_concurrency=None))
        await self.backend.feed.publish(ConcurrencyChanged(ref.name, None))
        return {}

    async def put_provisioned_concurrency_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p["Qualifier"])
        if ref.qualifier == "$LATEST":
            raise InvalidParameterValueException(
                "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
            )
        latest = await self.backend.get(self.backend.resolve(ref.name))
        await self.backend.get(ref, show_qualifier=True)  # not found, naming the qualifier
        requested = p["ProvisionedConcurrentExecutions"]
        ceiling = latest.reserved_concurrency
        if ceiling is not None and requested > ceiling:
            raise InvalidParameterValueException(
                "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for "
                "function"
            )
        unreserved = await self.backend.unreserved_limit() - MIN_UNRESERVED
        if ceiling is None and requested > unreserved:
            raise InvalidParameterValueException(
                f"Specified ConcurrentExecutions for function is greater than account's unreserved concurrency "
                f"[{unreserved}]."
            )
        config = ProvisionedConfig(ref.name, str(ref.qualifier), requested, now_iso())
        await self.backend.store.put_provisioned(config)
        await self.backend.feed.publish(ProvisionedConcurrencyChanged(ref.name, config.qualifier, requested))
        # What this server's provisioner now does about it (the feed delivered before returning).
        target = self.backend.provisioner.get(ref.name, config.qualifier)
        return {
            "RequestedProvisionedConcurrentExecutions": requested,
            "AllocatedProvisionedConcurrentExecutions": self.backend.provisioner.available(target) if target else 0,
            "Status": target.status.value if target else "IN_PROGRESS",
            "LastModified": config.last_modified,
        }

    async def _config(self, function_name: str, qualifier: str) -> ProvisionedConfig:
        for config in await self.backend.store.list_provisioned(function_name):
            if config.qualifier == qualifier:
                return config
        raise ProvisionedConcurrencyConfigNotFoundException("No Provisioned Concurrency Config found for this function")

    def _status(self, config: ProvisionedConfig) -> dict[str, Any]:
        target = self.backend.provisioner.get(config.function_name, config.qualifier)
        available = self.backend.provisioner.available(target) if target else 0
        wire: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": config.requested,
            "AvailableProvisionedConcurrentExecutions": available,
            "AllocatedProvisionedConcurrentExecutions": available,
            "Status": target.status.value if target else "FAILED",
            "LastModified": config.last_modified,
        }
        if target is not None and target.reason:
            wire["StatusReason"] = target.reason
        return wire

    async def get_provisioned_concurrency_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p["Qualifier"])
        await self.backend.get(self.backend.resolve(ref.name))
        return self._status(await self._config(ref.name, str(ref.qualifier)))

    async def list_provisioned_concurrency_configs(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        await self.backend.get(ref)
        configs = [{"FunctionArn": self.backend.arn(c.function_name, c.qualifier), **self._status(c)}
                   for c in await self.backend.store.list_provisioned(ref.name)]
        shown, next_marker = paging.page(configs, p.get("Marker"), p.get("MaxItems"))
        result: dict[str, Any] = {"ProvisionedConcurrencyConfigs": shown}
        if next_marker:
            result["NextMarker"] = next_marker
        return result

    async def delete_provisioned_concurrency_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"], p["Qualifier"])
        await self.backend.get(self.backend.resolve(ref.name))
        # Idempotent, as on AWS: deleting a configuration that is not there answers 204 (the model
        # names no ProvisionedConcurrencyConfigNotFoundException for this operation).
        await self.backend.store.delete_provisioned(ref.name, str(ref.qualifier))
        await self.backend.feed.publish(ProvisionedConcurrencyChanged(ref.name, str(ref.qualifier), None))
        return {}
