"""What the Lambda operation handlers share: settings, store, blobs, runtimes and invoker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ember.arns import FunctionRef, function_arn, parse_function_ref
from ember.blobs.local import LocalBlobStore
from ember.config import Settings
from ember.errors import InvalidParameterValueException, ResourceNotFoundException
from ember.invoke.invoker import Invoker
from ember.invoke.scheduler import Scheduler
from ember.models import FunctionConfig
from ember.runtimes.catalog import Runtime
from ember.store.base import Store


@dataclass
class LambdaBackend:
    settings: Settings
    store: Store
    blobs: LocalBlobStore
    runtimes: dict[str, Runtime]
    scheduler: Scheduler
    invoker: Invoker
    #: Event invocations still running, so shutdown can account for them
    background: set[asyncio.Task[None]] = field(default_factory=set)

    def arn(self, name: str, qualifier: str | None = None) -> str:
        return function_arn(self.settings.region, self.settings.account_id, name, qualifier)

    def resolve(self, function_name: str, qualifier: str | None = None) -> FunctionRef:
        """The function a FunctionName (+ Qualifier) parameter names; checks the two agree."""
        ref = parse_function_ref(function_name)
        if ref.region and ref.region != self.settings.region:
            raise ResourceNotFoundException(
                f"Functions from '{ref.region}' are not reachable in this region ('{self.settings.region}')"
            )
        if qualifier is not None and ref.qualifier is not None and qualifier != ref.qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified qualifier."
            )
        return FunctionRef(ref.name, qualifier or ref.qualifier, ref.region, ref.account_id)

    async def get(self, ref: FunctionRef, *, show_qualifier: bool = False) -> FunctionConfig:
        """The function `ref` names, or AWS's not-found error.

        Only $LATEST exists until versions land, so any other qualifier is not found.
        """
        function = await self.store.get_function(ref.name)
        if function is None or (ref.qualifier not in (None, "$LATEST")):
            shown = ref.qualifier if (ref.qualifier and (show_qualifier or ref.qualifier != "$LATEST")) else None
            raise ResourceNotFoundException(f"Function not found: {self.arn(ref.name, shown)}")
        return function
