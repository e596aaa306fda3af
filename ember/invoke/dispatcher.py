"""The async dispatcher: runs queued Event invocations, retries them, and sends their records on.

For each claimed event, as Lambda does:
- too old (MaximumEventAgeInSeconds) → discarded with condition EventAgeExceeded;
- the function's reserved concurrency is 0 → discarded at once, without retries;
- run through `Invoker.invoke`, the sync path, so reserved and account concurrency apply;
  - throttled (429) → back in line after a backoff doubling from 1 s to 5 minutes, not counted
    as an attempt, until it is too old;
  - the function failed (FunctionError, timeouts included) → retried after 1, then 2 minutes,
    up to MaximumRetryAttempts, then discarded with condition RetriesExhausted;
  - success → done.
Done and discarded events send an invocation record to the OnSuccess/OnFailure destination
function, enqueued in the same transaction that removes the event.

Concurrency: at most `DispatchPolicy.concurrency` events run at once, and a function is
not handed more than it has room for: its reserved concurrency, or — once it throttled
while running others — what it was running then (probing one more after each round of that
many successes), minus what it runs now, synchronous invokes included. A 429 that room
tracking did not foresee puts the event back in line at once, unpenalised; only when none of
the function's invocations is running (the account limit is spent elsewhere) does the
event back off. So a backlog never turns into a storm of 429s and doubling backoffs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ember.arns import parse_function_ref
from ember.clock import Clock, SystemClock
from ember.errors import EmberError, ResourceNotFoundException, TooManyRequestsException
from ember.feed.base import Change, ConcurrencyChanged, FunctionDeleted
from ember.invoke import lineage
from ember.invoke.async_queue import AsyncQueue, Deferral, LastRun, NewEvent, QueuedEvent
from ember.invoke.async_records import Condition, invocation_record
from ember.invoke.invoker import Invoker, InvokeRequest
from ember.models import DEFAULT_MAX_EVENT_AGE_S, DEFAULT_MAX_RETRY_ATTEMPTS, EventInvokeConfig, FunctionConfig

log = logging.getLogger(__name__)

#: a claim outlives the longest invocation (900 s timeout, plus init and margin)
LEASE_S = 960.0
#: the longest the dispatcher sleeps without looking at the queue (a safety net; puts wake it)
IDLE_S = 30.0
#: how soon it looks again when a function's room is taken by invocations it does not run
RECHECK_S = 0.25
#: Lambda's limit on an Event invocation's payload, which a record to a destination function is
MAX_RECORD_BYTES = 1_048_576


@dataclass(frozen=True)
class AsyncTarget:
    """What an Event invocation of a function (and qualifier) runs, and how it is handled."""

    function: FunctionConfig  #: the configuration to run: the version an alias picked, or $LATEST
    reserved_concurrency: int | None
    config: EventInvokeConfig | None  #: the qualifier's event invoke config, if any
    function_arn: str  #: qualified, as records name it (`...:function:NAME:$LATEST`)
    recursive_loop: str = "Terminate"  #: the function's PutFunctionRecursionConfig setting


@dataclass(frozen=True)
class DispatchPolicy:
    """What the dispatcher is told of the settings (server.py builds it)."""

    concurrency: int  #: Event invocations run at once across all functions; 0 pauses dispatch
    retry_delays_s: tuple[float, ...]  #: wait before each retry of a failed event (the last repeats)
    throttle_backoff_s: tuple[float, ...]  #: a throttled event waits FIRST, doubling up to MAX


#: (function name, qualifier or None) → its AsyncTarget; raises ResourceNotFoundException when gone
TargetResolver = Callable[[str, str | None], Awaitable[AsyncTarget]]


class AsyncDispatcher:
    def __init__(self, queue: AsyncQueue, invoker: Invoker, policy: DispatchPolicy, resolve: TargetResolver,
                 clock: Clock | None = None) -> None:
        self.queue = queue
        self.clock = clock or SystemClock()
        self.invoker = invoker
        self.policy = policy
        self.resolve = resolve
        self._running: dict[int, asyncio.Task[None]] = {}  # event id → its task
        self._in_flight: Counter[str] = Counter()  # function name → events this dispatcher is running
        #: function name → its reserved concurrency: the store's, loaded at start (`load_reserved`),
        #: kept by the change feed (`on_change`) and by each event's target
        self._reserved: dict[str, int] = {}
        self._caps: dict[str, int] = {}  # function name → invocations it ran at once when it last throttled
        self._successes: Counter[str] = Counter()  # function name → successes since its cap last changed
        self._blocked_until: dict[str, float] = {}  # function name → monotonic time its throttle backoff ends
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self.is_claiming = False

    def start(self) -> None:
        if self.policy.concurrency == 0:
            log.warning("async dispatch is paused (EMBER_ASYNC_CONCURRENCY=0): Event invocations are queued, "
                        "not run")
            return
        self.is_claiming = True
        self._loop_task = asyncio.create_task(self._dispatch_forever())

    def load_reserved(self, reserved: dict[str, int]) -> None:
        """Start from the store's reserved concurrency (function name → reserved)."""
        self._reserved = dict(reserved)

    async def on_change(self, change: Change) -> None:
        """The change feed's subscriber: claims follow a new reservation at once, and a deleted
        function's throttle history goes with it."""
        if isinstance(change, ConcurrencyChanged):
            if change.reserved is None:
                self._reserved.pop(change.function_name, None)
            else:
                self._reserved[change.function_name] = change.reserved
            self._wake.set()  # room may have grown
        elif isinstance(change, FunctionDeleted) and change.version is None:
            name = change.function_name
            for cache in (self._reserved, self._caps, self._successes, self._blocked_until):
                cache.pop(name, None)

    # Shutdown ------------------------------------------------------------------------

    def stop_claiming(self) -> None:
        """Shutdown step 1: run nothing new; events already running go on."""
        self.is_claiming = False
        self._wake.set()

    async def wait_idle(self, timeout_s: float) -> None:
        """Let running events finish for up to `timeout_s` (the shutdown grace)."""
        if self._running and timeout_s > 0:
            await asyncio.wait(list(self._running.values()), timeout=timeout_s)

    async def shutdown(self) -> None:
        """After environments are killed: end the loop, and put events still running back in line."""
        self.stop_claiming()
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        # Their environments are gone, so these end quickly (released as interrupted).
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=5.0)
        leftover = list(self._running)
        for task in self._running.values():
            task.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        await self.queue.release(leftover)

    # The loop ------------------------------------------------------------------------

    async def _dispatch_forever(self) -> None:
        while self.is_claiming:
            capacity = self.policy.concurrency - len(self._running)
            if capacity <= 0:
                await self._sleep(IDLE_S, wait_for_put=False)
                continue
            try:
                claim = await self.queue.claim(capacity, LEASE_S, room=self._room())
            except Exception:
                log.exception("could not claim queued Event invocations; trying again shortly")
                await self.clock.sleep(1.0)
                continue
            if not self.is_claiming:  # stopped while claiming: these wait for the next start
                await self.queue.release([event.event_id for event in claim.events])
                return
            for event in claim.events:
                self._start(event)
            if claim.events:
                continue
            await self._sleep(self._idle_timeout_s(claim.next_visible_at_ms), wait_for_put=True)

    def _room(self) -> dict[str, int]:
        """How many more events each limited function may be handed now (0 while its backoff lasts)."""
        now = self.clock.monotonic()
        for name in [name for name, until in self._blocked_until.items() if until <= now]:
            del self._blocked_until[name]
        room: dict[str, int] = {}
        for name in self._reserved.keys() | self._caps.keys():
            limits = [max(cap, 1) for cap in (self._caps.get(name),) if cap is not None]
            reserved = self._reserved.get(name)
            if reserved:  # 0 is left out: its events are claimed, to be discarded at once
                limits.append(reserved)
            if not limits:
                continue
            # The scheduler counts synchronous invokes too; ours count from their claim.
            busy = max(self._in_flight[name], self.invoker.scheduler.in_flight(name))
            room[name] = max(0, min(limits) - busy)
        room.update((name, 0) for name in self._blocked_until)
        return room

    def _is_waiting_on_others(self) -> bool:
        """A function has no room only because of invocations this dispatcher does not run (sync
        invokes): their end wakes nothing here, so the loop looks again soon."""
        return any(self._in_flight[name] == 0 and name not in self._blocked_until
                   for name, free in self._room().items() if free == 0)

    def _idle_timeout_s(self, next_visible_at_ms: int | None) -> float:
        timeout_s = RECHECK_S if self._is_waiting_on_others() else IDLE_S
        if next_visible_at_ms is not None:
            timeout_s = min(timeout_s, max(0.0, next_visible_at_ms / 1000 - self.clock.time_s()))
        if self._blocked_until:
            timeout_s = min(timeout_s, max(0.0, min(self._blocked_until.values()) - self.clock.monotonic()))
        return timeout_s

    async def _sleep(self, timeout_s: float, *, wait_for_put: bool) -> None:
        """Until a put (if `wait_for_put`), a finished event, a stop, or `timeout_s`."""
        waiters: set[asyncio.Future[object]] = {asyncio.ensure_future(self._wake.wait())}
        if wait_for_put:
            waiters.add(asyncio.ensure_future(self.queue.wait_for_put(timeout_s)))
        try:
            await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            self._wake.clear()

    def _start(self, event: QueuedEvent) -> None:
        self._in_flight[event.function_name] += 1
        task = asyncio.create_task(self._handle(event))
        self._running[event.event_id] = task

        def done(_: asyncio.Task[None]) -> None:
            self._running.pop(event.event_id, None)
            self._in_flight[event.function_name] -= 1
            if self._in_flight[event.function_name] <= 0:
                del self._in_flight[event.function_name]
            self._wake.set()

        task.add_done_callback(done)

    # One event -----------------------------------------------------------------------

    async def _handle(self, event: QueuedEvent) -> None:
        try:
            await self._run(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Event invocation %s of %s could not be handled", event.request_id, event.function_name)
            try:
                # Backed off, not released: a fault that repeats must not spin. It expires in time.
                await self._back_off(event, event.enqueued_at_ms + DEFAULT_MAX_EVENT_AGE_S * 1000)
            except Exception:
                # The queue itself is failing: the event stays claimed, and runs again when its
                # lease ends or the server restarts.
                log.exception("could not put Event invocation %s back in line", event.request_id)

    async def _run(self, event: QueuedEvent) -> None:
        try:
            target = await self.resolve(event.function_name, event.qualifier)
        except ResourceNotFoundException:
            log.warning("dropping Event invocation %s: function %s%s no longer exists", event.request_id,
                        event.function_name, f":{event.qualifier}" if event.qualifier else "")
            await self.queue.finish(event.event_id)
            return
        now_ms = self.clock.time_ms()
        max_age_s = target.config.effective_max_age_s if target.config else DEFAULT_MAX_EVENT_AGE_S
        expires_at_ms = event.enqueued_at_ms + max_age_s * 1000
        if now_ms >= expires_at_ms:
            await self._discard(event, target, Condition.EVENT_AGE_EXCEEDED, event.last_run, event.attempts)
            return
        if target.reserved_concurrency is None:
            self._reserved.pop(event.function_name, None)
        else:
            self._reserved[event.function_name] = target.reserved_concurrency  # claims respect it from now
        if target.reserved_concurrency == 0:
            # Lambda: with reserved concurrency 0, new events go to the failure destination, no retries.
            await self._discard(event, target, Condition.RETRIES_EXHAUSTED, event.last_run, event.attempts)
            return
        if (target.recursive_loop == "Terminate" and event.trace_id
                and lineage.is_too_deep(event.trace_id, event.function_name)):
            # Lambda drops it, to the dead-letter queue or on-failure destination if there is one.
            log.warning("dropping Event invocation %s of %s: %s", event.request_id, event.function_name,
                        lineage.RECURSIVE_INVOCATION_MESSAGE)
            await self._discard(event, target, Condition.RETRIES_EXHAUSTED, event.last_run, event.attempts)
            return
        request = InvokeRequest(payload=event.payload, request_id=event.request_id, trace_id=event.trace_id,
                                qualifier=event.qualifier)
        try:
            result = await self.invoker.invoke(target.function, request)
        except TooManyRequestsException:
            await self._throttled(event, expires_at_ms)
            return
        except EmberError as exc:
            if not self.is_claiming:  # the server is stopping: not the function's fault, run it again later
                await self.queue.release([event.event_id])
                return
            # A system error: as for throttles, Lambda puts the event back and tries again later.
            log.warning("Event invocation %s of %s could not run (%s); trying again later", event.request_id,
                        event.function_name, exc.message)
            await self._back_off(event, expires_at_ms)
            return
        # Its log is stored before the event leaves the queue: a crash from here on runs it again
        # rather than leave a run with no trace.
        await self.invoker.telemetry.logs_committed()
        self._admitted(event.function_name)
        attempts = event.attempts + 1
        last_run = LastRun(result.payload, result.function_error, result.executed_version)
        if not result.function_error:
            on_success = target.config.on_success_arn if target.config else None
            await self.queue.finish(event.event_id, self._deliveries(
                on_success, event, Condition.SUCCESS, target, last_run, attempts))
            return
        allowed = target.config.effective_retry_attempts if target.config else DEFAULT_MAX_RETRY_ATTEMPTS
        if attempts <= allowed:
            delays = self.policy.retry_delays_s
            delay_ms = int(delays[min(attempts, len(delays)) - 1] * 1000)
            retry_at_ms = self.clock.time_ms() + delay_ms  # counted from the failure, not the start
            await self.queue.defer(event.event_id, Deferral(min(retry_at_ms, expires_at_ms), attempts, 0,
                                                            expires_at_ms, last_run))
            return
        await self._discard(event, target, Condition.RETRIES_EXHAUSTED, last_run, attempts)

    async def _throttled(self, event: QueuedEvent, expires_at_ms: int) -> None:
        name = event.function_name
        running = self.invoker.scheduler.in_flight(name)
        if running == 0:  # none of its own will end to make room: the account limit is spent elsewhere
            await self._back_off(event, expires_at_ms)
            return
        # It is at its limit: it runs no more than this at once until a round of successes says otherwise.
        self._caps[name] = running
        self._successes[name] = 0
        await self.queue.defer(event.event_id, Deferral(self.clock.time_ms(), event.attempts, event.throttles,
                                                        expires_at_ms, event.last_run))

    async def _back_off(self, event: QueuedEvent, expires_at_ms: int) -> None:
        """Back in line after a backoff doubling from 1 s to 5 minutes; not counted as an attempt."""
        throttles = event.throttles + 1
        first_s, max_s = self.policy.throttle_backoff_s
        delay_s = min(first_s * 2 ** (throttles - 1), max_s)
        self._blocked_until[event.function_name] = self.clock.monotonic() + delay_s
        visible_at_ms = min(self.clock.time_ms() + math.ceil(delay_s * 1000), expires_at_ms)
        await self.queue.defer(event.event_id, Deferral(visible_at_ms, event.attempts, throttles, expires_at_ms,
                                                        event.last_run))

    def _admitted(self, function_name: str) -> None:
        """It ran: after a round of successes at its cap, try one more at once."""
        cap = self._caps.get(function_name)
        if cap is None:
            return
        self._successes[function_name] += 1
        if self._successes[function_name] >= cap:
            self._caps[function_name] = cap + 1
            self._successes[function_name] = 0

    async def _discard(self, event: QueuedEvent, target: AsyncTarget, condition: Condition,
                       last_run: LastRun | None, attempts: int) -> None:
        on_failure = target.config.on_failure_arn if target.config else None
        log.info("discarding Event invocation %s of %s: %s after %d attempt(s)%s", event.request_id,
                 target.function_arn, condition.value, attempts, f"; record sent to {on_failure}" if on_failure else "")
        await self.queue.finish(event.event_id, self._deliveries(on_failure, event, condition, target, last_run,
                                                                 attempts))

    def _deliveries(self, destination_arn: str | None, event: QueuedEvent, condition: Condition, target: AsyncTarget,
                    last_run: LastRun | None, attempts: int) -> list[NewEvent]:
        """The Event invocation of a destination function that carries the record (none without one)."""
        if not destination_arn:
            return []
        record = invocation_record(event, condition, target.function_arn, last_run, attempts)
        if len(record) > MAX_RECORD_BYTES:
            log.warning("the %s record of %s is %d bytes, over the %d a destination function takes: not delivered",
                        condition.value, event.request_id, len(record), MAX_RECORD_BYTES)
            return []
        destination = parse_function_ref(destination_arn)
        # Its expiry is checked against the destination's own configuration when it is claimed;
        # the default age here only makes a claim hand it out by then at the latest.
        return [NewEvent(str(uuid.uuid4()), destination.name, destination.qualifier, record,
                         max_age_s=DEFAULT_MAX_EVENT_AGE_S)]
