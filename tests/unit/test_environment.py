"""One Environment on a FakeClock, its runtime played by tests/unit/fake_runtime.py: init and run
durations, idle time, the stamps on its output, timeouts and exits, and keep-alive expiry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from ember.clock import FakeClock
from ember.invoke.environment import Environment, EnvironmentDestroyed, EnvironmentState, InitResult
from ember.invoke.error_types import ErrorType
from ember.invoke.scheduler import Limits, Scheduler
from ember.runtime_api.channel import OutcomeKind, PendingInvocation
from ember.sandbox import SandboxProcess, SandboxSpec
from tests.unit.fake_runtime import FakeRuntime, FakeSandbox, Script, hang

#: FakeClock's wall time starts at 1_700_000_000 s: this second, in UTC
START_STAMP = "2023-11-14T22:13:20Z"


def spec_for(tmp_path: Path) -> SandboxSpec:
    (tmp_path / "task").mkdir(exist_ok=True)
    (tmp_path / "work").mkdir(exist_ok=True)
    return SandboxSpec(environment_id="env-1", argv=["bootstrap"],
                       env={"AWS_LAMBDA_FUNCTION_NAME": "f", "AWS_LAMBDA_LOG_STREAM_NAME": "2023/11/14/[$LATEST]ab"},
                       task_dir=tmp_path / "task", runtime_dir=tmp_path, lang_dir=None, opt_dir=None,
                       work_dir=tmp_path / "work", memory_mb=128, tmp_size_mb=512)


def environment(tmp_path: Path, script: Script, sandbox: FakeSandbox,
                outside: list[tuple[int, str]] | None = None) -> Environment:
    def on_output(env: Environment, events: list[tuple[int, str]]) -> None:
        if outside is not None:
            outside.extend(events)

    return Environment("f", "$LATEST", "key-1", sandbox, spec_for(tmp_path), on_output=on_output,
                       clock=script.clock, runtime_api=script.runtime_api)


def invocation(request_id: str = "r1", payload: object = None) -> PendingInvocation:
    return PendingInvocation(request_id=request_id, payload=json.dumps(payload).encode(), deadline_ms=0,
                             invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:f")


def test_init_and_run_are_timed_by_the_clock_and_idle_time_starts_when_the_run_ends(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        script = Script(clock, init_s=0.25, init_output=b"importing\n", run_s=0.0425)
        outside: list[tuple[int, str]] = []
        env = environment(tmp_path, script, FakeSandbox(peak_memory_mb=77), outside)
        assert (env.started_at, env.idle_since) == (clock.time_s(), clock.monotonic())

        init = await env.start()
        assert init.is_ok and init.duration_ms == pytest.approx(250.0)
        assert env.state is EnvironmentState.IDLE
        # init output goes to the environment's log, stamped when read: after the init's 250 ms
        assert outside == [(clock.time_ms(), "importing\n")] and init.output_tail == "importing\n"

        clock.advance(5)  # idle between init and the first invocation
        log: list[tuple[int, str]] = []
        run = await env.run(invocation("r1", {"n": 1}), 3.0, log.extend)
        assert run.outcome.kind is OutcomeKind.RESPONSE and json.loads(run.outcome.body) == {"n": 1}
        assert run.duration_ms == pytest.approx(42.5)
        assert (run.max_memory_mb, run.is_environment_lost) == (77, False)
        assert log == [(clock.time_ms(), "handling {'n': 1}\n")]  # the invocation's own output, its own stamp
        assert env.state is EnvironmentState.IDLE and env.idle_since == clock.monotonic()
        assert env.invocation_count == 1
        await env.destroy()

    asyncio.run(scenario())


def test_a_timeout_kills_the_environment_and_logs_the_timeout_at_the_clocks_time(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        sandbox = FakeSandbox()
        env = environment(tmp_path, Script(clock, handle=hang), sandbox)
        await env.start()
        log: list[tuple[int, str]] = []
        run = await env.run(invocation("r1"), 0.05, log.extend)
        assert run.is_environment_lost and run.outcome.error_type == ErrorType.TIMED_OUT
        assert json.loads(run.outcome.body) == {
            "errorType": "Sandbox.Timedout", "errorMessage": "RequestId: r1 Error: Task timed out after 0.05 seconds"}
        assert log == [(clock.time_ms(), "working...\n"),
                       (clock.time_ms(), f"{START_STAMP} r1 Task timed out after 0.05 seconds\n")]
        assert env.state is EnvironmentState.DEAD and sandbox.processes[0].is_killed
        assert env.peak_memory_mb() == 0  # destroyed: nothing is held any more

    asyncio.run(scenario())


def test_a_runtime_that_exits_during_an_invocation_ends_it_with_an_exit_error(tmp_path: Path) -> None:
    async def crash(runtime: FakeRuntime, pending: PendingInvocation) -> None:
        runtime.print(b"about to fail\n")
        assert runtime.process is not None
        runtime.process.exit(3)

    async def scenario() -> None:
        clock = FakeClock()
        env = environment(tmp_path, Script(clock, handle=crash), FakeSandbox())
        await env.start()
        log: list[tuple[int, str]] = []
        run = await env.run(invocation("r2"), 3.0, log.extend)
        assert run.is_environment_lost and run.outcome.error_type == ErrorType.EXIT_ERROR
        assert json.loads(run.outcome.body)["errorMessage"] == (
            "RequestId: r2 Error: Runtime exited with error: exit status 3")
        assert [message for _, message in log] == ["about to fail\n"]
        assert env.state is EnvironmentState.DEAD

    asyncio.run(scenario())


def test_an_environment_that_was_never_started_cannot_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        env = environment(tmp_path, Script(FakeClock()), FakeSandbox())
        with pytest.raises(RuntimeError, match="has not been started"):
            await env.run(invocation(), 1.0, lambda events: None)
        await env.destroy()  # destroying one that never started is fine
        assert env.state is EnvironmentState.DEAD

    asyncio.run(scenario())


def test_an_idle_environment_is_retired_once_idle_past_the_keep_alive_on_the_clock(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        sandbox = FakeSandbox()
        script = Script(clock, run_s=0.01)
        scheduler = Scheduler(Limits(account_concurrency=10, memory_budget_mb=10_000), keep_alive_s=60, clock=clock)

        async def start(track: Callable[[Environment], None]) -> tuple[Environment, InitResult]:
            env = environment(tmp_path, script, sandbox)
            track(env)
            return env, await env.start()

        env, init = await scheduler.acquire("f", "key-1", 128, start)
        assert init is not None and init.is_ok
        await env.run(invocation(), 3.0, lambda events: None)
        await scheduler.release(env, "key-1")
        clock.advance(60)
        await scheduler.reap_expired()
        assert scheduler.environment_count == 1 and not sandbox.processes[0].is_killed  # idle exactly 60 s
        again, _ = await scheduler.acquire("f", "key-1", 128, start)
        assert again is env  # warm: taking it resets its idle time
        await env.run(invocation(), 3.0, lambda events: None)
        await scheduler.release(env, "key-1")
        clock.advance(60.001)
        await scheduler.reap_expired()
        assert scheduler.environment_count == 0 and sandbox.processes[0].is_killed
        assert env.state is EnvironmentState.DEAD

    asyncio.run(scenario())


def test_an_environment_destroyed_while_it_starts_is_stopped_when_its_start_ends(tmp_path: Path) -> None:
    # A shutdown can destroy an environment whose sandbox is still starting: nothing to stop yet,
    # so the start itself must stop it, or its process would outlive the server.
    class SlowSandbox(FakeSandbox):
        def __init__(self) -> None:
            super().__init__()
            self.release = asyncio.Event()

        async def start(self, spec: SandboxSpec) -> SandboxProcess:
            await self.release.wait()
            return await super().start(spec)

    async def scenario() -> None:
        sandbox = SlowSandbox()
        env = environment(tmp_path, Script(FakeClock()), sandbox)
        starting = asyncio.create_task(env.start())
        await asyncio.sleep(0)
        await env.destroy()  # nothing started yet
        sandbox.release.set()
        with pytest.raises(EnvironmentDestroyed):
            await starting
        assert [process.is_killed for process in sandbox.processes] == [True]
        assert env.state is EnvironmentState.DEAD

    asyncio.run(scenario())
