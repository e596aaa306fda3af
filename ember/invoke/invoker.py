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
from dataclasses import dataclass
from pathlib import Path

from ember.arns import function_arn
from ember.config import Settings
from ember.errors import ServiceException
from ember.invoke.environment import Environment, InitResult, RunResult, log_stream_name, new_environment_id
from ember.invoke.scheduler import Scheduler
from ember.lambda_ import package
from ember.models import FunctionConfig
from ember.runtime_api.channel import OutcomeKind, PendingInvocation
from ember.runtimes.catalog import RUNTIME_FILES_DIR, Runtime
from ember.sandbox import Sandbox, SandboxSpec

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
                 runtimes: dict[str, Runtime]) -> None:
        self.settings = settings
        self.sandbox = sandbox
        self.scheduler = scheduler
        self.runtimes = runtimes
        self._merged_layers: set[Path] = set()

    def code_dir(self, function: FunctionConfig) -> Path:
        return self.settings.unpacked_dir / function.code.sha256_hex

    async def invoke(self, function: FunctionConfig, request: InvokeRequest) -> InvokeResult:
        key = config_key(function)
        opt_dir = await self._prepare_layers(function)
        env, init = await self.scheduler.acquire(function.name, key, function.memory_mb,
                                                 lambda: self._new_environment(function, opt_dir))
        try:
            if init is not None and not init.is_ok:
                return self._init_failure(function, request, init)
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
        return InvokeResult(outcome.body, error, log_text, function.version)

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
            function.memory_mb, lambda: self._new_environment(function, opt_dir, "provisioned-concurrency"))

    def _new_environment(self, function: FunctionConfig, opt_dir: Path | None,
                         initialization_type: str = "on-demand") -> Environment:
        runtime = self.runtimes[function.runtime]
        environment_id = new_environment_id()
        lang_dir = runtime.lang_dir()
        roots = _Roots(
            task=self.sandbox.task_root(self.code_dir(function)),
            runtime=self.sandbox.runtime_root(RUNTIME_FILES_DIR),
            lang=self.sandbox.lang_root(lang_dir) if lang_dir else None,
            opt=self.sandbox.opt_root(opt_dir),
        )
        spec = SandboxSpec(
            environment_id=environment_id,
            argv=runtime.argv(roots.runtime, roots.lang),
            env={**self._environment_variables(function, roots),
                 "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type},
            task_dir=self.code_dir(function),
            runtime_dir=RUNTIME_FILES_DIR,
            lang_dir=lang_dir,
            opt_dir=opt_dir,
            work_dir=self.settings.environments_dir / environment_id,
            memory_mb=function.memory_mb,
            tmp_size_mb=function.ephemeral_storage_mb,
        )
        return Environment(function.name, function.version, config_key(function), self.sandbox, spec)

    def _environment_variables(self, function: FunctionConfig, roots: _Roots) -> dict[str, str]:
        region = self.settings.region
        lang_bin = f"{roots.lang}/bin:" if roots.lang else ""
        lang_lib = f"{roots.lang}/lib:" if roots.lang else ""  # a shared libpython lives there
        defaults = {
            "TZ": ":UTC",
            "LANG": "en_US.UTF-8",
            # Lambda's own search paths, with /opt/bin and /opt/lib for layers.
            "PATH": f"{lang_bin}/usr/local/bin:/usr/bin:/bin:{roots.opt}/bin",
            "LD_LIBRARY_PATH": f"{lang_lib}/lib64:/usr/lib64:{roots.runtime}:{roots.runtime}/lib:{roots.task}:"
                               f"{roots.task}/lib:{roots.opt}/lib",
        }
        reserved = {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": function.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name(),
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "LAMBDA_TASK_ROOT": roots.task,
            "LAMBDA_RUNTIME_DIR": roots.runtime,
            "_HANDLER": function.handler,
        }
        if roots.opt != "/opt":
            reserved["_EMBER_OPT_ROOT"] = roots.opt  # the plain level has no /opt: tell the bootstrap
        # As on Lambda: users may override PATH, TZ, LANG..., never the reserved keys.
        return {**defaults, **function.environment, **reserved}


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
