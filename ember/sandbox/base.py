"""The Sandbox interface: start(spec) → SandboxProcess; kill; stats.

The invoke path only ever sees this interface, so a stronger isolation level replaces
an implementation, never its callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ember.egress import Reach
from ember.sandbox.function_network import FunctionNetwork


class SandboxUnavailable(Exception):
    """The host cannot give the requested isolation level (the message says why)."""


@dataclass(frozen=True)
class SandboxSpec:
    """Everything a sandbox needs to start one execution environment."""

    environment_id: str
    argv: list[str]  #: the runtime's command, in the sandbox's paths; it must speak the Runtime API
    env: dict[str, str]  #: the environment, without AWS_LAMBDA_RUNTIME_API (the sandbox adds it)
    task_dir: Path | None  #: the function's unpacked code, read-only to it; None to park (see Sandbox.can_park)
    runtime_dir: Path  #: Ember's in-environment runtime files (bootstraps), read-only
    lang_dir: Path | None  #: the runtime's install tree (e.g. a pyenv build), shown read-only at lang_root
    opt_dir: Path | None  #: the function's layers merged, shown read-only at opt_root (/opt)
    work_dir: Path  #: a scratch folder on the host for this environment alone
    memory_mb: int
    tmp_size_mb: int  #: EphemeralStorage
    sdk_paths: tuple[Path, ...] = ()  #: the SDK's packages (boto3...), shown read-only at sdk_root
    #: a Python 3.9+ the environment can run (its path inside), for levels that start a helper
    #: before the runtime (Sandbox.needs_helper_python); None when there is none
    python: str | None = None
    #: the runtime's stdin is a pipe that stays silent until the host opens the gate
    #: (SandboxProcess.open_gate): the extensions launcher waits on it before starting the runtime
    has_start_gate: bool = False
    #: what the environment's network may reach (a VPC network's destinations); None: what the
    #: server's function network mode gives every function (Sandbox.network)
    reach: Reach | None = None


class SandboxProcess(ABC):
    """A running environment: its process tree, output and Runtime API listener."""

    #: listening socket the Runtime API server must serve (the runtime connects to it)
    listener: socket.socket
    #: listening socket inside the environment's own network on which Ember serves its AWS APIs
    #: (Sandbox.namespace_aws_endpoint); None where the environment shares the host's network
    api_listener: socket.socket | None = None
    #: the runtime's stdout and stderr, merged in write order
    output: asyncio.StreamReader
    #: the write end of the runtime's stdin when its spec asked for a start gate
    gate: asyncio.StreamWriter | None = None

    async def open_gate(self) -> None:
        """Let a gated start proceed (see SandboxSpec.has_start_gate). Idempotent."""
        if self.gate is not None and not self.gate.is_closing():
            self.gate.write(b"go\n")
            self.gate.close()
            with contextlib.suppress(ConnectionError):
                await self.gate.wait_closed()

    def detached_process_count(self) -> int | None:
        """Live processes of the environment outside the runtime's own tree (started detached, as
        the extensions launcher starts extensions), or None when the level cannot tell."""
        return None

    @abstractmethod
    async def wait(self) -> int:
        """Wait for the runtime's main process to exit; its return code (negative: signal)."""

    @abstractmethod
    async def kill(self) -> None:
        """End the whole process tree, including processes that left its session. Idempotent."""

    @abstractmethod
    def peak_memory_mb(self) -> int:
        """The most memory the environment has used so far, in MB."""

    def oom_killed(self) -> bool:
        """Whether the environment was ended for exceeding its memory."""
        return False

    async def specialise(self, task_dir: Path, opt_dir: Path | None, memory_mb: int, reach: Reach | None) -> None:
        """Give a parked environment (started without code) its function's code, layers, memory
        limit and, when it differs from the server's mode (a VPC network), what its network may
        reach. Only levels whose `can_park` is true implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot be parked")

    def set_frozen(self, is_frozen: bool) -> None:  # noqa: B027 - levels without a freezer keep running
        """Stop every process of the environment where it stands (True), or let them run on (False),
        as Lambda freezes an environment between invocations."""

    def init_done(self) -> None:  # noqa: B027 - an optional hook; most levels need nothing here
        """The runtime finished its init: apply limits that init runs without (CPU share)."""


class Sandbox(ABC):
    """An isolation level: starts environments and says what it protects against."""

    level: ClassVar[str]
    #: printed at start-up and in every REPORT line when the level gives no isolation
    warning: ClassVar[str | None] = None
    #: what the level enforces, for the start-up log and /_ember/health
    description: str = ""
    #: whether environments can be started before their function is known, then specialised
    can_park: ClassVar[bool] = False
    #: whether the level runs a Python helper before the runtime (SandboxSpec.python must be set)
    needs_helper_python: ClassVar[bool] = False
    #: whether environments share the host's network (they then reach Ember's AWS APIs on a
    #: listener of the host's loopback, see aws_endpoint)
    shares_host_network: ClassVar[bool] = False
    #: the function network: its mode, limits and what enforces them (levels with a network
    #: namespace of their own enforce it; levels sharing the host's cannot)
    network: FunctionNetwork

    @abstractmethod
    def __init__(self, state_dir: Path, network: FunctionNetwork | None = None) -> None:
        """Take what the level needs on the host; `state_dir` (the data dir) holds what it keeps
        on disk; `network` is the function network (None: mode none). Raises SandboxUnavailable
        when the host refuses it after all."""

    def aws_endpoint(self, host_endpoint: str | None) -> str | None:
        """The AWS_ENDPOINT_URL an environment is given: where it reaches Ember's AWS APIs from
        inside. Levels sharing the host's network use `host_endpoint` (the server's listener for
        functions on the host's loopback); levels with a network of their own override this with
        the address of their process's `api_listener`."""
        return host_endpoint

    def task_root(self, task_dir: Path) -> str:
        """Where the function's code appears inside an environment (LAMBDA_TASK_ROOT)."""
        return "/var/task"

    def runtime_root(self, runtime_dir: Path) -> str:
        """Where Ember's runtime files appear inside an environment (LAMBDA_RUNTIME_DIR)."""
        return "/var/runtime"

    def lang_root(self, lang_dir: Path) -> str:
        """Where a runtime's install tree appears inside an environment (Lambda's /var/lang)."""
        return "/var/lang"

    def opt_root(self, opt_dir: Path | None) -> str:
        """Where a function's layers appear inside an environment (/opt)."""
        return "/opt"

    def sdk_root(self, sdk_paths: tuple[Path, ...]) -> str:
        """The sys.path entries (os.pathsep-joined) under which an environment finds the SDK."""
        return "/var/sdk"

    @classmethod
    @abstractmethod
    def unavailable_reason(cls) -> str | None:
        """None if this host can give the level, else why not."""

    @abstractmethod
    async def start(self, spec: SandboxSpec) -> SandboxProcess:
        """Start the runtime described by `spec`; return once its process exists."""

    def close(self) -> None:  # noqa: B027 - an optional hook; most levels hold nothing host-wide
        """Shutdown's last step, once every environment has ended: give back what the level holds
        on the host (folders, claims)."""
