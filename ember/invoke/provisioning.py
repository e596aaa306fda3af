"""Provisioned concurrency: environments initialised ahead of demand and kept ready.

For each configured version (or alias, through its version) the provisioner starts the
requested number of environments, reports IN_PROGRESS until they are all initialised and
READY after, and tops the pool up when one dies (a timeout, a crash). Invocations of that
version take these environments first; they never retire for being idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from ember.clock import Clock, SystemClock
from ember.feed.base import Change, FunctionDeleted, ProvisionedConcurrencyChanged
from ember.invoke.invoker import Invoker, config_key
from ember.invoke.scheduler import Scheduler
from ember.models import FunctionConfig

log = logging.getLogger(__name__)

REFILL_INTERVAL_S = 2.0

#: (function name, qualifier) → the version it runs now, from the store; None when it is gone
VersionResolver = Callable[[str, str], Awaitable[FunctionConfig | None]]


class ProvisioningStatus(StrEnum):
    IN_PROGRESS = "IN_PROGRESS"  #: environments are being initialised
    READY = "READY"  #: all requested environments are initialised
    FAILED = "FAILED"  #: an environment could not be initialised (StatusReason says why)


@dataclass
class Target:
    function: FunctionConfig  #: the version the environments run
    requested: int
    status: ProvisioningStatus = ProvisioningStatus.IN_PROGRESS
    reason: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def config_key(self) -> str:
        return config_key(self.function)


class Provisioner:
    """Keeps the provisioned environments the store asks for: loaded at start (`apply` for each
    stored configuration) and kept by the change feed (`on_change`)."""

    def __init__(self, invoker: Invoker, scheduler: Scheduler, resolve: VersionResolver,
                 clock: Clock | None = None) -> None:
        self.invoker = invoker
        self.clock = clock or SystemClock()
        self.scheduler = scheduler
        self.resolve = resolve
        self._targets: dict[tuple[str, str], Target] = {}
        self._watcher: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._watcher = asyncio.create_task(self._refill_forever())

    def set(self, function_name: str, qualifier: str, function: FunctionConfig, requested: int) -> Target:
        """Keep `requested` environments of `function` ready for `qualifier` (replacing any target)."""
        previous = self._targets.pop((function_name, qualifier), None)
        if previous is not None and previous.task is not None:
            previous.task.cancel()
        target = Target(function, requested)
        self._targets[(function_name, qualifier)] = target
        target.task = asyncio.create_task(self._fill(target))
        return target

    async def on_change(self, change: Change) -> None:
        """The change feed's subscriber."""
        if isinstance(change, ProvisionedConcurrencyChanged):
            await self.apply(change)
        elif isinstance(change, FunctionDeleted):
            await self.remove(change.function_name, change.version)

    async def apply(self, change: ProvisionedConcurrencyChanged) -> None:
        """Follow a stored provisioned concurrency configuration: keep its environments, or stop."""
        if change.requested is None:
            await self.remove(change.function_name, change.qualifier)
            return
        function = await self.resolve(change.function_name, change.qualifier)
        if function is None:
            return  # its version or alias is gone
        self.set(change.function_name, change.qualifier, function, change.requested)

    def get(self, function_name: str, qualifier: str) -> Target | None:
        return self._targets.get((function_name, qualifier))

    def available(self, target: Target) -> int:
        return min(target.requested, self.scheduler.provisioned_count(target.config_key))

    async def remove(self, function_name: str, qualifier: str | None = None) -> None:
        """Stop keeping environments for one qualifier (or all of a function's)."""
        for key in [k for k in self._targets if k[0] == function_name and qualifier in (None, k[1])]:
            target = self._targets.pop(key)
            if target.task is not None:
                target.task.cancel()
            if not any(t.config_key == target.config_key for t in self._targets.values()):
                await self.scheduler.unprovision(target.config_key)

    async def _fill(self, target: Target) -> None:
        while self.scheduler.provisioned_count(target.config_key) < target.requested:
            try:
                init = await self.invoker.provision(target.function)
            except Exception as exc:  # a 429 from the memory budget, a sandbox failure...
                target.status, target.reason = ProvisioningStatus.FAILED, str(exc)
                return
            if not init.is_ok:
                assert init.error is not None
                target.status = ProvisioningStatus.FAILED
                target.reason = _error_message(init.error.body)
                return
        target.status = ProvisioningStatus.READY

    async def _refill_forever(self) -> None:
        while True:
            await self.clock.sleep(REFILL_INTERVAL_S)
            self.replace_lost()

    def replace_lost(self) -> None:
        """Start topping up each READY target with fewer live environments than requested (one
        timed out, crashed); its status stays READY meanwhile."""
        for target in list(self._targets.values()):
            is_idle = target.task is None or target.task.done()
            if is_idle and target.status is ProvisioningStatus.READY and \
                    self.scheduler.provisioned_count(target.config_key) < target.requested:
                log.info("replacing lost provisioned environments of %s", target.function.name)
                target.task = asyncio.create_task(self._fill(target))

    async def shutdown(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        for target in self._targets.values():
            if target.task is not None:
                target.task.cancel()
        for task in [t.task for t in self._targets.values() if t.task is not None]:
            with contextlib.suppress(BaseException):
                await task


def _error_message(body: bytes) -> str:
    try:
        document = json.loads(body)
        return f"{document.get('errorType')}: {document.get('errorMessage')}"
    except (ValueError, AttributeError):
        return body.decode(errors="replace")[:200]
