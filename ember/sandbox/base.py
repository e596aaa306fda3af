"""The Sandbox interface: start(spec) → SandboxProcess; kill; stats.

The invoke path only ever sees this interface, so a stronger isolation level replaces
an implementation, never its callers.
"""

from __future__ import annotations

import asyncio
import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


class SandboxUnavailable(Exception):
    """The host cannot give the requested isolation level (the message says why)."""


@dataclass(frozen=True)
class SandboxSpec:
    """Everything a sandbox needs to start one execution environment."""

    environment_id: str
    argv: list[str]  #: the runtime's command; it must speak the Runtime API
    env: dict[str, str]  #: the environment, without AWS_LAMBDA_RUNTIME_API (the sandbox adds it)
    task_dir: Path  #: the function's unpacked code, read-only to the function
    work_dir: Path  #: a scratch folder on the host for this environment alone
    memory_mb: int
    tmp_size_mb: int  #: EphemeralStorage


class SandboxProcess(ABC):
    """A running environment: its process tree, output and Runtime API listener."""

    #: listening socket the Runtime API server must serve (the runtime connects to it)
    listener: socket.socket
    #: the runtime's stdout and stderr, merged in write order
    output: asyncio.StreamReader

    @abstractmethod
    async def wait(self) -> int:
        """Wait for the runtime's main process to exit; its return code (negative: signal)."""

    @abstractmethod
    async def kill(self) -> None:
        """End the whole process tree, including processes that left its session. Idempotent."""

    @abstractmethod
    def peak_memory_mb(self) -> int:
        """The most memory the environment has used so far, in MB."""


class Sandbox(ABC):
    """An isolation level: starts environments and says what it protects against."""

    level: ClassVar[str]
    #: printed at start-up and in every REPORT line when the level gives no isolation
    warning: ClassVar[str | None] = None

    @classmethod
    @abstractmethod
    def unavailable_reason(cls) -> str | None:
        """None if this host can give the level, else why not."""

    @abstractmethod
    async def start(self, spec: SandboxSpec) -> SandboxProcess:
        """Start the runtime described by `spec`; return once its process exists."""
