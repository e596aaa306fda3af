"""The invoker: runs one invocation of a function, from environment to AWS-shaped result."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from ember.clock import Clock, SystemClock
from ember.code.cache import CodeCache
from ember.disk_health import DataDiskFull, is_full_error
from ember.errors import ServiceException, TooManyRequestsException
from ember.invoke.credentials import CREDENTIALS_DURATION_S, RoleCredentials, retire_at_s
from ember.invoke.entrypoints import InvalidEntrypoint, external_extensions
from ember.invoke.environment import (
    AwsApiServing,
    Environment,
    EnvironmentDestroyed,
    InitResult,
    RunResult,
    RuntimeApiFactory,
)
from ember.invoke.error_types import ErrorType
from ember.invoke.output import TAIL_BYTES, LogTail
from ember.invoke.parking import ParkingLot
from ember.invoke.scheduler import Scheduler
from ember.invoke.specs import EnvironmentPolicy, SpecBuilder
from ember.models import FunctionConfig
from ember.runtime_api.channel import Outcome, OutcomeKind, PendingInvocation
from ember.runtime_api.descriptors import runtime_api_connection_budget
from ember.runtime_api.server import RuntimeApiServer
from ember.runtimes.catalog import Runtime, RuntimeKind
from ember.sandbox import NetworkUnavailable, Sandbox, SandboxSpec
from ember.telemetry.hooks import InvocationRecord, Telemetry

log = logging.getLogger(__name__)

SHUTDOWN_MESSAGE = "The invocation was stopped because the Ember server is shutting down."
#: init failures the platform words (not the runtime): their message names the invocation
PLATFORM_INIT_ERRORS = frozenset({ErrorType.EXIT_ERROR, ErrorType.OUT_OF_MEMORY, ErrorType.INVALID_ENTRYPOINT,
                                  ErrorType.EXTENSION_CRASH, ErrorType.EXTENSION_INIT_ERROR,
                                  ErrorType.EXTENSION_LAUNCH_ERROR})


@dataclass(frozen=True)
class InvokeRequest:
    payload: bytes
    request_id: str
    trace_id: str | None = None
    client_context: str | None = None  #: JSON text (decoded from the base64 header)
    #: the qualifier the caller named (an alias, a version), shown in the context's invoked ARN
    qualifier: str | None = None


@dataclass(frozen=True)
class InvokeResult:
    payload: bytes
    function_error: str | None  #: "Unhandled" when the function failed, as X-Amz-Function-Error
    log_text: str  #: the end of this invocation's log (init output, START … END … REPORT): its last 4 KB at least
    executed_version: str

    def log_tail_b64(self) -> str:
        return base64.b64encode(self.log_text.encode()[-TAIL_BYTES:]).decode()


def config_key(function: FunctionConfig) -> str:
    """What an environment was built for; any change to it retires old environments."""
    relevant = [function.name, function.version, function.code.sha256_hex, function.runtime, function.handler,
                function.memory_mb, function.timeout_s, function.ephemeral_storage_mb,
                sorted(function.environment.items()), function.role,
                [layer.code.sha256_hex for layer in function.layers]]
    return hashlib.sha256(json.dumps(relevant).encode()).hexdigest()


class Invoker:
    def __init__(self, policy: EnvironmentPolicy, sandbox: Sandbox, scheduler: Scheduler,
                 runtimes: dict[str, Runtime], code: CodeCache, telemetry: Telemetry | None = None,
                 clock: Clock | None = None, runtime_api: RuntimeApiFactory = RuntimeApiServer,
                 role_credentials: RoleCredentials | None = None, aws_api: AwsApiServing | None = None) -> None:
        self.policy = policy
        #: wall time for the log lines' stamps, the invocation's start and end and the deadline the
        #: runtime is given; handed to the environments, whose durations (REPORT) it times
        self.clock = clock or SystemClock()
        #: where environments get their code and merged layers from (unpacked on demand)
        self.code = code
        self.sandbox = sandbox
        self.scheduler = scheduler
        self.runtimes = runtimes
        #: told of every invocation's start, end (log, duration, error) and throttle
        self.telemetry = telemetry or Telemetry()
        self.specs = SpecBuilder(policy, sandbox, self.clock)
        #: what every environment's Runtime API connections may take of the server's descriptors
        self.connection_budget = runtime_api_connection_budget()
        #: builds each environment's Runtime API server
        self.runtime_api = runtime_api
        #: issues each environment the credentials of its function's execution role (None: none)
        self.role_credentials = role_credentials
        #: serves Ember's AWS APIs on the listener of each environment with a network of its own
        self.aws_api = aws_api
        self.parking: ParkingLot | None = None
        if sandbox.can_park and policy.parked_per_runtime > 0:
            self.parking = ParkingLot(policy.parked_per_runtime, self.parked_environment)

    async def invoke(self, function: FunctionConfig, request: InvokeRequest) -> InvokeResult:
        key = config_key(function)
        started_ms = self.clock.time_ms()
        try:
            env, init = await self.scheduler.acquire(
                function.name, key, function.memory_mb,
                lambda track: self._cold_start(function, "on-demand", track))
        except TooManyRequestsException:
            self.telemetry.invocation_throttled(function.name, request.qualifier)
            raise
        except EnvironmentDestroyed:
            raise ServiceException(SHUTDOWN_MESSAGE) from None
        except NetworkUnavailable as exc:
            logging.getLogger(__name__).error(  # (`log` is this method's LogTail)
                "function %s: a new execution environment's network could not be set up: %s", function.name, exc)
            raise ServiceException("Lambda could not set up the network of a new execution environment for this "
                                   "function; the server's log says why.") from None
        except OSError as exc:  # starting an environment writes to the data disk (its folder, its /tmp)
            if is_full_error(exc):
                raise DataDiskFull(self.policy.data_dir, ": a new execution environment cannot start") from exc
            raise
        self.telemetry.invocation_started(function.name, request.qualifier, function.version)
        # The log is streamed as the invocation runs (init output already is): START now, each
        # line as it is printed, END and REPORT at the end, whatever the end was.
        stream = env.log_stream_name
        log = LogTail(lambda events: self.telemetry.log_lines(function.name, stream, events), self.clock)
        # The Tail starts with what the environment printed before (its init, or since the last invocation).
        init_tail = init.output_tail if init is not None else env.take_output_tail()
        log.write(f"START RequestId: {request.request_id} Version: {function.version}\n")
        try:
            if init is not None and not init.is_ok:
                result = self._init_failure(function, request, init, log)
                self._tell_finished(function, request, env, result, started_ms, init.duration_ms)
                return result
            run = await self._run(env, function, request, log)
        finally:
            await self.scheduler.release(env, key)
        init_ms = init.duration_ms if init is not None else None
        log.write(f"END RequestId: {request.request_id}\n")
        log.write(self._report(function, request.request_id, run.duration_ms, run.max_memory_mb, init_ms))
        if run.is_environment_lost and self.scheduler.is_shutting_down:
            raise ServiceException(SHUTDOWN_MESSAGE)
        outcome = run.outcome
        error = None if outcome.kind is OutcomeKind.RESPONSE else "Unhandled"
        result = InvokeResult(outcome.body, error, init_tail + log.text(), function.version)
        self._tell_finished(function, request, env, result, started_ms, run.duration_ms)
        return result

    def _tell_finished(self, function: FunctionConfig, request: InvokeRequest, env: Environment,
                       result: InvokeResult, started_ms: int, duration_ms: float) -> None:
        self.telemetry.invocation_finished(InvocationRecord(
            function_name=function.name, qualifier=request.qualifier, executed_version=function.version,
            started_ms=started_ms, ended_ms=self.clock.time_ms(), duration_ms=duration_ms,
            is_error=result.function_error is not None, log_stream_name=env.log_stream_name))

    def _init_failure(self, function: FunctionConfig, request: InvokeRequest, init: InitResult,
                      log: LogTail) -> InvokeResult:
        assert init.error is not None
        if self.scheduler.is_shutting_down:  # killed mid-init by the shutdown, not by its own fault
            raise ServiceException(SHUTDOWN_MESSAGE)
        if init.error.error_type in PLATFORM_INIT_ERRORS:
            # The runtime died (or never started) without reporting: AWS names the invocation that started it.
            payload = _with_message_prefix(init.error.body, f"RequestId: {request.request_id} Error: ")
        elif self.runtimes[function.runtime].kind is RuntimeKind.PYTHON:
            payload = _with_request_id(init.error.body, "")  # AWS's Python runtime says "requestId": ""
        else:
            payload = init.error.body
        log.write(f"END RequestId: {request.request_id}\n")
        log.write(self._report(function, request.request_id, init.duration_ms, 0, init.duration_ms))
        return InvokeResult(payload, "Unhandled", init.output_tail + log.text(), function.version)

    async def _run(self, env: Environment, function: FunctionConfig, request: InvokeRequest,
                   log: LogTail) -> RunResult:
        deadline_ms = self.clock.time_ms() + function.timeout_s * 1000
        pending = PendingInvocation(
            request_id=request.request_id,
            payload=request.payload,
            deadline_ms=deadline_ms,
            invoked_function_arn=self.policy.home.function_arn(function.name, request.qualifier),
            trace_id=request.trace_id,
            client_context=request.client_context,
        )
        return await env.run(pending, function.timeout_s, log)

    def _report(self, function: FunctionConfig, request_id: str, duration_ms: float, memory_mb: int,
                init_ms: float | None) -> str:
        billed_ms = max(1, math.ceil(duration_ms))
        line = (f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms"
                f"\tMemory Size: {function.memory_mb} MB\tMax Memory Used: {memory_mb} MB")
        if init_ms is not None:
            line += f"\tInit Duration: {init_ms:.2f} ms"
        if self.sandbox.warning:
            line += f"\t{self.sandbox.warning}"
        return line + "\t\n"

    async def provision(self, function: FunctionConfig) -> InitResult:
        """Start one provisioned-concurrency environment for `function` and park it ready."""
        return await self.scheduler.start_spare(
            function.memory_mb, lambda track: self._cold_start(function, "provisioned-concurrency", track))

    async def _cold_start(self, function: FunctionConfig, initialization_type: str,
                          track: Callable[[Environment], None]) -> tuple[Environment, InitResult]:
        """A new environment for `function`: a parked one given the function, else a fresh one."""
        runtime = self.runtimes[function.runtime]
        # Only a cold start needs the code on disk: unpacked (and layers merged) the first time here.
        task_dir, opt_dir = await self.code.prepare(function.code.sha256_hex,
                                                    [layer.code.sha256_hex for layer in function.layers])
        extensions = external_extensions(opt_dir)
        # Issued for this environment alone, as it is started or specialised: it retires before they end.
        credentials = None
        if self.role_credentials is not None:
            credentials = await self.role_credentials(function.role, function.name, CREDENTIALS_DURATION_S)
        retire_at = retire_at_s(credentials) if credentials is not None else None
        try:
            spec = self.specs.for_function(function, runtime, task_dir, opt_dir, extensions, initialization_type,
                                           credentials)
        except InvalidEntrypoint as exc:
            env = self._environment(function, runtime, self.specs.refused(function, task_dir), extensions)
            track(env)
            return env, env.refuse(Outcome(OutcomeKind.INIT_ERROR, _error_json(str(exc), ErrorType.INVALID_ENTRYPOINT),
                                           ErrorType.INVALID_ENTRYPOINT))
        parked = None
        # Only Python runtimes park, without extensions (they start before the runtime). A parked
        # runtime's LD_LIBRARY_PATH was fixed when it started: a function that sets its own needs a
        # fresh process.
        if (self.parking is not None and runtime.can_park and not extensions
                and "LD_LIBRARY_PATH" not in function.environment):
            parked = self.parking.take(function.runtime, function.ephemeral_storage_mb)
        if parked is not None:
            track(parked)
            return parked, await parked.specialise(function.name, function.version, config_key(function), spec,
                                                   retire_at)
        env = self._environment(function, runtime, spec, extensions, retire_at)
        track(env)
        return env, await env.start()

    def _environment(self, function: FunctionConfig, runtime: Runtime, spec: SandboxSpec,
                     extensions: tuple[str, ...], retire_at: float | None = None) -> Environment:
        return Environment(function.name, function.version, config_key(function), self.sandbox, spec,
                           writes_end_marker=runtime.writes_end_marker, extensions=extensions,
                           account_id=self.policy.home.account_id, on_output=self._environment_output,
                           connection_budget=self.connection_budget, clock=self.clock,
                           runtime_api=self.runtime_api, retire_at_s=retire_at, aws_api=self.aws_api)

    def _environment_output(self, env: Environment, events: list[tuple[int, str]]) -> None:
        """What an environment printed outside any invocation (init, threads between invocations,
        extensions shutting down) goes to its log stream, as on Lambda. A parked environment has
        no function yet: what it prints goes nowhere."""
        if env.function_name:
            self.telemetry.log_lines(env.function_name, env.log_stream_name, events)

    def parked_environment(self, runtime_name: str) -> Environment:
        """An environment for `runtime_name` (a runtime that can park) with no function yet, for the
        parking lot."""
        spec = self.specs.parked(self.runtimes[runtime_name])
        return Environment("", "", "", self.sandbox, spec, account_id=self.policy.home.account_id,
                           on_output=self._environment_output, connection_budget=self.connection_budget,
                           clock=self.clock, runtime_api=self.runtime_api, aws_api=self.aws_api)


def _with_message_prefix(body: bytes, prefix: str) -> bytes:
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict) and isinstance(document.get("errorMessage"), str):
        document["errorMessage"] = prefix + document["errorMessage"]
    return json.dumps(document).encode()


def _error_json(message: str, error_type: ErrorType) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def _with_request_id(body: bytes, request_id: str) -> bytes:
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict) and "requestId" not in document:
        document["requestId"] = request_id
    return json.dumps(document).encode()

