"""One execution environment: a sandboxed runtime, its Runtime API server and its output.

Life cycle, as on Lambda: INIT (start the runtime, import the handler; timed as Init
Duration) → INVOKE (one at a time, repeated) → SHUTDOWN (idle past keep-alive,
configuration change, timeout, crash, server shutdown).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from ember.invoke.output import OutputCollector
from ember.runtime_api.channel import Outcome, OutcomeKind, PendingInvocation, RuntimeChannel
from ember.runtime_api.server import RuntimeApiServer
from ember.sandbox import Sandbox, SandboxProcess, SandboxSpec

#: Lambda gives a function's init phase 10 s before it is retried within the invoke
INIT_TIMEOUT_S = 10.0
#: how long to wait for an invocation's output marker once its result is in
OUTPUT_SETTLE_S = 1.0


class EnvironmentState(StrEnum):
    PARKED = "parked"  #: started ahead of demand, waiting to be given a function
    STARTING = "starting"  #: the runtime is initialising
    IDLE = "idle"  #: warm, waiting for an invocation
    BUSY = "busy"  #: running an invocation
    DEAD = "dead"  #: shut down; never reused


@dataclass(frozen=True)
class InitResult:
    is_ok: bool
    duration_ms: float
    output: bytes  #: what the runtime printed while initialising
    error: Outcome | None = None  #: the init error (posted, or synthesised from an exit)


@dataclass(frozen=True)
class RunResult:
    """What one invocation in this environment came to."""

    outcome: Outcome
    duration_ms: float
    output: bytes
    max_memory_mb: int
    is_environment_lost: bool  #: the environment died or was killed and must be replaced


def log_stream_name(version: str = "$LATEST") -> str:
    """A log stream name as Lambda makes them: `2024/01/31/[$LATEST]<32 hex>` (`[3]` for version 3)."""
    return time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{version}]" + secrets.token_hex(16)


class Environment:
    """A sandboxed runtime for one function configuration (its `config_key`)."""

    def __init__(self, function_name: str, version: str, config_key: str, sandbox: Sandbox,
                 spec: SandboxSpec) -> None:
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
        self.idle_since = time.monotonic()
        self.started_at = time.time()  #: wall clock, for the environment's age
        self.invocation_count = 0
        self._sandbox = sandbox
        self._spec = spec
        self._process: SandboxProcess | None = None
        self._server: RuntimeApiServer | None = None
        self._output: OutputCollector | None = None
        self._channel: RuntimeChannel | None = None
        self._exit: asyncio.Task[int] | None = None

    async def _launch(self) -> None:
        self._channel = RuntimeChannel()
        self._process = await self._sandbox.start(self._spec)
        self._server = RuntimeApiServer(self._channel)
        await self._server.start(self._process.listener)
        self._output = OutputCollector(self._process.output)
        self._exit = asyncio.create_task(self._process.wait())

    async def start(self) -> InitResult:
        """Start the runtime and wait until it asks for work, fails its init, or exits."""
        started = time.perf_counter()
        await self._launch()
        return await self._await_init(started)

    async def park(self) -> bool:
        """Start a runtime with no function yet (its spec has no code): it warms its interpreter
        and waits to be specialised. False if it died instead (it is then destroyed)."""
        self.state = EnvironmentState.PARKED
        await self._launch()
        assert self._channel is not None and self._exit is not None
        parked = asyncio.create_task(self._channel.is_parked.wait())
        await asyncio.wait({parked, self._exit}, timeout=INIT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        parked.cancel()
        if self._channel.is_parked.is_set() and not self._exit.done():
            return True
        await self.destroy()
        return False

    async def specialise(self, function_name: str, version: str, config_key: str, spec: SandboxSpec) -> InitResult:
        """Give a parked environment its function (code, layers, memory, variables) and run
        that function's init, timed as Init Duration."""
        assert self._channel is not None and self._process is not None
        self.function_name, self.version, self.config_key = function_name, version, config_key
        self.memory_mb = spec.memory_mb
        self.log_stream_name = spec.env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.is_provisioned = spec.env.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency"
        self.state = EnvironmentState.STARTING
        started = time.perf_counter()
        assert spec.task_dir is not None and self._output is not None
        await self._process.specialise(spec.task_dir, spec.opt_dir, spec.memory_mb)
        self._output.drain()  # anything printed while parked belongs to no function
        self._channel.specialise(spec.env)
        return await self._await_init(started)

    async def _await_init(self, started: float) -> InitResult:
        assert self._channel is not None and self._process is not None and self._exit is not None
        assert self._output is not None
        ready = asyncio.create_task(self._channel.ready.wait())
        assert self._channel.init_outcome is not None
        waiters = {ready, self._exit, self._channel.init_outcome}
        done, _ = await asyncio.wait(waiters, timeout=INIT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        duration_ms = (time.perf_counter() - started) * 1000
        if self._channel.ready.is_set() and not self._channel.init_outcome.done():
            self.state = EnvironmentState.IDLE
            self._process.init_done()
            return InitResult(True, duration_ms, self._output.drain())
        error = await self._init_failure(done)
        await self.destroy()
        return InitResult(False, duration_ms, self._output.drain(), error)

    async def _init_failure(self, done: set[asyncio.Future]) -> Outcome:
        assert self._channel is not None and self._channel.init_outcome is not None and self._exit is not None
        if self._channel.init_outcome.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._exit), 0.5)  # let its last output arrive
            return self._channel.init_outcome.result()
        if self._exit in done:
            await asyncio.sleep(0)  # let the output reader see EOF
            assert self._process is not None
            return _exit_error(None, self._exit.result(), self._process.oom_killed())
        message = f"Init phase did not complete within {INIT_TIMEOUT_S:.2f} seconds"
        return Outcome(OutcomeKind.INIT_ERROR, _error_json(message, "Runtime.InitTimeout"), "Runtime.InitTimeout")

    async def run(self, invocation: PendingInvocation, timeout_s: float) -> RunResult:
        """Run one invocation; kill the environment if it overruns `timeout_s` or dies."""
        assert self._channel is not None and self._exit is not None and self._output is not None
        assert self._process is not None
        self.state = EnvironmentState.BUSY
        self.invocation_count += 1
        started = time.perf_counter()
        result = self._channel.submit(invocation)
        done, _ = await asyncio.wait({result, self._exit}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        duration_ms = (time.perf_counter() - started) * 1000
        memory_mb = self._process.peak_memory_mb()
        if result in done and not result.cancelled():
            output = await self._output.take(invocation.request_id, OUTPUT_SETTLE_S)
            self.state = EnvironmentState.IDLE
            self.idle_since = time.monotonic()
            return RunResult(result.result(), duration_ms, output, memory_mb, False)
        self._channel.abandon(invocation.request_id)
        if self._exit in done:
            await asyncio.sleep(0)
            outcome = _exit_error(invocation.request_id, self._exit.result(), self._process.oom_killed())
        else:
            message = f"RequestId: {invocation.request_id} Error: Task timed out after {timeout_s:.2f} seconds"
            outcome = Outcome(OutcomeKind.ERROR, _error_json(message, "Sandbox.Timedout"), "Sandbox.Timedout")
        await self.destroy()
        output = self._output.drain()
        if outcome.error_type == "Sandbox.Timedout":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
            output += f"{stamp}Z {invocation.request_id} Task timed out after {timeout_s:.2f} seconds\n".encode()
        return RunResult(outcome, duration_ms, output, memory_mb, True)

    def peak_memory_mb(self) -> int:
        """The most memory the environment has used so far (0 before it has a process)."""
        if self._process is None or self.state is EnvironmentState.DEAD:
            return 0
        return self._process.peak_memory_mb()

    async def destroy(self) -> None:
        """Kill the whole tree and release everything the environment held. Idempotent."""
        if self.state is EnvironmentState.DEAD:
            return
        self.state = EnvironmentState.DEAD
        if self._process is not None:
            await self._process.kill()
        if self._server is not None:
            await self._server.close()
        if self._output is not None:
            await self._output.settle(0.2)  # what the process wrote before dying
            await self._output.close()
        shutil.rmtree(self._spec.work_dir, ignore_errors=True)


def _exit_error(request_id: str | None, return_code: int, is_out_of_memory: bool = False) -> Outcome:
    if is_out_of_memory:
        # Ended by the memory limit: AWS says so in the type, and "killed" in the message.
        reason = "Runtime exited with error: signal: killed"
        message = f"RequestId: {request_id} Error: {reason}" if request_id else reason
        return Outcome(OutcomeKind.ERROR, _error_json(message, "Runtime.OutOfMemory"), "Runtime.OutOfMemory")
    if return_code < 0:
        reason = f"Runtime exited with error: signal: {_signal_name(-return_code)}"
    elif return_code > 0:
        reason = f"Runtime exited with error: exit status {return_code}"
    else:
        reason = "Runtime exited without providing a reason"
    message = f"RequestId: {request_id} Error: {reason}" if request_id else reason
    return Outcome(OutcomeKind.ERROR, _error_json(message, "Runtime.ExitError"), "Runtime.ExitError")


def _signal_name(number: int) -> str:
    import signal

    with contextlib.suppress(ValueError):
        return {signal.SIGKILL: "killed", signal.SIGSEGV: "segmentation fault",
                signal.SIGABRT: "aborted", signal.SIGTERM: "terminated"}.get(signal.Signals(number),
                                                                             signal.Signals(number).name)
    return str(number)


def _error_json(message: str, error_type: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def new_environment_id() -> str:
    return uuid.uuid4().hex


def work_dir_for(root: Path, environment_id: str) -> Path:
    return root / environment_id
