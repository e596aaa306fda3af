"""Provisioned concurrency on a FakeClock: environments initialised ahead (IN_PROGRESS, then
READY), taken first by invocations, replaced when lost, never expired while provisioned. A real
Provisioner, Invoker, Scheduler and Environments; the runtime is played by
tests/unit/fake_runtime.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ember.feed.base import ProvisionedConcurrencyChanged
from ember.invoke.provisioning import Provisioner, ProvisioningStatus
from ember.models import FunctionConfig
from tests.unit.fake_runtime import Harness, harness


async def until(condition: Callable[[], bool], turns: int = 20) -> None:
    """Let the loop turn until `condition` holds (an exit reaches its environment in a few turns)."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def provisioner_for(h: Harness) -> tuple[Provisioner, FunctionConfig]:
    version = replace(h.function, version="1")

    async def resolve(function_name: str, qualifier: str) -> FunctionConfig | None:
        return version if (function_name, qualifier) == ("f", "live") else None

    return Provisioner(h.invoker, h.invoker.scheduler, resolve, h.clock), version


def test_provisioned_environments_are_in_progress_then_ready_and_taken_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = harness(tmp_path, init_s=0.5)
        provisioner, version = provisioner_for(h)
        await provisioner.apply(ProvisionedConcurrencyChanged("f", "live", 2))
        target = provisioner.get("f", "live")
        assert target is not None and target.status is ProvisioningStatus.IN_PROGRESS
        assert target.task is not None
        await target.task
        assert target.status is ProvisioningStatus.READY and provisioner.available(target) == 2
        assert [p.spec.env["AWS_LAMBDA_INITIALIZATION_TYPE"] for p in h.sandbox.processes] == [
            "provisioned-concurrency"] * 2
        # An invocation of that version takes an initialised environment: no init in its REPORT.
        h.function = version
        _, report = await h.invoke("r1")
        assert "Init Duration" not in report and len(h.sandbox.processes) == 2
        await provisioner.shutdown()
        await h.close()

    asyncio.run(scenario())


def test_a_lost_environment_is_replaced_and_the_target_stays_ready(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = harness(tmp_path)
        provisioner, version = provisioner_for(h)
        target = provisioner.set("f", "live", version, 2)
        assert target.task is not None
        await target.task
        provisioner.replace_lost()
        assert target.task.done()  # nothing lost: nothing started
        h.sandbox.processes[0].exit(137)  # one dies while idle (killed from outside)
        await until(lambda: h.invoker.scheduler.provisioned_count(target.config_key) == 1)
        provisioner.replace_lost()
        await target.task
        assert target.status is ProvisioningStatus.READY and provisioner.available(target) == 2
        assert len(h.sandbox.processes) == 3
        await provisioner.shutdown()
        await h.close()

    asyncio.run(scenario())


def test_provisioned_environments_never_expire_until_unprovisioned(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = harness(tmp_path)
        scheduler = h.invoker.scheduler
        provisioner, version = provisioner_for(h)
        target = provisioner.set("f", "live", version, 2)
        assert target.task is not None
        await target.task
        h.clock.advance(3600)  # an hour idle: far past the 60 s keep-alive
        await scheduler.reap_expired()
        assert scheduler.provisioned_count(target.config_key) == 2
        assert not any(p.is_killed for p in h.sandbox.processes)
        await provisioner.remove("f", "live")  # now they retire like any other idle environment
        await scheduler.reap_expired()
        assert scheduler.environment_count == 0 and all(p.is_killed for p in h.sandbox.processes)
        await h.close()

    asyncio.run(scenario())


def test_an_init_that_fails_marks_the_target_failed_with_the_reason(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = harness(tmp_path, init_exit_code=2)
        provisioner, version = provisioner_for(h)
        target = provisioner.set("f", "live", version, 3)
        assert target.task is not None
        await target.task
        assert target.status is ProvisioningStatus.FAILED
        assert target.reason == "Runtime.ExitError: Runtime exited with error: exit status 2"
        assert len(h.sandbox.processes) == 1  # it stops at the first failure
        await provisioner.shutdown()
        await h.close()

    asyncio.run(scenario())
