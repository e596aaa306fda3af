"""The invoker: runs one invocation of a function, from environment to AWS-shaped result."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ember.arns import function_arn
from ember.config import Settings
from ember.errors import ServiceException, TooManyRequestsException
from ember.invoke.environment import Environment, InitResult, RunResult, log_stream_name, new_environment_id
from ember.invoke.parking import PARKED_MEMORY_MB, PARKED_TMP_SIZE_MB, ParkingLot
from ember.invoke.scheduler import Scheduler
from ember.lambda_ import package
from ember.models import FunctionConfig
from ember.runtime_api.channel import OutcomeKind, PendingInvocation
from ember.runtimes.catalog import RUNTIME_FILES_DIR, Runtime, sdk_paths
from ember.sandbox import Sandbox, SandboxSpec
from ember.telemetry.hooks import InvocationRecord, Telemetry

log = logging.getLogger(__name__)

#: LogType=Tail returns the last 4 KB of the invocation's log
TAIL_BYTES = 4096
SHUTDOWN_MESSAGE = "The invocation was stopped because the Ember server is shutting down."


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
    log_text: str  #: START … END … REPORT for this invocation
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
    def __init__(self, settings: Settings, sandbox: Sandbox, scheduler: Scheduler,
                 runtimes: dict[str, Runtime], telemetry: Telemetry | None = None) -> None:
        self.settings = settings
        self.sandbox = sandbox
        self.scheduler = scheduler
        self.runtimes = runtimes
        #: told of every invocation's start, end (log, duration, error) and throttle
        self.telemetry = telemetry or Telemetry()
        self._merged_layers: set[Path] = set()
        self.sdk_paths = sdk_paths()
        self.parking: ParkingLot | None = None
        if sandbox.can_park and settings.parked_per_runtime > 0:
            self.parking = ParkingLot(settings.parked_per_runtime, self.parked_environment)

    def code_dir(self, function: FunctionConfig) -> Path:
        return self.settings.unpacked_dir / function.code.sha256_hex

    async def invoke(self, function: FunctionConfig, request: InvokeRequest) -> InvokeResult:
        key = config_key(function)
        opt_dir = await self._prepare_layers(function)
        started_ms = int(time.time() * 1000)
        try:
            env, init = await self.scheduler.acquire(
                function.name, key, function.memory_mb,
                lambda track: self._cold_start(function, opt_dir, "on-demand", track))
        except TooManyRequestsException:
            self.telemetry.invocation_throttled(function.name, request.qualifier)
            raise
        self.telemetry.invocation_started(function.name, request.qualifier, function.version)
        try:
            if init is not None and not init.is_ok:
                result = self._init_failure(function, request, init)
                self._tell_finished(function, request, env, result, started_ms, init.duration_ms)
                return result
            run = await self._run(env, function, request)
        finally:
            await self.scheduler.release(env, key)
        if run.is_environment_lost and self.scheduler.is_shutting_down:
            raise ServiceException(SHUTDOWN_MESSAGE)
        header = f"START RequestId: {request.request_id} Version: {function.version}\n"
        init_output = _lines(init.output) if init is not None else ""
        init_ms = init.duration_ms if init is not None else None
        log_text = (init_output + header + _lines(run.output) + f"END RequestId: {request.request_id}\n"
                    + self._report(function, request.request_id, run.duration_ms, run.max_memory_mb, init_ms))
        outcome = run.outcome
        error = None if outcome.kind is OutcomeKind.RESPONSE else "Unhandled"
        result = InvokeResult(outcome.body, error, log_text, function.version)
        self._tell_finished(function, request, env, result, started_ms, run.duration_ms)
        return result

    def _tell_finished(self, function: FunctionConfig, request: InvokeRequest, env: Environment,
                       result: InvokeResult, started_ms: int, duration_ms: float) -> None:
        self.telemetry.invocation_finished(InvocationRecord(
            function_name=function.name, qualifier=request.qualifier, executed_version=function.version,
            started_ms=started_ms, ended_ms=int(time.time() * 1000), duration_ms=duration_ms,
            is_error=result.function_error is not None, log_stream_name=env.log_stream_name,
            log_text=result.log_text))

    def _init_failure(self, function: FunctionConfig, request: InvokeRequest, init: InitResult) -> InvokeResult:
        assert init.error is not None
        if self.scheduler.is_shutting_down:  # killed mid-init by the shutdown, not by its own fault
            raise ServiceException(SHUTDOWN_MESSAGE)
        if init.error.error_type in ("Runtime.ExitError", "Runtime.OutOfMemory"):
            # The runtime died without reporting: AWS names the invocation that started it.
            payload = _with_message_prefix(init.error.body, f"RequestId: {request.request_id} Error: ")
        else:
            payload = _with_request_id(init.error.body, "")
        header = f"START RequestId: {request.request_id} Version: {function.version}\n"
        log_text = _lines(init.output) + header + f"END RequestId: {request.request_id}\n" + self._report(
            function, request.request_id, init.duration_ms, 0, init.duration_ms)
        return InvokeResult(payload, "Unhandled", log_text, function.version)

    async def _run(self, env: Environment, function: FunctionConfig, request: InvokeRequest) -> RunResult:
        deadline_ms = int(time.time() * 1000) + function.timeout_s * 1000
        pending = PendingInvocation(
            request_id=request.request_id,
            payload=request.payload,
            deadline_ms=deadline_ms,
            invoked_function_arn=function_arn(self.settings.region, self.settings.account_id, function.name,
                                              request.qualifier),
            trace_id=request.trace_id,
            client_context=request.client_context,
        )
        return await env.run(pending, function.timeout_s)

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

    async def _prepare_layers(self, function: FunctionConfig) -> Path | None:
        """The function's layers merged into one folder (built once per set of layers)."""
        if not function.layers:
            return None
        digests = [layer.code.sha256_hex for layer in function.layers]
        merged = package.merged_layers_dir(self.settings.unpacked_dir, digests)
        if merged not in self._merged_layers:
            await asyncio.to_thread(package.merge_layers, self.settings.unpacked_dir, digests)
            self._merged_layers.add(merged)
        return merged

    async def provision(self, function: FunctionConfig) -> InitResult:
        """Start one provisioned-concurrency environment for `function` and park it ready."""
        opt_dir = await self._prepare_layers(function)
        return await self.scheduler.start_spare(
            function.memory_mb, lambda track: self._cold_start(function, opt_dir, "provisioned-concurrency", track))

    async def _cold_start(self, function: FunctionConfig, opt_dir: Path | None, initialization_type: str,
                          track: Callable[[Environment], None]) -> tuple[Environment, InitResult]:
        """A new environment for `function`: a parked one given the function, else a fresh one."""
        spec = self._spec(function, opt_dir, initialization_type)
        parked = None
        # A parked runtime's LD_LIBRARY_PATH was fixed when it started: a function that sets
        # its own needs a fresh process.
        if self.parking is not None and "LD_LIBRARY_PATH" not in function.environment:
            parked = self.parking.take(function.runtime, function.ephemeral_storage_mb)
        if parked is not None:
            track(parked)
            return parked, await parked.specialise(function.name, function.version, config_key(function), spec)
        env = Environment(function.name, function.version, config_key(function), self.sandbox, spec)
        track(env)
        return env, await env.start()

    def parked_environment(self, runtime_name: str) -> Environment:
        """An environment for `runtime_name` with no function yet, for the parking lot."""
        runtime = self.runtimes[runtime_name]
        lang_dir = runtime.lang_dir()
        environment_id = new_environment_id()
        # Only levels whose paths do not depend on the function park (Sandbox.can_park), so
        # the search paths are already those the function will get.
        roots = _Roots(task=self.sandbox.task_root(Path("/")), runtime=self.sandbox.runtime_root(RUNTIME_FILES_DIR),
                       lang=self.sandbox.lang_root(lang_dir) if lang_dir else None, opt=self.sandbox.opt_root(None))
        env = {**_search_paths(roots), "LANG": "en_US.UTF-8", "TZ": ":UTC",
               "_EMBER_PARKED": "1", "_EMBER_PREIMPORT": ",".join(self.settings.preimport_modules),
               "_EMBER_SDK_PATHS": self.sandbox.sdk_root(self.sdk_paths)}
        lang_root = roots.lang
        spec = SandboxSpec(
            environment_id=environment_id,
            argv=runtime.argv(self.sandbox.runtime_root(RUNTIME_FILES_DIR), lang_root),
            env=env,
            task_dir=None,
            runtime_dir=RUNTIME_FILES_DIR,
            lang_dir=lang_dir,
            opt_dir=None,
            work_dir=self.settings.environments_dir / environment_id,
            sdk_paths=self.sdk_paths,
            memory_mb=PARKED_MEMORY_MB,
            tmp_size_mb=PARKED_TMP_SIZE_MB,
        )
        return Environment("", "", "", self.sandbox, spec)

    def _spec(self, function: FunctionConfig, opt_dir: Path | None, initialization_type: str) -> SandboxSpec:
        runtime = self.runtimes[function.runtime]
        environment_id = new_environment_id()
        lang_dir = runtime.lang_dir()
        roots = _Roots(
            task=self.sandbox.task_root(self.code_dir(function)),
            runtime=self.sandbox.runtime_root(RUNTIME_FILES_DIR),
            lang=self.sandbox.lang_root(lang_dir) if lang_dir else None,
            opt=self.sandbox.opt_root(opt_dir),
        )
        return SandboxSpec(
            environment_id=environment_id,
            argv=runtime.argv(roots.runtime, roots.lang),
            env={**self._environment_variables(function, roots),
                 "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type},
            task_dir=self.code_dir(function),
            runtime_dir=RUNTIME_FILES_DIR,
            lang_dir=lang_dir,
            opt_dir=opt_dir,
            work_dir=self.settings.environments_dir / environment_id,
            sdk_paths=self.sdk_paths,
            memory_mb=function.memory_mb,
            tmp_size_mb=function.ephemeral_storage_mb,
        )

    def _environment_variables(self, function: FunctionConfig, roots: _Roots) -> dict[str, str]:
        region = self.settings.region
        defaults = {"TZ": ":UTC", "LANG": "en_US.UTF-8", **_search_paths(roots)}
        reserved = {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": function.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name(function.version),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "LAMBDA_TASK_ROOT": roots.task,
            "LAMBDA_RUNTIME_DIR": roots.runtime,
            "_HANDLER": function.handler,
        }
        if roots.opt != "/opt":
            reserved["_EMBER_OPT_ROOT"] = roots.opt  # the plain level has no /opt: tell the bootstrap
        reserved["_EMBER_SDK_PATHS"] = self.sandbox.sdk_root(self.sdk_paths)
        # As on Lambda: users may override PATH, TZ, LANG..., never the reserved keys.
        return {**defaults, **function.environment, **reserved}


def _search_paths(roots: _Roots) -> dict[str, str]:
    """Lambda's own PATH and LD_LIBRARY_PATH, with /opt/bin and /opt/lib for layers."""
    lang_bin = f"{roots.lang}/bin:" if roots.lang else ""
    lang_lib = f"{roots.lang}/lib:" if roots.lang else ""  # a shared libpython lives there
    return {
        "PATH": f"{lang_bin}/usr/local/bin:/usr/bin:/bin:{roots.opt}/bin",
        "LD_LIBRARY_PATH": f"{lang_lib}/lib64:/usr/lib64:{roots.runtime}:{roots.runtime}/lib:{roots.task}:"
                           f"{roots.task}/lib:{roots.opt}/lib",
    }


@dataclass(frozen=True)
class _Roots:
    """Where an environment sees its code, Ember's runtime files, the interpreter and /opt."""

    task: str
    runtime: str
    lang: str | None
    opt: str


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _lines(data: bytes) -> str:
    """Output as log lines: a last line left unfinished is ended, so START/END start their own."""
    text = _decode(data)
    return text + "\n" if text and not text.endswith("\n") else text


def _with_message_prefix(body: bytes, prefix: str) -> bytes:
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict) and isinstance(document.get("errorMessage"), str):
        document["errorMessage"] = prefix + document["errorMessage"]
    return json.dumps(document).encode()


def _with_request_id(body: bytes, request_id: str) -> bytes:
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if isinstance(document, dict) and "requestId" not in document:
        document["requestId"] = request_id
    return json.dumps(document).encode()


def new_request_id() -> str:
    return str(uuid.uuid4())
