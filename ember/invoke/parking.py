"""The parking lot: execution environments started before any function asks for them.

A cold start's costly part is not the function's own init but everything before it: the
sandbox (namespaces, cgroup, /tmp), the interpreter starting, the bootstrap's imports.
Parked environments have done all of that and wait, per runtime, to be given a function:
taking one costs a mount and a message, then the function's own init. The lot refills in
the background; a runtime starts being parked once some function has used it, and the
modules named in EMBER_PREIMPORT (e.g. boto3) are imported while parked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable

from ember.invoke.environment import Environment, EnvironmentDestroyed, EnvironmentState

log = logging.getLogger(__name__)

#: the EphemeralStorage parked environments are made with; other sizes start cold
PARKED_TMP_SIZE_MB = 512
#: MemorySize a parked environment is held to until its function raises it
PARKED_MEMORY_MB = 128


class ParkingLot:
    def __init__(self, per_runtime: int, park: Callable[[str], Environment]) -> None:
        """`park(runtime)` builds an Environment for that runtime with no function (not started)."""
        self.per_runtime = per_runtime
        self._park = park
        self._ready: dict[str, list[Environment]] = defaultdict(list)
        self._wanted: set[str] = set()
        self._filling: dict[str, asyncio.Task[None]] = {}
        self._is_closed = False

    def take(self, runtime: str, tmp_size_mb: int) -> Environment | None:
        """A parked environment for `runtime`, or None (then start cold); refills behind it."""
        if self.per_runtime <= 0 or self._is_closed:
            return None
        self._wanted.add(runtime)
        env = None
        if tmp_size_mb == PARKED_TMP_SIZE_MB:
            ready = self._ready[runtime]
            while ready and env is None:
                candidate = ready.pop()
                if candidate.state is EnvironmentState.PARKED:
                    env = candidate
        self._refill(runtime)
        return env

    def prepare(self, runtime: str) -> None:
        """Start parking environments for `runtime` before anything asks for one."""
        if self.per_runtime > 0 and not self._is_closed:
            self._wanted.add(runtime)
            self._refill(runtime)

    def _refill(self, runtime: str) -> None:
        task = self._filling.get(runtime)
        if task is None or task.done():
            self._filling[runtime] = asyncio.create_task(self._fill(runtime))

    async def _fill(self, runtime: str) -> None:
        while not self._is_closed and len(self._ready[runtime]) < self.per_runtime:
            env = self._park(runtime)
            try:
                is_parked = await env.park()
            except asyncio.CancelledError:
                await env.destroy()  # closed while it was starting: nobody else knows of it
                raise
            except EnvironmentDestroyed:
                return  # the server is shutting down
            except Exception:
                log.exception("could not park a %s environment", runtime)
                await env.destroy()
                return
            if not is_parked:
                log.warning("a parked %s environment died while starting; not parking more now", runtime)
                return
            if self._is_closed:
                await env.destroy()
                return
            self._ready[runtime].append(env)

    async def close(self) -> None:
        self._is_closed = True
        for task in self._filling.values():
            task.cancel()
        for task in self._filling.values():
            with contextlib.suppress(BaseException):
                await task
        await asyncio.gather(*(env.destroy() for envs in self._ready.values() for env in envs),
                             return_exceptions=True)
        self._ready.clear()
