"""The rootless level (Linux without root): bubblewrap in a user namespace.

The same namespaces as the isolated level (pid, network, ipc, uts, mount, and a user
namespace mapping Ember's own uid), the same file system and seccomp deny-list. What
root would add is missing: no cgroups, so memory and processes are held by a watchdog
(sampled, approximate), CPU is not shared out, `/tmp` is a tmpfs of EphemeralStorage
size (its pages count as memory), and every environment runs as Ember's own uid.

The Runtime API listener (127.0.0.1:9001) and the AWS APIs' one (127.0.0.1:4566,
AWS_ENDPOINT_URL) are made inside the environment by a small shim
(`ember/runtimes/listener_shim.py`) and handed out over an inherited Unix socket, since
an unprivileged process cannot enter another user namespace's network namespace.
bwrap waits on --block-fd until the function network (function_network.py) is attached.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from ember.sandbox import bwrap
from ember.sandbox.base import Sandbox, SandboxProcess, SandboxSpec, SandboxUnavailable
from ember.sandbox.function_network import FunctionNetwork, Link
from ember.sandbox.isolated import MAX_OPEN_FILES, MAX_PROCESSES, detached_under_init, gate_or_devnull, read_info
from ember.sandbox.netns import AWS_API_PORT, RUNTIME_API_PORT
from ember.sandbox.seccomp import deny_list_bpf, filter_fd
from ember.sandbox.watchdog import TreeWatchdog, Watch

NAMESPACES = ["--unshare-all", "--unshare-user", "--disable-userns"]
CHANNEL_VARIABLE = "EMBER_LISTENER_CHANNEL_FD"


class RootlessSandbox(Sandbox):
    level = "rootless"
    warning = None
    needs_helper_python = True  # the listener shim
    description = ("bubblewrap namespaces in a user namespace, seccomp; memory and processes held by a "
                   "watchdog (approximate), CPU not limited")

    def __init__(self, state_dir: Path, network: FunctionNetwork | None = None) -> None:
        self.network = network or FunctionNetwork()
        self.etc_dir = state_dir / "sandbox-etc"
        bwrap.write_etc(self.etc_dir, [os.getuid()], self.network.etc_files())
        self.seccomp_bpf = deny_list_bpf()
        self.watchdog = TreeWatchdog()

    def aws_endpoint(self, host_endpoint: str | None) -> str | None:
        return f"http://127.0.0.1:{AWS_API_PORT}"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if sys.platform != "linux":
            return "needs Linux"
        if shutil.which("bwrap") is None:
            return "bubblewrap is not installed (apt-get install bubblewrap)"
        probe = subprocess.run(
            ["bwrap", *NAMESPACES, "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
             "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64", "/usr/bin/true"],
            capture_output=True, text=True, timeout=10, check=False,
        )
        if probe.returncode != 0:
            return f"unprivileged user namespaces are not available ({probe.stderr.strip() or probe.returncode})"
        return None

    async def start(self, spec: SandboxSpec) -> SandboxProcess:
        process = RootlessProcess(spec, self)
        try:
            await process.launch()
        except BaseException:
            await process.kill()
            raise
        return process


class RootlessProcess(SandboxProcess):
    def __init__(self, spec: SandboxSpec, sandbox: RootlessSandbox) -> None:
        self.spec = spec
        self.sandbox = sandbox
        self.init_pid: int | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._watch: Watch | None = None
        self._is_dead = False
        self.link: Link | None = None

    async def launch(self) -> None:
        spec = self.spec
        # The shim is Python: a Python runtime's own interpreter, else the host's (catalog.helper_python);
        # the catalog marks runtimes unavailable at this level when there is none.
        if spec.python is None:
            raise SandboxUnavailable("the rootless level needs a Python 3.9+ in /usr/bin to start this runtime")
        host_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        info_read, info_write = os.pipe()
        block_read, block_write = os.pipe()
        child_fds = [info_write, block_read, child_end.fileno()]
        seccomp_fd = None
        if self.sandbox.seccomp_bpf is not None:
            seccomp_fd = filter_fd(self.sandbox.seccomp_bpf)
            child_fds.append(seccomp_fd)
        if spec.task_dir is None:  # the invoke layer parks only where Sandbox.can_park
            raise ValueError("the rootless level cannot park an environment: it needs the function's code")
        layout = bwrap.Layout(spec.task_dir, spec.runtime_dir, spec.lang_dir, spec.opt_dir, self.sandbox.etc_dir,
                              None, spec.tmp_size_mb, spec.sdk_paths)
        argv = ["bwrap", *NAMESPACES, "--die-with-parent", "--new-session", "--hostname", "lambda",
                *bwrap.filesystem_args(layout), "--info-fd", str(info_write), "--block-fd", str(block_read)]
        if seccomp_fd is not None:
            argv += ["--seccomp", str(seccomp_fd)]
        argv += [spec.python, "-S", "-I", f"{bwrap.RUNTIME_DIR}/listener_shim.py", *spec.argv]
        env = {**spec.env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{RUNTIME_API_PORT}",
               CHANNEL_VARIABLE: str(child_end.fileno())}
        try:
            self._process = await asyncio.create_subprocess_exec(
                *argv, stdin=gate_or_devnull(spec), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=env, pass_fds=child_fds, limit=1 << 20,
                # Its own session: Ctrl-C in Ember's terminal signals Ember's process group, and the
                # environment must live on through the shutdown grace rather than die of it.
                start_new_session=True,
            )
        finally:
            os.close(info_write)
            os.close(block_read)
            child_end.close()
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        try:
            info = await asyncio.wait_for(asyncio.to_thread(read_info, info_read), 10)
            self.init_pid = int(info["child-pid"])
            resource.prlimit(self.init_pid, resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
            self._watch = self.sandbox.watchdog.watch(self.init_pid, spec.memory_mb, MAX_PROCESSES)
            network = self.sandbox.network
            # Its network namespace belongs to its user namespace: act in it from inside that.
            self.link = await network.attach(self.init_pid, spec.reach or network.default_reach, True, spec.work_dir)
            os.write(block_write, b"go")
            os.close(block_write)
            block_write = -1
            self.listener, self.api_listener = await asyncio.wait_for(
                asyncio.to_thread(_receive_listeners, host_end), 10)
        finally:
            host_end.close()
            if block_write >= 0:
                os.close(block_write)
        assert self._process.stdout is not None
        self.output = self._process.stdout
        self.gate = self._process.stdin

    async def wait(self) -> int:
        assert self._process is not None
        code = await self._process.wait()
        return bwrap.exit_code(code)

    def oom_killed(self) -> bool:
        return self._watch is not None and self._watch.is_over_memory

    def detached_process_count(self) -> int | None:
        return None if self.init_pid is None else detached_under_init(self.init_pid)

    def peak_memory_mb(self) -> int:
        return 0 if self._watch is None else -(-self._watch.peak_bytes // (1024 * 1024))

    async def kill(self) -> None:
        if self._is_dead:
            return
        self._is_dead = True
        if self._watch is not None:
            self.sandbox.watchdog.unwatch(self._watch)
        if self.init_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)  # the pid namespace's init: everything goes
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
        if self.link is not None:
            await self.link.close()
        if getattr(self, "listener", None) is not None:
            self.listener.close()
        if self.api_listener is not None:
            self.api_listener.close()
        shutil.rmtree(self.spec.work_dir, ignore_errors=True)


def _receive_listeners(channel: socket.socket) -> tuple[socket.socket, socket.socket]:
    """The Runtime API's listener and the AWS APIs' one, as the listener shim sends them."""
    channel.settimeout(10)
    _, fds, _, _ = socket.recv_fds(channel, 16, 2)
    listeners = [socket.socket(fileno=fd) for fd in fds]
    if len(listeners) != 2:
        for listener in listeners:
            listener.close()
        raise OSError("the environment exited before it handed over its Runtime API and AWS API listeners")
    for listener in listeners:
        listener.setblocking(False)
    return listeners[0], listeners[1]
