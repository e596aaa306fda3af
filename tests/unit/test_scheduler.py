"""The scheduler's admission, throttling, memory budget and keep-alive, on a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from ember.clock import FakeClock
from ember.errors import TooManyRequestsException
from ember.invoke.environment import Environment, EnvironmentState, InitResult
from ember.invoke.scheduler import ACCOUNT_LIMIT_REASON, RESERVED_LIMIT_REASON, Limits, Scheduler, Starter


class FakeEnvironment:
    """What the scheduler reads of an environment; destroying it only marks it dead."""

    def __init__(self, function_name: str, config_key: str, memory_mb: int, is_provisioned: bool) -> None:
        self.function_name = function_name
        self.version = "$LATEST"
        self.config_key = config_key
        self.memory_mb = memory_mb
        self.is_provisioned = is_provisioned
        self.environment_id = f"{config_key}-env"
        self.state = EnvironmentState.BUSY
        self.idle_since = 0.0
        self.retire_at_s: float | None = None
        self.code_dirs: tuple[Path, ...] = ()
        self.is_destroyed = False

    async def destroy(self) -> None:
        self.state = EnvironmentState.DEAD
        self.is_destroyed = True


def starter(function_name: str, config_key: str, memory_mb: int = 128, is_provisioned: bool = False,
            retire_at_s: float | None = None) -> Starter:
    async def start(track: Callable[[Environment], None]) -> tuple[FakeEnvironment, InitResult]:
        env = FakeEnvironment(function_name, config_key, memory_mb, is_provisioned)
        env.retire_at_s = retire_at_s
        track(env)  # type: ignore[arg-type]
        return env, InitResult(is_ok=True, duration_ms=1.0, output_tail="")

    return start  # type: ignore[return-value]


def make_scheduler(clock: FakeClock, *, account: int = 10, memory_mb: int = 10_000,
                   keep_alive_s: float = 60.0) -> Scheduler:
    return Scheduler(Limits(account_concurrency=account, memory_budget_mb=memory_mb), keep_alive_s, clock=clock)


async def run_once(scheduler: Scheduler, name: str, key: str, memory_mb: int = 128,
                   retire_at_s: float | None = None) -> FakeEnvironment:
    """Acquire an environment (a new one retiring at `retire_at_s`), let its invocation end, and
    give it back idle."""
    env, _ = await scheduler.acquire(name, key, memory_mb, starter(name, key, memory_mb, retire_at_s=retire_at_s))
    env.state = EnvironmentState.IDLE
    await scheduler.release(env, key)
    return env  # type: ignore[return-value]


class TestAdmission:
    def test_the_account_limit_throttles_past_it_and_frees_on_release(self) -> None:
        async def scenario() -> None:
            scheduler = make_scheduler(FakeClock(), account=2)
            first, _ = await scheduler.acquire("a", "a1", 128, starter("a", "a1"))
            await scheduler.acquire("b", "b1", 128, starter("b", "b1"))
            with pytest.raises(TooManyRequestsException) as caught:
                await scheduler.acquire("a", "a1", 128, starter("a", "a1"))
            assert caught.value.fields["Reason"] == ACCOUNT_LIMIT_REASON
            assert scheduler.in_flight() == 2  # the refused one is not counted
            first.state = EnvironmentState.IDLE
            await scheduler.release(first, "a1")
            env, init = await scheduler.acquire("a", "a1", 128, starter("a", "a1"))
            assert env is first and init is None  # warm: reused, not started
            assert scheduler.in_flight("a") == 1

        asyncio.run(scenario())

    def test_reserved_concurrency_caps_its_function_and_is_kept_from_the_others(self) -> None:
        async def scenario() -> None:
            scheduler = make_scheduler(FakeClock(), account=3)
            scheduler.load_reserved({"r": 1})
            await scheduler.acquire("r", "r1", 128, starter("r", "r1"))
            with pytest.raises(TooManyRequestsException) as caught:
                await scheduler.acquire("r", "r1", 128, starter("r", "r1"))
            assert caught.value.fields["Reason"] == RESERVED_LIMIT_REASON
            await scheduler.acquire("o", "o1", 128, starter("o", "o1"))
            await scheduler.acquire("o", "o1", 128, starter("o", "o1"))
            with pytest.raises(TooManyRequestsException) as caught:  # 3 - 1 reserved: full
                await scheduler.acquire("o", "o1", 128, starter("o", "o1"))
            assert caught.value.fields["Reason"] == ACCOUNT_LIMIT_REASON

        asyncio.run(scenario())

    def test_a_full_memory_budget_evicts_the_longest_idle_else_throttles(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            scheduler = make_scheduler(clock, memory_mb=256)
            older = await run_once(scheduler, "a", "a1")
            clock.advance(5)
            newer = await run_once(scheduler, "b", "b1")
            await scheduler.acquire("c", "c1", 128, starter("c", "c1"))
            assert older.is_destroyed and not newer.is_destroyed
            await scheduler.acquire("d", "d1", 128, starter("d", "d1"))
            assert newer.is_destroyed
            with pytest.raises(TooManyRequestsException):  # both busy: nothing to evict
                await scheduler.acquire("e", "e1", 128, starter("e", "e1"))
            assert scheduler.memory_in_use_mb == 256

        asyncio.run(scenario())


class TestKeepAlive:
    def test_an_idle_environment_retires_once_idle_past_the_keep_alive(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            scheduler = make_scheduler(clock, keep_alive_s=60)
            env = await run_once(scheduler, "f", "f1")
            clock.advance(59)
            await scheduler.reap_expired()
            assert not env.is_destroyed and scheduler.environment_count == 1
            clock.advance(2)
            await scheduler.reap_expired()
            assert env.is_destroyed and scheduler.environment_count == 0

        asyncio.run(scenario())

    def test_each_use_restarts_the_keep_alive(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            scheduler = make_scheduler(clock, keep_alive_s=60)
            env = await run_once(scheduler, "f", "f1")
            clock.advance(50)
            assert await run_once(scheduler, "f", "f1") is env
            clock.advance(50)
            await scheduler.reap_expired()
            assert not env.is_destroyed

        asyncio.run(scenario())

    def test_provisioned_environments_never_expire(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            scheduler = make_scheduler(clock, keep_alive_s=60)
            await scheduler.start_spare(128, starter("p", "p1", is_provisioned=True))
            clock.advance(3600)
            await scheduler.reap_expired()
            assert scheduler.provisioned_count("p1") == 1

        asyncio.run(scenario())


class TestRetireBy:
    """An environment past its retire-by time (its credentials end soon after) takes no more
    invocations and retires once idle; one running an invocation is never cut."""

    def test_an_environment_is_reused_until_its_retire_by_time_then_replaced(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            scheduler = make_scheduler(clock, keep_alive_s=1e9)
            retire_at = clock.time_s() + 100
            first = await run_once(scheduler, "f", "f1", retire_at_s=retire_at)
            clock.advance(99)
            assert await run_once(scheduler, "f", "f1") is first
            clock.advance(1)
            second = await run_once(scheduler, "f", "f1", retire_at_s=clock.time_s() + 100)
            assert second is not first and first.is_destroyed
            assert scheduler.environment_count == 1

        asyncio.run(scenario())

    def test_the_reaper_retires_idle_environments_past_it_provisioned_ones_too(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            scheduler = make_scheduler(clock, keep_alive_s=1e9)
            retire_at = clock.time_s() + 3600
            on_demand = await run_once(scheduler, "f", "f1", retire_at_s=retire_at)
            await scheduler.start_spare(128, starter("p", "p1", is_provisioned=True, retire_at_s=retire_at))
            lasting = await run_once(scheduler, "g", "g1", retire_at_s=retire_at + 60)
            clock.advance(3599)
            await scheduler.reap_expired()
            assert scheduler.environment_count == 3
            clock.advance(1)
            await scheduler.reap_expired()
            assert on_demand.is_destroyed and scheduler.provisioned_count("p1") == 0
            assert not lasting.is_destroyed and scheduler.environment_count == 1

        asyncio.run(scenario())

    def test_a_busy_environment_finishes_its_invocation_then_retires(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            scheduler = make_scheduler(clock, keep_alive_s=1e9)
            env, _ = await scheduler.acquire("f", "f1", 128, starter("f", "f1", retire_at_s=clock.time_s() + 10))
            clock.advance(60)  # the invocation runs on past the retire-by time
            await scheduler.reap_expired()
            assert not env.is_destroyed and env.state is EnvironmentState.BUSY  # not cut
            env.state = EnvironmentState.IDLE
            await scheduler.release(env, "f1")
            assert env.is_destroyed and scheduler.environment_count == 0

        asyncio.run(scenario())

    def test_an_environment_without_one_lives_by_the_keep_alive_alone(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            scheduler = make_scheduler(clock, keep_alive_s=1e9)
            env = await run_once(scheduler, "f", "f1")
            clock.advance(30 * 86400)
            await scheduler.reap_expired()
            assert await run_once(scheduler, "f", "f1") is env

        asyncio.run(scenario())
