"""One execution environment: a sandboxed runtime, its Runtime API server and its output.

Life cycle, as on Lambda: INIT (start the extensions and the runtime, import the handler;
timed as Init Duration) → INVOKE (one at a time, repeated) → SHUTDOWN (idle past keep-alive,
configuration change, timeout, crash, server shutdown; extensions get a SHUTDOWN event).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import shutil
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from ember.clock import Clock, SystemClock
from ember.invoke.error_types import ErrorType
from ember.invoke.extension_watch import ExtensionWatch
from ember.invoke.output import LineSink, LogTail, OutputCollector, new_marker_nonce
from ember.runtime_api.channel import Outcome, OutcomeKind, PendingInvocation, RuntimeChannel
from ember.runtime_api.descriptors import ConnectionBudget
from ember.runtime_api.extensions import ExtensionsHub, FunctionInfo
from ember.runtime_api.server import RuntimeApiServer
from ember.sandbox import Sandbox, SandboxProcess, SandboxSpec

#: Lambda gives a function's init phase 10 s before it is retried within the invoke
INIT_TIMEOUT_S = 10.0
#: how long to wait for an invocation's output marker once its result is in
OUTPUT_SETTLE_S = 1.0
#: a runtime without Ember's output marker (a custom runtime): its invocation's output is taken
#: once the pipe has been quiet this long after its result, waiting at most QUIET_OUTPUT_MAX_S
QUIET_OUTPUT_S = 0.02
QUIET_OUTPUT_MAX_S = 0.25
#: an idle environment is frozen (where the level has a freezer) once it has been idle this long,
#: as Lambda freezes one between invocations: what its function left running stops taking CPU.
#: Not at once: invocations in a quick stream then never wait for a thaw.
FREEZE_AFTER_IDLE_S = 0.25


class EnvironmentState(StrEnum):
    PARKED = "parked"  #: started ahead of demand, waiting to be given a function
    STARTING = "starting"  #: the runtime is initialising
    IDLE = "idle"  #: warm, waiting for an invocation
    BUSY = "busy"  #: running an invocation
    DEAD = "dead"  #: shut down, or its runtime exited while idle; never reused


@dataclass(frozen=True)
class InitResult:
    is_ok: bool
    duration_ms: float
    #: the end of what the runtime printed while initialising (its lines are in the log already)
    output_tail: str
    error: Outcome | None = None  #: the init error (posted, or synthesised from an exit)


@dataclass(frozen=True)
class RunResult:
    """What one invocation in this environment came to."""

    outcome: Outcome
    duration_ms: float
    max_memory_mb: int
    is_environment_lost: bool  #: the environment died or was killed and must be replaced


def log_stream_name(version: str, now_s: float) -> str:
    """A log stream name as Lambda makes them: `2024/01/31/[$LATEST]<32 hex>` (`[3]` for version 3),
    dated `now_s` (epoch seconds, UTC)."""
    return time.strftime("%Y/%m/%d", time.gmtime(now_s)) + f"/[{version}]" + secrets.token_hex(16)


#: told what an environment printed outside any invocation (init, threads between invocations,
#: extensions shutting down), line by line as it arrives: (timestamp_ms, message) events
EnvironmentOutput = Callable[["Environment", list[tuple[int, str]]], None]


class RuntimeApi(Protocol):
    """What an environment uses of its Runtime API server (`runtime_api.server.RuntimeApiServer`)."""

    async def start(self, listener: socket.socket) -> None: ...
    async def stop_accepting(self) -> None: ...
    async def close(self) -> None: ...


#: builds the Runtime API server of one environment from its channel, its extensions and the
#: descriptor budget all environments share (RuntimeApiServer; a stand-in in unit tests)
RuntimeApiFactory = Callable[[RuntimeChannel, ExtensionsHub, ConnectionBudget | None], RuntimeApi]


class ServedListener(Protocol):
    """A listener being served (an asyncio.Server): closing it stops serving and closes the socket."""

    def close(self) -> None: ...


#: serves Ember's AWS APIs on an environment's own `api_listener`, from its start to its end
#: (edge.function_api.FunctionApi.serve, given by the server: the invoke layer knows no edge)
AwsApiServing = Callable[[socket.socket], Awaitable[ServedListener]]


@dataclass(frozen=True)
class Launched:
    """An environment's parts from the moment its runtime has started: each exists until it is
    destroyed, so what runs the environment takes this and needs no check."""

    process: SandboxProcess
    channel: RuntimeChannel  #: between the Runtime API server and the invoker
    server: RuntimeApi
    output: OutputCollector  #: the runtime's output, streamed to the current sink
    exited: asyncio.Task[int]  #: the runtime's main process ending, with its return code
    watch: ExtensionWatch
    #: Ember's AWS APIs served on the environment's own listener (None where it shares the host's network)
    api_server: ServedListener | None = None


class Environment:
    """A sandboxed runtime for one function configuration (its `config_key`)."""

    def __init__(self, function_name: str, version: str, config_key: str, sandbox: Sandbox, spec: SandboxSpec, *,
                 writes_end_marker: bool = True, extensions: tuple[str, ...] = (), account_id: str = "",
                 on_output: EnvironmentOutput | None = None,
                 connection_budget: ConnectionBudget | None = None, clock: Clock | None = None,
                 runtime_api: RuntimeApiFactory = RuntimeApiServer, retire_at_s: float | None = None,
                 aws_api: AwsApiServing | None = None) -> None:
        #: wall time for the environment's age and its log lines, monotonic for idle time and durations
        self._clock = clock or SystemClock()
        self.function_name = function_name
        self.version = version  #: "$LATEST" or a published version number
        self.config_key = config_key
        self.memory_mb = spec.memory_mb
        #: kept ready by provisioned concurrency: never retired for being idle
        self.is_provisioned = spec.env.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency"
        self.environment_id = spec.environment_id
        #: where this environment's output goes in /aws/lambda/NAME (one stream per environment)
        self.log_stream_name = spec.env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.state = EnvironmentState.STARTING
        self.idle_since = self._clock.monotonic()
        self.started_at = self._clock.time_s()  #: wall clock, for the environment's age
        #: wall time after which it takes no more invocations and retires once idle: its
        #: credentials run out soon after (None: it holds none, as a parked one)
        self.retire_at_s = retire_at_s
        self.invocation_count = 0
        #: the function's code and merged layers this environment reads (none may be deleted under it)
        self.code_dirs = tuple(path for path in (spec.task_dir, spec.opt_dir) if path is not None)
        self._sandbox = sandbox
        self._spec = spec
        #: Ember's bootstraps end each invocation's output with a marker; custom runtimes do not
        self._writes_end_marker = writes_end_marker
        self._on_output = on_output
        #: output outside invocations (init, threads between them): the end of it is kept for the
        #: Tail of the next invocation, which would have shown it on Lambda (the environment thaws)
        self._idle_log = LogTail(self._environment_output, self._clock)
        self._connection_budget = connection_budget
        self._runtime_api = runtime_api
        self._aws_api = aws_api
        self._extensions = ExtensionsHub(extensions, _function_info(spec.env, account_id))
        #: None until `start` or `park` has started the runtime
        self._launched: Launched | None = None
        self._is_destroyed = False
        self._is_frozen = False
        self._freeze_timer: asyncio.TimerHandle | None = None

    async def _launch(self) -> Launched:
        channel = RuntimeChannel()
        process = await self._sandbox.start(self._spec)
        try:
            server = self._runtime_api(channel, self._extensions, self._connection_budget)
            await server.start(process.listener)
            api_server = None
            if process.api_listener is not None and self._aws_api is not None:
                api_server = await self._aws_api(process.api_listener)
            if self._is_destroyed:
                # Destroyed while it started (a shutdown): it had nothing to stop then, so it is
                # stopped here, or its process would outlive the server.
                if api_server is not None:
                    api_server.close()
                await server.close()
                raise EnvironmentDestroyed(f"environment {self.environment_id} was shut down while it started")
        except BaseException:
            await process.kill()  # nothing else knows of it yet
            raise
        output = OutputCollector(process.output, self._idle_log, self._clock)
        exited = asyncio.create_task(process.wait())
        exited.add_done_callback(self._on_exit)
        watch = ExtensionWatch(self._extensions, process, exited, self._clock)
        self._launched = Launched(process, channel, server, output, exited, watch, api_server)
        return self._launched

    def _running(self) -> Launched:
        """The started runtime's parts, for what is only ever asked of a started environment."""
        if self._launched is None:
            raise RuntimeError(f"environment {self.environment_id} has not been started")
        return self._launched

    def _environment_output(self, events: list[tuple[int, str]]) -> None:
        if self._on_output is not None:
            self._on_output(self, events)

    def take_output_tail(self) -> str:
        """The end of what the environment printed outside invocations since last asked."""
        text = self._idle_log.text()
        self._idle_log.clear()
        return text

    def _on_exit(self, _: asyncio.Task[int]) -> None:
        # A runtime that exits between invocations (Node.js after an uncaught exception, a custom
        # bootstrap that quits) must not be handed the next one: the scheduler retires it.
        if self.state is EnvironmentState.IDLE:
            self.state = EnvironmentState.DEAD

    async def start(self) -> InitResult:
        """Start the runtime and wait until it asks for work, fails its init, or exits."""
        started = self._clock.monotonic()
        launched = await self._launch()
        return await self._await_init(launched, started)

    def refuse(self, error: Outcome) -> InitResult:
        """Fail this environment's init before starting anything (a custom runtime without a
        bootstrap it can run)."""
        self.state = EnvironmentState.DEAD
        self._is_destroyed = True
        return InitResult(False, 0.0, "", error)

    async def park(self) -> bool:
        """Start a runtime with no function yet (its spec has no code): it warms its interpreter
        and waits to be specialised. False if it died instead (it is then destroyed)."""
        self.state = EnvironmentState.PARKED
        launched = await self._launch()
        parked = asyncio.create_task(launched.channel.is_parked.wait())
        waiters: set[asyncio.Future[Any]] = {parked, launched.exited}
        await asyncio.wait(waiters, timeout=INIT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        parked.cancel()
        if launched.channel.is_parked.is_set() and not launched.exited.done():
            return True
        await self.destroy()
        return False

    async def specialise(self, function_name: str, version: str, config_key: str, spec: SandboxSpec,
                         retire_at_s: float | None = None) -> InitResult:
        """Give a parked environment its function (code, layers, memory, variables and the
        credentials among them, which it must retire by `retire_at_s`) and run that function's
        init, timed as Init Duration."""
        launched = self._running()
        if spec.task_dir is None:
            raise ValueError("a parked environment is specialised with its function's spec, which has code")
        self.function_name, self.version, self.config_key = function_name, version, config_key
        self.retire_at_s = retire_at_s
        self.memory_mb = spec.memory_mb
        self.code_dirs = tuple(path for path in (spec.task_dir, spec.opt_dir) if path is not None)
        self.log_stream_name = spec.env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.is_provisioned = spec.env.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency"
        self._extensions.function = _function_info(spec.env, self._extensions.function.account_id)
        self.state = EnvironmentState.STARTING
        started = self._clock.monotonic()
        # What it printed while parked went nowhere (no function yet); from here on it is this one's.
        await launched.process.specialise(spec.task_dir, spec.opt_dir, spec.memory_mb, spec.reach)
        launched.channel.specialise(spec.env)
        return await self._await_init(launched, started)

    async def _await_init(self, launched: Launched, started: float) -> InitResult:
        channel, exited = launched.channel, launched.exited
        deadline = asyncio.get_running_loop().time() + INIT_TIMEOUT_S
        self._idle_log.clear()  # a parked environment's warm-up output is no function's
        hub = self._extensions
        failure: Outcome | None = None  # an extension's, once the runtime is ready
        if hub.expected_names:
            # Extension init: every extension registers before the runtime starts (the start gate).
            failure = await launched.watch.wait(hub.all_expected_registered, deadline, None)
            if failure is not None:
                return await self._fail_init(launched, started, failure)
            await launched.process.open_gate()
        ready = asyncio.create_task(channel.ready.wait())
        waiters: set[asyncio.Future[Any]] = {ready, exited, channel.init_outcome}
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        done, _ = await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if channel.ready.is_set() and not channel.init_outcome.done():
            # Init ends when the runtime and every registered extension have asked for their next event.
            failure = await launched.watch.wait(hub.is_settled, deadline, None) if hub.extensions else None
            if failure is None and not exited.done():
                hub.close_registration()
                self.state = EnvironmentState.IDLE
                launched.process.init_done()
                launched.output.detach()
                self._freeze_when_idle()
                return InitResult(True, (self._clock.monotonic() - started) * 1000, self.take_output_tail())
            if failure is None:
                done = {exited}
        if channel.ready.is_set() and failure is not None:
            error = failure
        else:
            error = await self._init_failure(launched, done)
        return await self._fail_init(launched, started, error)

    async def _fail_init(self, launched: Launched, started: float, error: Outcome) -> InitResult:
        duration_ms = (self._clock.monotonic() - started) * 1000
        await self.destroy("failure")
        launched.output.detach()
        return InitResult(False, duration_ms, self.take_output_tail(), error)

    async def _init_failure(self, launched: Launched, done: set[asyncio.Future[Any]]) -> Outcome:
        init_outcome, exited = launched.channel.init_outcome, launched.exited
        if init_outcome.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(exited), 0.5)  # let its last output arrive
            return init_outcome.result()
        if exited in done:
            await asyncio.sleep(0)  # let the output reader see EOF
            return _exit_error(None, exited.result(), launched.process.oom_killed())
        message = f"Init phase did not complete within {INIT_TIMEOUT_S:.2f} seconds"
        return Outcome(OutcomeKind.INIT_ERROR, _error_json(message, ErrorType.INIT_TIMEOUT), ErrorType.INIT_TIMEOUT)

    async def run(self, invocation: PendingInvocation, timeout_s: float, log: LineSink) -> RunResult:
        """Run one invocation, its output streamed to `log` line by line as it comes; kill the
        environment if it overruns `timeout_s` or dies."""
        launched = self._running()
        channel, exited, process = launched.channel, launched.exited, launched.process
        self._thaw()
        self.state = EnvironmentState.BUSY
        self.invocation_count += 1
        nonce = new_marker_nonce() if self._writes_end_marker else None
        invocation = dataclasses.replace(invocation, output_marker=nonce)
        launched.output.attach(log, nonce)
        started = self._clock.monotonic()
        deadline = asyncio.get_running_loop().time() + timeout_s
        result = channel.submit(invocation)
        hub = self._extensions
        if hub.extensions:
            hub.deliver_invoke(invocation.request_id, invocation.deadline_ms, invocation.invoked_function_arn,
                               invocation.trace_id)
        waiters: set[asyncio.Future[Any]] = {result, exited}
        done, _ = await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        failure: Outcome | None = None  # what went wrong around the function, if anything did
        if result in done and not result.cancelled():
            if hub.extensions:  # the invocation ends for the environment once its extensions are done too
                failure = await launched.watch.wait(hub.is_settled, deadline, invocation.request_id)
                if failure is None and exited.done() and not hub.is_settled():
                    failure = _exit_error(invocation.request_id, exited.result(), process.oom_killed())
        elif exited in done:
            await asyncio.sleep(0)
            failure = _exit_error(invocation.request_id, exited.result(), process.oom_killed())
        else:
            failure = Outcome(OutcomeKind.ERROR, b"", ErrorType.TIMED_OUT)
        duration_ms = (self._clock.monotonic() - started) * 1000
        memory_mb = process.peak_memory_mb()
        if failure is None:
            if result.result().is_runtime_exiting:
                with contextlib.suppress(TimeoutError):  # it said it exits now: let it, then retire it
                    await asyncio.wait_for(asyncio.shield(exited), 1.0)
            await self._invocation_output_end(launched.output)
            # A runtime that exited right after answering is retired, not handed the next invocation.
            self.state = EnvironmentState.DEAD if exited.done() else EnvironmentState.IDLE
            self.idle_since = self._clock.monotonic()
            self._freeze_when_idle()
            return RunResult(result.result(), duration_ms, memory_mb, False)
        channel.abandon(invocation.request_id)
        is_timeout = failure.error_type == ErrorType.TIMED_OUT
        if is_timeout:
            message = f"RequestId: {invocation.request_id} Error: Task timed out after {timeout_s:.2f} seconds"
            failure = Outcome(OutcomeKind.ERROR, _error_json(message, ErrorType.TIMED_OUT), ErrorType.TIMED_OUT)
        # Its last words (up to the kill) are streamed to the invocation's log before it is detached.
        await self.destroy("timeout" if is_timeout else "failure")
        launched.output.detach()
        if is_timeout:
            now_s = self._clock.time_s()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now_s))
            log([(int(now_s * 1000),
                  f"{stamp}Z {invocation.request_id} Task timed out after {timeout_s:.2f} seconds\n")])
        return RunResult(failure, duration_ms, memory_mb, True)

    def _freeze_when_idle(self) -> None:
        if self._freeze_timer is not None:
            self._freeze_timer.cancel()
        self._freeze_timer = asyncio.get_running_loop().call_later(FREEZE_AFTER_IDLE_S, self._freeze)

    def _freeze(self) -> None:
        self._freeze_timer = None
        if self.state is EnvironmentState.IDLE and not self._is_destroyed and self._launched is not None:
            self._launched.process.set_frozen(True)
            self._is_frozen = True

    def _thaw(self) -> None:
        if self._freeze_timer is not None:
            self._freeze_timer.cancel()
            self._freeze_timer = None
        if self._is_frozen and self._launched is not None:
            self._is_frozen = False
            self._launched.process.set_frozen(False)

    async def _invocation_output_end(self, output: OutputCollector) -> None:
        """Wait until the invocation's output is all in its log, then send later output to the
        environment's."""
        if not self._writes_end_marker:
            await output.wait_quiet(QUIET_OUTPUT_S, QUIET_OUTPUT_MAX_S)
        else:
            await output.wait_marker(OUTPUT_SETTLE_S)
            if self._extensions.extensions:
                # What extensions printed after the runtime's marker, before they asked for their next event.
                await output.wait_quiet(QUIET_OUTPUT_S, QUIET_OUTPUT_MAX_S)
        output.detach()

    def peak_memory_mb(self) -> int:
        """The most memory the environment has used so far (0 before it has a process)."""
        if self._launched is None or self._is_destroyed:
            return 0
        return self._launched.process.peak_memory_mb()

    async def destroy(self, reason: str = "spindown") -> None:
        """Shut the environment down: SHUTDOWN to its extensions (`reason`: spindown, timeout or
        failure, as Lambda says), then kill the whole tree and release everything it held.
        What it printed meanwhile goes where its output goes now. Idempotent."""
        if self._is_destroyed:
            return
        self._thaw()  # its extensions hear SHUTDOWN; a frozen process would not
        self._is_destroyed = True
        self.state = EnvironmentState.DEAD
        launched = self._launched
        if launched is not None:
            if not launched.exited.done():
                await launched.watch.shut_down(reason)
            await launched.server.stop_accepting()  # before the sandbox closes the listener under it
            if launched.api_server is not None:
                launched.api_server.close()  # and its listener; the connections end with the processes
            await launched.process.kill()
            await launched.server.close()
            await launched.output.settle(0.2)  # what the process wrote before dying
            await launched.output.close()
        shutil.rmtree(self._spec.work_dir, ignore_errors=True)

class EnvironmentDestroyed(RuntimeError):
    """An environment was destroyed (the server shutting down) before it had started."""


def _function_info(env: dict[str, str], account_id: str) -> FunctionInfo:
    return FunctionInfo(env.get("AWS_LAMBDA_FUNCTION_NAME", ""), env.get("AWS_LAMBDA_FUNCTION_VERSION", ""),
                        env.get("_HANDLER", ""), account_id)


def _exit_error(request_id: str | None, return_code: int, is_out_of_memory: bool = False) -> Outcome:
    if is_out_of_memory:
        # Ended by the memory limit: AWS says so in the type, and "killed" in the message.
        reason = "Runtime exited with error: signal: killed"
        message = f"RequestId: {request_id} Error: {reason}" if request_id else reason
        return Outcome(OutcomeKind.ERROR, _error_json(message, ErrorType.OUT_OF_MEMORY), ErrorType.OUT_OF_MEMORY)
    if return_code < 0:
        reason = f"Runtime exited with error: signal: {_signal_name(-return_code)}"
    elif return_code > 0:
        reason = f"Runtime exited with error: exit status {return_code}"
    else:
        reason = "Runtime exited without providing a reason"
    message = f"RequestId: {request_id} Error: {reason}" if request_id else reason
    return Outcome(OutcomeKind.ERROR, _error_json(message, ErrorType.EXIT_ERROR), ErrorType.EXIT_ERROR)


def _signal_name(number: int) -> str:
    import signal

    with contextlib.suppress(ValueError):
        return {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault",
                signal.SIGABRT: "aborted", signal.SIGTERM: "terminated"}.get(signal.Signals(number),
                                                                             signal.Signals(number).name)
    return str(number)


def _error_json(message: str, error_type: ErrorType) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def new_environment_id() -> str:
    return uuid.uuid4().hex


def work_dir_for(root: Path, environment_id: str) -> Path:
    return root / environment_id
