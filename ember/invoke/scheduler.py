"""The scheduler: warm environments per function, concurrency accounting, keep-alive reaping.

An invocation takes an idle environment of the function's current configuration, or
starts a new one while the host's environment limit allows; past it the caller gets
TooManyRequestsException at once, never a queue. Idle environments retire after the
keep-alive, and environments of an older configuration retire as soon as they are idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable

from ember.errors import TooManyRequestsException
from ember.invoke.environment import Environment, EnvironmentState, InitResult

log = logging.getLogger(__name__)

EnvironmentFactory = Callable[[], Environment]


class Scheduler:
    def __init__(self, max_environments: int, keep_alive_s: float) -> None:
        self.max_environments = max_environments
        self.keep_alive_s = keep_alive_s
        self._idle: dict[str, list[Environment]] = defaultdict(list)  # by function name
        self._all: set[Environment] = set()
        self._reaper: asyncio.Task[None] | None = None
        self.is_shutting_down = False

    def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever())

    @property
    def environment_count(self) -> int:
        return len(self._all)

    def environments_of(self, function_name: str) -> list[Environment]:
        return [env for env in self._all if env.function_name == function_name]

    async def acquire(self, function_name: str, config_key: str,
                      factory: EnvironmentFactory) -> tuple[Environment, InitResult | None]:
        """A ready environment for this configuration, and its InitResult if it was just started.

        The InitResult may report a failed init; the environment is then already dead.
        """
        idle = self._idle[function_name]
        while idle:
            env = idle.pop()
            if env.config_key == config_key and env.state is EnvironmentState.IDLE:
                env.state = EnvironmentState.BUSY
                return env, None
            await self._retire(env)
        if len(self._all) >= self.max_environments and not await self._evict_one_idle():
            raise TooManyRequestsException("Rate Exceeded.", Reason="ConcurrentInvocationLimitExceeded")
        env = factory()
        self._all.add(env)
        try:
            init = await env.start()
        except BaseException:
            self._all.discard(env)
            await env.destroy()
            raise
        if not init.is_ok:
            self._all.discard(env)
        return env, init

    async def release(self, env: Environment, current_config_key: str | None) -> None:
        """Give `env` back after an invocation; it retires if dead or out of date."""
        if env.state is not EnvironmentState.IDLE or self.is_shutting_down or env.config_key != current_config_key:
            await self._retire(env)
            return
        env.idle_since = time.monotonic()
        self._idle[env.function_name].append(env)

    async def retire_function(self, function_name: str) -> None:
        """Retire the idle environments of a function (its code or configuration changed)."""
        for env in self._idle.pop(function_name, []):
            await self._retire(env)

    async def _retire(self, env: Environment) -> None:
        self._all.discard(env)
        with contextlib.suppress(ValueError):
            self._idle[env.function_name].remove(env)
        await env.destroy()

    async def _evict_one_idle(self) -> bool:
        oldest = min((env for envs in self._idle.values() for env in envs),
                     key=lambda env: env.idle_since, default=None)
        if oldest is None:
            return False
        await self._retire(oldest)
        return True

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.keep_alive_s / 2))
            cutoff = time.monotonic() - self.keep_alive_s
            expired = [env for envs in self._idle.values() for env in envs if env.idle_since < cutoff]
            for env in expired:
                log.debug("retiring idle environment %s of %s", env.environment_id, env.function_name)
                await self._retire(env)

    async def shutdown(self) -> None:
        """Kill every environment, busy or not; their invocations end with an error."""
        self.is_shutting_down = True
        if self._reaper is not None:
            self._reaper.cancel()
        await asyncio.gather(*(env.destroy() for env in list(self._all)), return_exceptions=True)
        self._all.clear()
        self._idle.clear()
