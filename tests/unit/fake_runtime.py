"""Environments without processes or sockets, for unit tests of what runs them.

`FakeSandbox` "starts" a `FakeProcess`: its output is a stream the runtime writes to, its exit a
future. `FakeRuntime` stands in for the Runtime API server and the runtime behind it: it talks to
the environment's RuntimeChannel as the server would on behalf of a runtime that follows a
`Script` (init, then each invocation), moving a FakeClock as a real runtime would spend time.
Everything above (Environment, Scheduler, Invoker, Provisioner) is the real thing; `harness`
builds an Invoker over them for one function.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.arns import Home
from ember.blobs.local import LocalBlobStore
from ember.clock import FakeClock
from ember.code.cache import CodeCache
from ember.config import Settings
from ember.invoke.credentials import RoleCredentials
from ember.invoke.environment import AwsApiServing
from ember.invoke.invoker import Invoker, InvokeRequest
from ember.invoke.output import end_marker
from ember.invoke.scheduler import Limits, Scheduler
from ember.invoke.specs import EnvironmentPolicy
from ember.models import FunctionCode, FunctionConfig
from ember.runtime_api.channel import Outcome, OutcomeKind, PendingInvocation, RuntimeChannel
from ember.runtime_api.descriptors import ConnectionBudget
from ember.runtime_api.extensions import ExtensionsHub
from ember.runtimes.catalog import Runtime, RuntimeKind
from ember.sandbox import Sandbox, SandboxProcess, SandboxSpec
from ember.telemetry.hooks import InvocationRecord, Telemetry


class FakeProcess(SandboxProcess):
    """A runtime's process that is only a stream and an exit code."""

    def __init__(self, spec: SandboxSpec, peak_memory_mb: int, has_own_network: bool = False) -> None:
        self.spec = spec
        self.output = asyncio.StreamReader()
        self.listener = FakeListener(self)  # type: ignore[assignment]
        if has_own_network:  # a second listener for Ember's AWS APIs, as the isolated level makes
            self.api_listener = FakeListener(self)  # type: ignore[assignment]
        self.exit_code: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.peak_mb = peak_memory_mb
        self.is_killed = False
        self.is_frozen = False

    def exit(self, code: int) -> None:
        """The runtime's process ends by itself (a crash, exit())."""
        if not self.exit_code.done():
            self.exit_code.set_result(code)
            self.output.feed_eof()

    async def wait(self) -> int:
        return await asyncio.shield(self.exit_code)

    async def kill(self) -> None:
        self.is_killed = True
        self.exit(-9)

    def peak_memory_mb(self) -> int:
        return self.peak_mb

    def set_frozen(self, is_frozen: bool) -> None:
        self.is_frozen = is_frozen


@dataclass
class FakeListener:
    """What the sandbox hands the Runtime API server to serve: here, the process it runs in."""

    process: FakeProcess


#: where a FakeSandbox with networks of their own tells environments Ember's AWS APIs are
NAMESPACE_AWS_ENDPOINT = "http://127.0.0.1:4566"


class FakeSandbox(Sandbox):
    level = "fake"
    description = "no isolation: nothing runs"

    def __init__(self, peak_memory_mb: int = 42, has_own_network: bool = False) -> None:
        self.peak_memory_mb = peak_memory_mb
        self.processes: list[FakeProcess] = []
        #: environments get a network of their own, with Ember's AWS APIs at NAMESPACE_AWS_ENDPOINT
        self.has_own_network = has_own_network

    def aws_endpoint(self, host_endpoint: str | None) -> str | None:
        return NAMESPACE_AWS_ENDPOINT if self.has_own_network else host_endpoint

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return None

    async def start(self, spec: SandboxSpec) -> SandboxProcess:
        process = FakeProcess(spec, self.peak_memory_mb, self.has_own_network)
        self.processes.append(process)
        return process


@dataclass
class Script:
    """What the fake runtime does: `init_s` of clock time (printing `init_output`) before it asks
    for its first event, or exits with `init_exit_code` instead; then `handle` for each invocation
    (by default: print a line, take `run_s`, answer with the payload)."""

    clock: FakeClock
    init_s: float = 0.0
    init_output: bytes = b""
    init_exit_code: int | None = None
    run_s: float = 0.0
    handle: Callable[[FakeRuntime, PendingInvocation], Awaitable[None]] | None = None
    #: what each environment's runtime was handed, in order
    invocations: list[PendingInvocation] = field(default_factory=list)

    def runtime_api(self, channel: RuntimeChannel, hub: ExtensionsHub, budget: ConnectionBudget | None) -> FakeRuntime:
        """The Environment's Runtime API factory: one FakeRuntime per environment."""
        return FakeRuntime(self, channel)


class FakeRuntime:
    """The Runtime API server and the runtime it serves, in one task that follows a Script."""

    def __init__(self, script: Script, channel: RuntimeChannel) -> None:
        self.script = script
        self.channel = channel
        self.process: FakeProcess | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, listener: Any) -> None:
        self.process = listener.process
        self._task = asyncio.create_task(self._run())

    async def stop_accepting(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def close(self) -> None:
        await self.stop_accepting()

    def print(self, text: bytes) -> None:
        assert self.process is not None
        self.process.output.feed_data(text)

    def respond(self, invocation: PendingInvocation, body: bytes, kind: OutcomeKind = OutcomeKind.RESPONSE,
                error_type: str | None = None) -> None:
        """End an invocation as Ember's bootstraps do: the output marker, then the result."""
        if invocation.output_marker is not None:
            self.print(end_marker(invocation.output_marker))
        self.channel.report(invocation.request_id, Outcome(kind, body, error_type))

    async def _run(self) -> None:
        self.script.clock.advance(self.script.init_s)
        self.print(self.script.init_output)
        if self.script.init_exit_code is not None:
            assert self.process is not None
            self.process.exit(self.script.init_exit_code)
            return
        while True:
            invocation = await self.channel.next_invocation()
            self.script.invocations.append(invocation)
            await (self.script.handle or echo)(self, invocation)


async def echo(runtime: FakeRuntime, invocation: PendingInvocation) -> None:
    """Print a line, take the script's run_s, answer with the payload."""
    runtime.print(f"handling {json.loads(invocation.payload or b'null')}\n".encode())
    runtime.script.clock.advance(runtime.script.run_s)
    runtime.respond(invocation, invocation.payload)


async def hang(runtime: FakeRuntime, invocation: PendingInvocation) -> None:
    """Never answer (the function overruns its timeout)."""
    runtime.print(b"working...\n")
    await asyncio.Event().wait()


@dataclass
class RecordingTelemetry(Telemetry):
    """Keeps every log line and finished invocation the invoker tells it of."""

    lines: list[tuple[str, int, str]] = field(default_factory=list)  #: (stream, timestamp_ms, message)
    finished: list[InvocationRecord] = field(default_factory=list)

    def log_lines(self, function_name: str, log_stream_name: str, events: list[tuple[int, str]]) -> None:
        self.lines.extend((log_stream_name, stamp, message) for stamp, message in events)

    def invocation_finished(self, record: InvocationRecord) -> None:
        self.finished.append(record)


@dataclass
class Harness:
    """An Invoker (and its Scheduler) on a FakeClock, over the fake sandbox and runtime, with one
    function ("f", python3.12) whose code is in a real blob store and code cache."""

    clock: FakeClock
    script: Script
    sandbox: FakeSandbox
    telemetry: RecordingTelemetry
    invoker: Invoker
    function: FunctionConfig

    async def invoke(self, request_id: str, payload: object = None) -> tuple[dict[str, object], str]:
        """(the response payload, the REPORT line) of one invocation."""
        result = await self.invoker.invoke(self.function, InvokeRequest(json.dumps(payload).encode(), request_id))
        report = [line for line in result.log_text.splitlines(keepends=True) if line.startswith("REPORT")]
        return json.loads(result.payload), report[-1]

    async def close(self) -> None:
        await self.invoker.scheduler.shutdown()


def harness(tmp_path: Path, *, init_s: float = 0.25, run_s: float = 0.0421, memory_mb: int = 256,
            peak_memory_mb: int = 77, init_exit_code: int | None = None,
            role_credentials: RoleCredentials | None = None, environment: dict[str, str] | None = None,
            clock: FakeClock | None = None, sandbox: FakeSandbox | None = None,
            host_aws_endpoint: str | None = None, aws_api: AwsApiServing | None = None) -> Harness:
    clock = clock or FakeClock()
    script = Script(clock, init_s=init_s, run_s=run_s, init_exit_code=init_exit_code)
    sandbox = sandbox or FakeSandbox(peak_memory_mb)
    telemetry = RecordingTelemetry()
    settings = Settings(data_dir=tmp_path)
    blobs = LocalBlobStore(settings.code_dir)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    digest = blobs.put(buffer.getvalue())
    function = FunctionConfig(name="f", runtime="python3.12", handler="app.handler", role="role",
                              code=FunctionCode(digest, "b64", 10, 10), memory_mb=memory_mb,
                              environment=environment or {})
    runtime = Runtime("python3.12", RuntimeKind.PYTHON, Path("/usr/bin/python3.12"), "")
    scheduler = Scheduler(Limits(account_concurrency=10, memory_budget_mb=10_000), keep_alive_s=60, clock=clock)
    policy = EnvironmentPolicy(Home("us-east-1", "000000000000"), tmp_path, settings.environments_dir,
                               host_aws_endpoint=host_aws_endpoint)
    invoker = Invoker(policy, sandbox, scheduler, {"python3.12": runtime}, CodeCache(blobs, settings.unpacked_dir),
                      telemetry, clock, runtime_api=script.runtime_api, role_credentials=role_credentials,
                      aws_api=aws_api)
    return Harness(clock, script, sandbox, telemetry, invoker, function)
