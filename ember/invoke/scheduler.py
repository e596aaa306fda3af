"""The scheduler: warm environments, concurrency accounting, throttling and keep-alive reaping.

Concurrency is counted as Lambda counts it, in invocations in flight:
- a function with reserved concurrency R runs at most R at once (R = 0 stops it);
- all other functions share the account limit minus everything reserved;
- past either, the caller gets TooManyRequestsException (429) with AWS's Reason at once,
  never a queue.
Environments also hold memory while warm: the sum of their MemorySize stays within the
host's memory budget, evicting the longest-idle environment to make room, else a 429.

An invocation takes an idle environment of its exact configuration (provisioned ones
included), or starts one. Idle environments retire after the keep-alive (provisioned ones
never do), and environments of an older configuration as soon as they are idle. Past its
`retire_at_s` (its credentials end soon after: see invoke/credentials.py) an environment,
provisioned or not, is handed no invocation and retires once idle; one that is running an
invocation finishes it first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ember.clock import Clock, SystemClock
from ember.errors import TooManyRequestsException
from ember.feed.base import Change, ConcurrencyChanged, FunctionChanged, FunctionDeleted
from ember.invoke.environment import Environment, EnvironmentState, InitResult

log = logging.getLogger(__name__)

#: starts an environment (cold, or from the parking lot) and runs its init; it hands the
#: environment to `track` first, so a shutdown during the init still finds and kills it
Starter = Callable[[Callable[[Environment], None]], Awaitable[tuple[Environment, InitResult]]]
RESERVED_LIMIT_REASON = "ReservedFunctionConcurrentInvocationLimitExceeded"
ACCOUNT_LIMIT_REASON = "ConcurrentInvocationLimitExceeded"


@dataclass(frozen=True)
class Limits:
    account_concurrency: int  #: invocations in flight across all functions
    memory_budget_mb: int  #: the most MemorySize all environments together may hold


class Scheduler:
    def __init__(self, limits: Limits, keep_alive_s: float, clock: Clock | None = None) -> None:
        self.limits = limits
        self.keep_alive_s = keep_alive_s
        self.clock = clock or SystemClock()
        self._idle: dict[str, list[Environment]] = defaultdict(list)  # by config key
        self._all: set[Environment] = set()
        self._in_flight: Counter[str] = Counter()  # by function name
        #: function name → reserved concurrency: a cache of the store's, loaded at start
        #: (`load_reserved`) and kept by the change feed (`on_change`)
        self._reserved: dict[str, int] = {}
        self._reaper: asyncio.Task[None] | None = None
        self.is_shutting_down = False

    def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever())

    # Accounting ------------------------------------------------------------------------

    @property
    def environment_count(self) -> int:
        return len(self._all)

    @property
    def memory_in_use_mb(self) -> int:
        return sum(env.memory_mb for env in self._all)

    def in_flight(self, function_name: str | None = None) -> int:
        return self._in_flight[function_name] if function_name else sum(self._in_flight.values())

    def in_flight_by_function(self) -> dict[str, int]:
        return dict(self._in_flight)

    def unreserved_in_flight(self) -> int:
        """Invocations in flight of functions without reserved concurrency."""
        return sum(n for name, n in self._in_flight.items() if name not in self._reserved)

    @property
    def unreserved_limit(self) -> int:
        return self.limits.account_concurrency - sum(self._reserved.values())

    def load_reserved(self, reserved: dict[str, int]) -> None:
        """Start from the store's reserved concurrency (function name → reserved; the others have none)."""
        self._reserved = dict(reserved)

    async def on_change(self, change: Change) -> None:
        """The change feed's subscriber: reserved concurrency follows the store, and idle
        environments of a configuration that changed or went retire."""
        if isinstance(change, ConcurrencyChanged):
            if change.reserved is None:
                self._reserved.pop(change.function_name, None)
            else:
                self._reserved[change.function_name] = change.reserved
        elif isinstance(change, FunctionChanged):
            await self.retire_function(change.function_name, change.version)
        elif isinstance(change, FunctionDeleted):
            if change.version is None:
                self._reserved.pop(change.function_name, None)
            await self.retire_function(change.function_name, change.version)

    def code_dirs_in_use(self) -> set[Path]:
        """The code and layer folders live environments read, busy or idle."""
        return {path for env in self._all for path in env.code_dirs}

    def environments_of(self, function_name: str) -> list[Environment]:
        return [env for env in self._all if env.function_name == function_name]

    def _admit(self, function_name: str) -> None:
        reserved = self._reserved.get(function_name)
        if reserved is not None:
            if self._in_flight[function_name] >= reserved:
                raise TooManyRequestsException("Rate Exceeded.", Reason=RESERVED_LIMIT_REASON)
        else:
            if self.unreserved_in_flight() >= self.unreserved_limit:
                raise TooManyRequestsException("Rate Exceeded.", Reason=ACCOUNT_LIMIT_REASON)
        self._in_flight[function_name] += 1

    def _leave(self, function_name: str) -> None:
        self._in_flight[function_name] -= 1
        if self._in_flight[function_name] <= 0:
            del self._in_flight[function_name]

    # Environments ----------------------------------------------------------------------

    async def acquire(self, function_name: str, config_key: str, memory_mb: int,
                      starter: Starter) -> tuple[Environment, InitResult | None]:
        """A ready environment for this configuration, and its InitResult if it was just started.

        Counts the invocation in flight until `release`. The InitResult may report a failed
        init; the environment is then already dead (still `release` it).
        """
        self._admit(function_name)
        try:
            idle = self._idle[config_key]
            while idle:
                env = idle.pop()  # the most recently used: its caches are warmest
                if env.state is EnvironmentState.IDLE and not self.is_due(env):
                    env.state = EnvironmentState.BUSY
                    return env, None
                await self._retire(env)
            await self._make_room(memory_mb)
            return await self._start(starter)
        except BaseException:
            self._leave(function_name)
            raise

    async def start_spare(self, memory_mb: int, starter: Starter) -> InitResult:
        """Start an environment ahead of demand (provisioned concurrency) and keep it idle."""
        await self._make_room(memory_mb)
        env, init = await self._start(starter)
        if init.is_ok:
            env.idle_since = self.clock.monotonic()
            self._idle[env.config_key].append(env)
        return init

    async def _start(self, starter: Starter) -> tuple[Environment, InitResult]:
        tracked: list[Environment] = []

        def track(env: Environment) -> None:
            self._all.add(env)
            tracked.append(env)

        try:
            env, init = await starter(track)
        except BaseException:
            for env in tracked:
                self._all.discard(env)
                await env.destroy()
            raise
        if not init.is_ok:
            self._all.discard(env)
        return env, init

    async def _make_room(self, memory_mb: int) -> None:
        while self.memory_in_use_mb + memory_mb > self.limits.memory_budget_mb:
            if not await self._evict_one_idle():
                raise TooManyRequestsException("Rate Exceeded.", Reason=ACCOUNT_LIMIT_REASON)

    async def release(self, env: Environment, current_config_key: str | None) -> None:
        """Give `env` back after an invocation; it retires if dead or out of date."""
        self._leave(env.function_name)
        if env.state is not EnvironmentState.IDLE or self.is_shutting_down or env.config_key != current_config_key \
                or self.is_due(env):
            await self._retire(env)
            return
        env.idle_since = self.clock.monotonic()
        self._idle[env.config_key].append(env)

    def provisioned_count(self, config_key: str) -> int:
        """Live provisioned environments of a configuration (busy or idle)."""
        return sum(1 for env in self._all if env.config_key == config_key and env.is_provisioned
                   and env.state is not EnvironmentState.DEAD)

    async def unprovision(self, config_key: str) -> None:
        """Let a configuration's provisioned environments retire like any others."""
        for env in self._all:
            if env.config_key == config_key:
                env.is_provisioned = False

    async def retire_function(self, function_name: str, version: str | None = None) -> None:
        """Retire the idle environments of a function, or of one of its versions (it changed or
        is gone); busy ones retire when their invocation ends, as their config key is stale."""
        stale = [env for envs in self._idle.values() for env in envs
                 if env.function_name == function_name and (version is None or env.version == version)]
        for env in stale:
            await self._retire(env)

    async def _retire(self, env: Environment) -> None:
        self._all.discard(env)
        with contextlib.suppress(ValueError):
            self._idle[env.config_key].remove(env)
        await env.destroy()

    async def _evict_one_idle(self) -> bool:
        candidates = [env for envs in self._idle.values() for env in envs if not env.is_provisioned]
        oldest = min(candidates, key=lambda env: env.idle_since, default=None)
        if oldest is None:
            return False
        await self._retire(oldest)
        return True

    async def _reap_forever(self) -> None:
        while True:
            await self.clock.sleep(min(1.0, self.keep_alive_s / 2))
            await self.reap_expired()

    def is_due(self, env: Environment) -> bool:
        """Whether `env` is past its retire-by time (its credentials end soon after)."""
        return env.retire_at_s is not None and self.clock.time_s() >= env.retire_at_s

    async def reap_expired(self) -> None:
        """Retire the environments idle for longer than the keep-alive (never provisioned ones), and
        the idle ones past their retire-by time (provisioned ones too: the provisioner replaces them)."""
        cutoff = self.clock.monotonic() - self.keep_alive_s
        expired = [env for envs in self._idle.values() for env in envs
                   if (env.idle_since < cutoff and not env.is_provisioned) or self.is_due(env)]
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
