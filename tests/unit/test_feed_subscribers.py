"""The scheduler, provisioner and dispatcher follow the change feed (and start from the store)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ember.errors import TooManyRequestsException
from ember.feed import open_change_feed
from ember.feed.base import (
    AliasChanged,
    ConcurrencyChanged,
    FunctionChanged,
    FunctionDeleted,
    ProvisionedConcurrencyChanged,
)
from ember.invoke.dispatcher import AsyncDispatcher, DispatchPolicy
from ember.invoke.provisioning import Provisioner
from ember.invoke.scheduler import Limits, Scheduler
from ember.models import FunctionCode, FunctionConfig


def function(name: str = "f", version: str = "1") -> FunctionConfig:
    code = FunctionCode("0" * 64, "b64", 10, 10)
    return FunctionConfig(name=name, runtime="python3.12", handler="app.handler", role="role", code=code,
                          version=version)


def scheduler_with_retirements() -> tuple[Scheduler, list[tuple[str, str | None]]]:
    scheduler = Scheduler(Limits(account_concurrency=10, memory_budget_mb=10_000), keep_alive_s=60)
    retired: list[tuple[str, str | None]] = []

    async def retire_function(function_name: str, version: str | None = None) -> None:
        retired.append((function_name, version))

    scheduler.retire_function = retire_function  # type: ignore[method-assign]
    return scheduler, retired


class TestScheduler:
    def test_reserved_concurrency_starts_from_the_store_and_follows_the_feed(self) -> None:
        async def scenario() -> None:
            scheduler, _ = scheduler_with_retirements()
            scheduler.load_reserved({"a": 3})
            assert scheduler.unreserved_limit == 7
            feed = open_change_feed("memory")
            feed.subscribe(scheduler.on_change)
            await feed.publish(ConcurrencyChanged("b", 0))
            assert scheduler.unreserved_limit == 7
            with pytest.raises(TooManyRequestsException):
                scheduler._admit("b")  # reserved 0: stopped
            await feed.publish(ConcurrencyChanged("a", None))
            assert scheduler.unreserved_limit == 10
            await feed.publish(ConcurrencyChanged("b", 2))
            scheduler._admit("b")
            scheduler._admit("b")
            with pytest.raises(TooManyRequestsException):
                scheduler._admit("b")

        asyncio.run(scenario())

    def test_changed_and_deleted_functions_retire_their_idle_environments(self) -> None:
        async def scenario() -> None:
            scheduler, retired = scheduler_with_retirements()
            scheduler.load_reserved({"f": 4})
            for change in (FunctionChanged("f"), FunctionDeleted("f", "2"), AliasChanged("f", "live")):
                await scheduler.on_change(change)
            assert retired == [("f", "$LATEST"), ("f", "2")]
            assert scheduler.unreserved_limit == 6  # deleting a version keeps the function's reservation
            await scheduler.on_change(FunctionDeleted("f"))
            assert retired[-1] == ("f", None) and scheduler.unreserved_limit == 10

        asyncio.run(scenario())


class FakeScheduler:
    def __init__(self) -> None:
        self.unprovisioned: list[str] = []

    def provisioned_count(self, config_key: str) -> int:
        return 0

    async def unprovision(self, config_key: str) -> None:
        self.unprovisioned.append(config_key)


class BlockedInvoker:
    """Provisioning never finishes: the target stays IN_PROGRESS."""

    async def provision(self, function: FunctionConfig) -> Any:
        await asyncio.Event().wait()


class TestProvisioner:
    def test_it_follows_provisioned_configurations_from_the_feed(self) -> None:
        async def scenario() -> None:
            versions = {("f", "live"): function("f", "1"), ("f", "2"): function("f", "2")}
            resolved: list[tuple[str, str]] = []

            async def resolve(name: str, qualifier: str) -> FunctionConfig | None:
                resolved.append((name, qualifier))
                return versions.get((name, qualifier))

            scheduler = FakeScheduler()
            provisioner = Provisioner(BlockedInvoker(), scheduler, resolve)  # type: ignore[arg-type]
            feed = open_change_feed("memory")
            feed.subscribe(provisioner.on_change)
            await feed.publish(ProvisionedConcurrencyChanged("f", "live", 2))
            await feed.publish(ProvisionedConcurrencyChanged("f", "2", 1))
            await feed.publish(ProvisionedConcurrencyChanged("f", "gone", 1))  # its alias was deleted meanwhile
            live = provisioner.get("f", "live")
            assert live is not None and live.requested == 2 and live.function.version == "1"
            assert live.status.value == "IN_PROGRESS"
            assert provisioner.get("f", "gone") is None and ("f", "gone") in resolved

            await feed.publish(ProvisionedConcurrencyChanged("f", "live", None))
            assert provisioner.get("f", "live") is None and len(scheduler.unprovisioned) == 1
            await feed.publish(FunctionDeleted("f", "2"))
            assert provisioner.get("f", "2") is None and len(scheduler.unprovisioned) == 2

            await feed.publish(ProvisionedConcurrencyChanged("f", "live", 1))
            await feed.publish(FunctionDeleted("f"))  # every qualifier of it
            assert provisioner.get("f", "live") is None
            await provisioner.shutdown()

        asyncio.run(scenario())


class FakeInvoker:
    def __init__(self) -> None:
        self.scheduler = Scheduler(Limits(account_concurrency=10, memory_budget_mb=10_000), keep_alive_s=60)


def dispatcher() -> AsyncDispatcher:
    policy = DispatchPolicy(concurrency=4, retry_delays_s=(60.0, 120.0), throttle_backoff_s=(1.0, 300.0))
    return AsyncDispatcher(None, FakeInvoker(), policy, None)  # type: ignore[arg-type]


class TestDispatcher:
    def test_room_starts_from_the_store_and_follows_the_feed(self) -> None:
        async def scenario() -> None:
            subject = dispatcher()
            subject.load_reserved({"a": 3})
            assert subject._room() == {"a": 3}
            feed = open_change_feed("memory")
            feed.subscribe(subject.on_change)
            await feed.publish(ConcurrencyChanged("b", 5))
            assert subject._room() == {"a": 3, "b": 5}
            await feed.publish(ConcurrencyChanged("a", None))
            assert subject._room() == {"b": 5}
            await feed.publish(ConcurrencyChanged("b", 0))  # claimed, to be discarded at once
            assert subject._room() == {}

        asyncio.run(scenario())

    def test_a_deleted_function_takes_its_throttle_history_with_it(self) -> None:
        async def scenario() -> None:
            subject = dispatcher()
            subject.load_reserved({"f": 4})
            subject._caps["f"] = 2
            await subject.on_change(FunctionDeleted("f", "3"))  # a version: the function stays
            assert subject._room() == {"f": 2}
            await subject.on_change(FunctionDeleted("f"))
            assert subject._room() == {}

        asyncio.run(scenario())
