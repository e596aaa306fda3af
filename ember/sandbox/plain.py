"""The plain level: a subprocess in its own session with rlimits. NO ISOLATION.

The function runs as Ember's own user and can see the host's files and network. It is
for hosts without namespaces (macOS, locked-down containers) and says so loudly.
A timeout or shutdown still ends the whole tree: processes are found by parentage and
by an environment marker they inherit, so `setsid()` and double-forked escapees die too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import socket
import sys
from pathlib import Path

from ember.egress import Reach
from ember.sandbox.base import Sandbox, SandboxProcess, SandboxSpec
from ember.sandbox.function_network import FunctionNetwork
from ember.sandbox.watchdog import TreeWatchdog, Watch

MARKER_VARIABLE = "EMBER_ENVIRONMENT_ID"
MAX_OPEN_FILES = 1024
MAX_PROCESSES = 1024


class PlainSandbox(Sandbox):
    level = "plain"
    warning = ("NO ISOLATION: functions run as Ember's own user with full access to this host and its "
               "network (no --function-network mode is enforced)")
    description = "a process in its own session with rlimits and a memory watchdog; no isolation"
    # No parking: the code's host path, and so LD_LIBRARY_PATH, is only known per function,
    # and the dynamic loader reads LD_LIBRARY_PATH once, when the process starts.
    can_park = False
    shares_host_network = True

    def __init__(self, state_dir: Path, network: FunctionNetwork | None = None) -> None:
        # Environments share the host's network: no mode can be enforced (the warning says so).
        self.network = network or FunctionNetwork()
        self.watchdog = TreeWatchdog()

    def task_root(self, task_dir: Path) -> str:
        return str(task_dir)  # no mount namespace: the code stays where it is

    def runtime_root(self, runtime_dir: Path) -> str:
        return str(runtime_dir)

    def lang_root(self, lang_dir: Path) -> str:
        return str(lang_dir)

    def opt_root(self, opt_dir: Path | None) -> str:
        return str(opt_dir) if opt_dir else "/opt"

    def sdk_root(self, sdk_paths: tuple[Path, ...]) -> str:
        folders = dict.fromkeys(str(path.parent) for path in sdk_paths)  # ordered, unique
        return os.pathsep.join(folders)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return None if os.name == "posix" else "needs a POSIX host"

    async def start(self, spec: SandboxSpec) -> SandboxProcess:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        tmp_dir = spec.work_dir / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        env = dict(spec.env)
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{listener.getsockname()[1]}"
        env["TMPDIR"] = str(tmp_dir)  # no mount namespace: /tmp itself is the host's
        env[MARKER_VARIABLE] = spec.environment_id
        try:
            process = await asyncio.create_subprocess_exec(
                *spec.argv,
                stdin=asyncio.subprocess.PIPE if spec.has_start_gate else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                cwd=spec.task_dir or spec.work_dir,  # a parked runtime changes directory when specialised
                start_new_session=True,
                preexec_fn=_limit_resources,
                limit=1 << 20,
            )
        except BaseException:
            listener.close()
            raise
        watch = self.watchdog.watch(process.pid, spec.memory_mb, MAX_PROCESSES)
        return PlainProcess(process, listener, spec.environment_id, self.watchdog, watch)


def _limit_resources() -> None:
    # Runs in the child between fork and exec.
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class PlainProcess(SandboxProcess):
    def __init__(self, process: asyncio.subprocess.Process, listener: socket.socket, environment_id: str,
                 watchdog: TreeWatchdog, watch: Watch) -> None:
        self._process = process
        self._watchdog = watchdog
        self._watch = watch
        self.listener = listener
        assert process.stdout is not None
        self.output = process.stdout
        self.gate = process.stdin
        self._marker = f"{MARKER_VARIABLE}={environment_id}".encode()
        self._peak_mb = 0

    async def wait(self) -> int:
        return await self._process.wait()

    def oom_killed(self) -> bool:
        return self._watch.is_over_memory

    def detached_process_count(self) -> int | None:
        parents, marked = _scan(self._marker)
        return len(marked - _descendants(parents, {self._process.pid}))

    async def specialise(self, task_dir: Path, opt_dir: Path | None, memory_mb: int, reach: Reach | None) -> None:
        self._watch.memory_limit_bytes = memory_mb * 1024 * 1024

    async def kill(self) -> None:
        self._watchdog.unwatch(self._watch)
        for _ in range(5):
            victims = _tree(self._process.pid, self._marker)
            if not victims:
                break
            for pid in victims:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        await self._process.wait()
        self.listener.close()

    def peak_memory_mb(self) -> int:
        self._peak_mb = max(self._peak_mb, -(-self._watch.peak_bytes // (1024 * 1024)))
        # VmHWM: the kernel's record of the runtime process's own peak resident memory.
        try:
            with open(f"/proc/{self._process.pid}/status", "rb") as status:
                for line in status:
                    if line.startswith(b"VmHWM:"):
                        self._peak_mb = max(self._peak_mb, -(-int(line.split()[1]) // 1024))
                        break
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
        return self._peak_mb


def _tree(root_pid: int, marker: bytes) -> set[int]:
    """Live pids of `root_pid`'s descendants and of every process carrying `marker`."""
    if not sys.platform.startswith("linux"):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(root_pid, signal.SIGKILL)
        return set()
    parents, marked = _scan(marker)
    found = {root_pid} if root_pid in parents else set()
    return _descendants(parents, found | marked)


def _scan(marker: bytes) -> tuple[dict[int, int], set[int]]:
    """Every live process's parent, and the pids of those carrying `marker` (Linux /proc)."""
    parents: dict[int, int] = {}
    marked: set[int] = set()
    if not sys.platform.startswith("linux"):
        return parents, marked
    own_pid = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat_file:
                fields = stat_file.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z":
                continue
            parents[pid] = int(fields[1])
            if pid != own_pid:
                with open(f"/proc/{pid}/environ", "rb") as environ_file:
                    if marker in environ_file.read().split(b"\0"):
                        marked.add(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
    return parents, marked


def _descendants(parents: dict[int, int], roots: set[int]) -> set[int]:
    """`roots` and every live process below them."""
    found = {pid for pid in roots if pid in parents}
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in found and pid not in found}
        found |= children
        grew = bool(children)
    return found
