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
from ember.invoke.environment import Environment, log_stream_name, new_environment_id
from ember.invoke.scheduler import Scheduler
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
    relevant = [function.code.sha256_hex, function.runtime, function.handler, function.memory_mb,
                function.timeout_s, function.ephemeral_storage_mb, sorted(function.environment.items()),
                function.role]
    return hashlib.sha256(json.dumps(relevant).encode()).hexdigest()


class Invoker:
    def __init__(self, settings: Settings, sandbox: Sandbox, scheduler: Scheduler,
                 runtimes: dict[str, Runtime]) -> None:
        self.settings = settings
        self.sandbox = sandbox
        self.scheduler = scheduler
        self.runtimes = runtimes

    def code_dir(self, function: FunctionConfig) -> Path:
        return self.settings.unpacked_dir / function.code.sha256_hex

    async def invoke(self, function: FunctionConfig, request: InvokeRequest) -> InvokeResult:
        key = config_key(function)
        env, init = await self.scheduler.acquire(function.name, key, lambda: self._new_environment(function))
        version = function.version
        header = f"START RequestId: {request.request_id} Version: {version}\n"
        if init is not None and not init.is_ok:
            assert init.error is not None
            if self.scheduler.is_shutting_down:  # killed mid-init by the shutdown, not by its own fault
                raise ServiceException(SHUTDOWN_MESSAGE)
            if init.error.error_type in ("Runtime.ExitError", "Runtime.OutOfMemory"):
                # The runtime died without reporting: AWS names the invocation that started it.
                payload = _with_message_prefix(init.error.body, f"RequestId: {request.request_id} Error: ")
            else:
                payload = _with_request_id(init.error.body, "")
            log_text = _lines(init.output) + header + f"END RequestId: {request.request_id}\n" + self._report(
                function, request.request_id, init.duration_ms, 0, init.duration_ms)
            return InvokeResult(payload, "Unhandled", log_text, version)
        deadline_ms = int(time.time() * 1000) + function.timeout_s * 1000
        pending = PendingInvocation(
            request_id=request.request_id,
            payload=request.payload,
            deadline_ms=deadline_ms,
            invoked_function_arn=function_arn(self.settings.region, self.settings.account_id, function.name),
            trace_id=request.trace_id,
            client_context=request.client_context,
        )
        try:
            run = await env.run(pending, function.timeout_s)
        finally:
            await self.scheduler.release(env, key)
        if run.is_environment_lost and self.scheduler.is_shutting_down:
            raise ServiceException(SHUTDOWN_MESSAGE)
        init_output = _lines(init.output) if init is not None else ""
        init_ms = init.duration_ms if init is not None else None
        log_text = (init_output + header + _lines(run.output) + f"END RequestId: {request.request_id}\n"
                    + self._report(function, request.request_id, run.duration_ms, run.max_memory_mb, init_ms))
        outcome = run.outcome
        if outcome.kind is OutcomeKind.RESPONSE:
            return InvokeResult(outcome.body, None, log_text, version)
        return InvokeResult(outcome.body, "Unhandled", log_text, version)

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

    def _new_environment(self, function: FunctionConfig) -> Environment:
        runtime = self.runtimes[function.runtime]
        environment_id = new_environment_id()
        lang_dir = runtime.lang_dir()
        lang_root = self.sandbox.lang_root(lang_dir) if lang_dir else None
        env = self._environment_variables(function)
        if lang_root:
            env.setdefault("LD_LIBRARY_PATH", f"{lang_root}/lib")  # a shared libpython lives there
        spec = SandboxSpec(
            environment_id=environment_id,
            argv=runtime.argv(self.sandbox.runtime_root(RUNTIME_FILES_DIR), lang_root),
            env=env,
            task_dir=self.code_dir(function),
            runtime_dir=RUNTIME_FILES_DIR,
            lang_dir=lang_dir,
            work_dir=self.settings.environments_dir / environment_id,
            memory_mb=function.memory_mb,
            tmp_size_mb=function.ephemeral_storage_mb,
        )
        return Environment(function.name, config_key(function), self.sandbox, spec)

    def _environment_variables(self, function: FunctionConfig) -> dict[str, str]:
        region = self.settings.region
        defaults = {"TZ": ":UTC", "LANG": "en_US.UTF-8", "PATH": "/usr/local/bin:/usr/bin:/bin"}
        reserved = {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_VERSION": function.version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name(),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
            "LAMBDA_TASK_ROOT": self.sandbox.task_root(self.code_dir(function)),
            "LAMBDA_RUNTIME_DIR": self.sandbox.runtime_root(RUNTIME_FILES_DIR),
            "_HANDLER": function.handler,
        }
        # As on Lambda: users may override PATH, TZ, LANG..., never the reserved keys.
        return {**defaults, **function.environment, **reserved}


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


async def invoke_in_background(invoker: Invoker, function: FunctionConfig, request: InvokeRequest,
                               tasks: set[asyncio.Task[None]]) -> None:
    """Run an Event invocation without a caller waiting (durable queueing is not here yet)."""

    async def run() -> None:
        try:
            result = await invoker.invoke(function, request)
            if result.function_error:
                log.info("async invoke %s of %s failed: %s", request.request_id, function.name,
                         result.payload[:200].decode(errors="replace"))
        except Exception:
            log.exception("async invoke %s of %s could not run", request.request_id, function.name)

    task = asyncio.create_task(run())
    tasks.add(task)
    task.add_done_callback(tasks.discard)
