"""The dispatcher's handling of one event: backoff, event age and retries, on a fake clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import pytest

from ember.clock import FakeClock
from ember.errors import TooManyRequestsException
from ember.invoke.async_queue import Deferral, NewEvent, QueuedEvent
from ember.invoke.dispatcher import AsyncDispatcher, AsyncTarget, DispatchPolicy
from ember.invoke.invoker import InvokeRequest, InvokeResult
from ember.invoke.scheduler import Limits, Scheduler
from ember.models import EventInvokeConfig, FunctionCode, FunctionConfig

HOUR_MS = 3_600_000
DLQ_ARN = "arn:aws:lambda:us-east-1:123456789012:function:dlq"


class RecordingQueue:
    """Only what `_run` calls: what became of each event."""

    def __init__(self) -> None:
        self.finished: list[tuple[int, list[NewEvent]]] = []
        self.deferred: list[tuple[int, Deferral]] = []

    async def finish(self, event_id: int, follow_ups: Sequence[NewEvent] = ()) -> None:
        self.finished.append((event_id, list(follow_ups)))

    async def defer(self, event_id: int, deferral: Deferral) -> None:
        self.deferred.append((event_id, deferral))


class FakeTelemetry:
    async def logs_committed(self) -> None:
        pass


class ScriptedInvoker:
    """Throttles, fails or succeeds as told; runs nothing."""

    def __init__(self, clock: FakeClock, outcome: str) -> None:
        self.scheduler = Scheduler(Limits(account_concurrency=10, memory_budget_mb=10_000), 60, clock=clock)
        self.telemetry = FakeTelemetry()
        self.outcome = outcome
        self.calls = 0

    async def invoke(self, function: FunctionConfig, request: InvokeRequest) -> InvokeResult:
        self.calls += 1
        if self.outcome == "throttle":
            raise TooManyRequestsException("Rate Exceeded.")
        return InvokeResult(b"{}", "Unhandled" if self.outcome == "fail" else None, "", "$LATEST")


def target(config: EventInvokeConfig | None = None) -> AsyncTarget:
    code = FunctionCode("0" * 64, "b64", 10, 10)
    function = FunctionConfig(name="f", runtime="python3.12", handler="app.handler", role="role", code=code)
    return AsyncTarget(function, None, config, "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST")


def event(enqueued_at_ms: int, *, attempts: int = 0, throttles: int = 0) -> QueuedEvent:
    return QueuedEvent(7, "req-1", "f", None, b"{}", None, enqueued_at_ms, attempts, throttles, None)


def dispatcher(clock: FakeClock, outcome: str, config: EventInvokeConfig | None = None
               ) -> tuple[AsyncDispatcher, RecordingQueue, ScriptedInvoker]:
    queue, invoker = RecordingQueue(), ScriptedInvoker(clock, outcome)

    async def resolve(name: str, qualifier: str | None) -> AsyncTarget:
        return target(config)

    policy = DispatchPolicy(concurrency=4, retry_delays_s=(60.0, 120.0), throttle_backoff_s=(1.0, 300.0))
    subject = AsyncDispatcher(queue, invoker, policy, resolve, clock=clock)  # type: ignore[arg-type]
    return subject, queue, invoker


class TestThrottleBackoff:
    def test_the_backoff_doubles_from_the_first_delay_up_to_the_max(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            delays_ms = []
            for throttles in (0, 1, 2, 3, 8, 9, 20):
                subject, queue, _ = dispatcher(clock, "throttle")
                await subject._run(event(clock.time_ms(), throttles=throttles))
                (_, deferral), = queue.deferred
                assert deferral.throttles == throttles + 1 and deferral.attempts == 0  # not an attempt
                delays_ms.append(deferral.visible_at_ms - clock.time_ms())
            assert delays_ms == [1000, 2000, 4000, 8000, 256_000, 300_000, 300_000]

        asyncio.run(scenario())

    def test_the_function_gets_no_room_until_its_backoff_ends(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            subject, _, _ = dispatcher(clock, "throttle")
            await subject._run(event(clock.time_ms(), throttles=1))  # backs off 2 s
            assert subject._room() == {"f": 0}
            clock.advance(1.9)
            assert subject._room() == {"f": 0}
            assert subject._idle_timeout_s(None) == pytest.approx(0.1)  # the loop wakes when it ends
            clock.advance(0.1)
            assert subject._room() == {}

        asyncio.run(scenario())

    def test_a_backoff_never_outlasts_the_event_age(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            subject, queue, _ = dispatcher(clock, "throttle", EventInvokeConfig("f", "$LATEST", max_event_age_s=60))
            enqueued_ms = clock.time_ms() - 59_500
            await subject._run(event(enqueued_ms, throttles=5))  # would wait 32 s
            (_, deferral), = queue.deferred
            assert deferral.visible_at_ms == deferral.expires_at_ms == enqueued_ms + 60_000

        asyncio.run(scenario())


class TestEventAge:
    def test_an_event_past_the_default_six_hours_is_discarded_without_running(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            subject, queue, invoker = dispatcher(clock, "succeed")
            await subject._run(event(clock.time_ms() - 6 * HOUR_MS))
            assert queue.finished == [(7, [])] and invoker.calls == 0

        asyncio.run(scenario())

    def test_the_configured_age_applies_and_the_record_goes_to_the_failure_destination(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            config = EventInvokeConfig("f", "$LATEST", max_event_age_s=60, on_failure_arn=DLQ_ARN)
            subject, queue, invoker = dispatcher(clock, "succeed", config)
            await subject._run(event(clock.time_ms() - 59_999))
            assert invoker.calls == 1 and queue.finished == [(7, [])]  # still young: ran, succeeded
            clock.advance(0.001)
            await subject._run(event(clock.time_ms() - 60_000))
            assert invoker.calls == 1
            (_, [record]), = queue.finished[1:]
            assert record.function_name == "dlq"
            assert json.loads(record.payload)["requestContext"]["condition"] == "EventAgeExceeded"

        asyncio.run(scenario())


class TestRetries:
    def test_a_failed_event_is_retried_after_the_policy_delay_counted_from_the_failure(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            subject, queue, _ = dispatcher(clock, "fail")
            await subject._run(event(clock.time_ms()))
            await subject._run(event(clock.time_ms(), attempts=1))
            (_, first), (_, second) = queue.deferred
            assert (first.attempts, first.visible_at_ms - clock.time_ms()) == (1, 60_000)
            assert (second.attempts, second.visible_at_ms - clock.time_ms()) == (2, 120_000)
            await subject._run(event(clock.time_ms(), attempts=2))  # the default 2 retries are spent
            assert queue.finished == [(7, [])]

        asyncio.run(scenario())


class TestRoomAfterThrottles:
    def test_a_throttle_while_its_own_run_caps_its_room_without_backoff_until_a_round_succeeds(self) -> None:
        async def scenario() -> None:
            clock = FakeClock()
            subject, queue, invoker = dispatcher(clock, "throttle")
            invoker.scheduler._admit("f")
            invoker.scheduler._admit("f")  # two of its invocations run (synchronous ones, say)
            await subject._run(event(clock.time_ms(), throttles=3))
            (_, deferral), = queue.deferred
            assert deferral.visible_at_ms == clock.time_ms() and deferral.throttles == 3  # back in line at once
            assert subject._room() == {"f": 0}
            invoker.scheduler._leave("f")
            invoker.scheduler._leave("f")
            assert subject._room() == {"f": 2}
            invoker.outcome = "succeed"
            await subject._run(event(clock.time_ms()))
            assert subject._room() == {"f": 2}
            await subject._run(event(clock.time_ms()))  # a round of 2 successes: one more
            assert subject._room() == {"f": 3}

        asyncio.run(scenario())
