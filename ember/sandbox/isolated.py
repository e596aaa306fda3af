"""The isolated level (Linux, root): bubblewrap namespaces, a uid of its own, seccomp, cgroups.

Each environment gets pid, network, ipc, uts, mount and cgroup namespaces (bwrap run as
real root, so no user namespace), then drops to a per-environment uid with no
capabilities and no_new_privs (setpriv), under a seccomp deny-list. A cgroup limits
memory to MemorySize, processes to 1,024 and CPU to MemorySize/1,769 vCPU (after init,
which runs unthrottled, as Lambda boosts its init phase). `/tmp` is a loop-mounted ext4
image of EphemeralStorage size, so it is disk, not memory. On the namespace's loopback, two
sockets the host makes inside it and serves: the Runtime API on 127.0.0.1:9001 and Ember's
AWS APIs on 127.0.0.1:4566 (AWS_ENDPOINT_URL). Beyond that, what the function network
(function_network.py) gives the environment's Reach: a user-mode stack and a firewall.

Start-up, without races: bwrap parks on --block-fd after building the namespaces; the
host reads the namespace's init pid from --info-fd, moves it into the cgroup, makes the
listeners and the network, then unblocks it. Killing that init ends every process in the namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import resource
import shutil
import signal
import subprocess
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ember.egress import Reach
from ember.sandbox import bwrap, mounts, tmpdisk
from ember.sandbox.base import Sandbox, SandboxProcess, SandboxSpec, SandboxUnavailable
from ember.sandbox.cgroups import Cgroup, CgroupDriver, detect_driver, instance_names
from ember.sandbox.function_network import FunctionNetwork, Link
from ember.sandbox.host_claims import ClaimRefused, HostClaims
from ember.sandbox.netns import AWS_API_PORT, RUNTIME_API_PORT, listeners_in_namespace_of
from ember.sandbox.reaper import Reaper
from ember.sandbox.seccomp import deny_list_bpf, filter_fd
from ember.sandbox.uids import FIRST_UID, POOL_SIZE, UidPool

log = logging.getLogger(__name__)

MAX_PROCESSES = 1024
MAX_OPEN_FILES = 1024
#: Lambda's ratio: 1,769 MB of memory buys one vCPU
MB_PER_VCPU = 1769
NAMESPACES = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]


class IsolatedSandbox(Sandbox):
    level = "isolated"
    can_park = True
    runtime_api = f"127.0.0.1:{RUNTIME_API_PORT}"

    def __init__(self, state_dir: Path, network: FunctionNetwork | None = None) -> None:
        self.network = network or FunctionNetwork()
        instance = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
        try:
            self.claims = HostClaims(instance, state_dir)
        except ClaimRefused as exc:
            raise SandboxUnavailable(str(exc)) from None
        driver, note = detect_driver(instance)
        assert driver is not None, note
        self.cgroups: CgroupDriver = driver
        self.description = f"bubblewrap namespaces, per-environment uid, seccomp, {note}"
        self.uids = UidPool(FIRST_UID + self.claims.uid_block * POOL_SIZE)
        self.etc_dir = state_dir / "sandbox-etc"
        bwrap.write_etc(self.etc_dir, self.uids.all_uids(), self.network.etc_files())
        self.seccomp_bpf = deny_list_bpf()
        self.cpu_count = os.cpu_count() or 1
        self.cgroups.remove_groups()  # what a previous run of this data dir left
        _release_environments(state_dir / "environments")
        self._clean_up_after_dead_servers()
        self.reaper = Reaper(instance, state_dir)

    def _clean_up_after_dead_servers(self) -> None:
        """What servers killed without a shutdown left on this host, whatever their data dir
        (their reapers clean up at once; this is for a server whose reaper died with it)."""
        for instance in self.claims.collect_dead(clean_up_instance):
            log.info("cleaned up after an Ember server that was killed (instance %s)", instance)
        # Folders of servers that kept no record (probes, older versions): their empty groups go;
        # a group still running something may belong to a live server of an older version.
        for instance in instance_names() - self.claims.live_instances():
            driver, _ = detect_driver(instance)
            if driver is not None:
                driver.remove_idle()

    def close(self) -> None:
        """After every environment has ended: remove the instance's cgroup folders, give up the
        claims, dismiss the reaper."""
        self.cgroups.remove_all()
        self.claims.release()
        self.reaper.dismiss()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if not os.uname().sysname == "Linux":
            return "needs Linux"
        if os.geteuid() != 0:
            return "needs root (run as root, or use --sandbox rootless)"
        for tool in ("bwrap", "setpriv", "mkfs.ext4", "mount"):
            if shutil.which(tool) is None:
                return f"{tool} is not installed (apt-get install bubblewrap util-linux e2fsprogs)"
        driver, note = detect_driver()
        if driver is None:
            return note
        driver.remove_all()  # the probe's folders
        return None

    def aws_endpoint(self, host_endpoint: str | None) -> str | None:
        return f"http://127.0.0.1:{AWS_API_PORT}"

    def cpu_limit(self, memory_mb: int) -> float:
        return min(self.cpu_count, memory_mb / MB_PER_VCPU)

    async def start(self, spec: SandboxSpec) -> SandboxProcess:
        uid = self.uids.take()
        process = IsolatedProcess(spec, uid, self)
        try:
            await process.launch()
        except BaseException:
            await process.kill()
            raise
        return process


def clean_up_instance(instance: str, state_dir: Path) -> None:
    """Everything the server of `instance` (data dir `state_dir`) left, folders included."""
    driver, _ = detect_driver(instance)
    if driver is not None:
        driver.remove_all()
        _release_environments(state_dir / "environments")


def _release_environments(environments_dir: Path) -> None:
    """Unmount and delete what environments of a server that died left: code slots, /tmp images."""
    if environments_dir.is_dir():
        for work_dir in environments_dir.iterdir():
            # Unmount before deleting: rmtree would otherwise walk into mounted code.
            mounts.release(work_dir / "task-slot")
            mounts.release(work_dir / "opt-slot")
            tmpdisk.destroy(work_dir / "tmp.img", work_dir / "tmp")
            shutil.rmtree(work_dir, ignore_errors=True)


class IsolatedProcess(SandboxProcess):
    def __init__(self, spec: SandboxSpec, uid: int, sandbox: IsolatedSandbox) -> None:
        self.spec = spec
        self.uid = uid
        self.sandbox = sandbox
        self.cgroup: Cgroup | None = None
        self.tmp_image = spec.work_dir / "tmp.img"
        self.tmp_mount = spec.work_dir / "tmp"
        self.task_slot = spec.work_dir / "task-slot"
        self.opt_slot = spec.work_dir / "opt-slot"
        self.init_pid: int | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._detaching: asyncio.Task[None] | None = None
        self._is_dead = False
        self.link: Link | None = None

    async def launch(self) -> None:
        spec = self.spec
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        self.cgroup = self.sandbox.cgroups.create(spec.environment_id, spec.memory_mb, MAX_PROCESSES)
        await _finished_even_if_cancelled(
            asyncio.to_thread(tmpdisk.create, self.tmp_image, self.tmp_mount, spec.tmp_size_mb, self.uid))
        task_dir, opt_dir = spec.task_dir, spec.opt_dir
        if task_dir is None:  # parked: empty slots now, the function's code later (see mounts.py)
            task_dir, opt_dir = self.task_slot, self.opt_slot
            mounts.make_slot(self.task_slot)
            mounts.make_slot(self.opt_slot)
        info_read, info_write = os.pipe()
        block_read, block_write = os.pipe()
        seccomp_fd = filter_fd(self.sandbox.seccomp_bpf) if self.sandbox.seccomp_bpf is not None else None
        child_fds = [info_write, block_read] + ([seccomp_fd] if seccomp_fd is not None else [])
        layout = bwrap.Layout(task_dir, spec.runtime_dir, spec.lang_dir, opt_dir, self.sandbox.etc_dir,
                              self.tmp_mount, spec.tmp_size_mb, spec.sdk_paths)
        argv = ["bwrap", *NAMESPACES, "--die-with-parent", "--new-session", "--hostname", "lambda",
                *bwrap.filesystem_args(layout),
                "--info-fd", str(info_write), "--block-fd", str(block_read)]
        if seccomp_fd is not None:
            argv += ["--seccomp", str(seccomp_fd)]
        argv += ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--no-new-privs",
                 "--bounding-set=-all", "--", *spec.argv]
        env = {**spec.env, "AWS_LAMBDA_RUNTIME_API": self.sandbox.runtime_api}
        try:
            self._process = await asyncio.create_subprocess_exec(
                *argv, stdin=gate_or_devnull(spec), stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=env, pass_fds=child_fds, limit=1 << 20,
                # Its own session: Ctrl-C in Ember's terminal signals Ember's process group, and the
                # environment must live on through the shutdown grace rather than die of it.
                start_new_session=True,
            )
        finally:
            for fd in child_fds:
                os.close(fd)
        try:
            info = await asyncio.wait_for(asyncio.to_thread(read_info, info_read), 10)
            self.init_pid = int(info["child-pid"])
            self.cgroup.attach(self.init_pid)
            # Set on the parked init, so the runtime inherits them; no preexec_fn (it forces
            # the slow fork path of process creation).
            resource.prlimit(self.init_pid, resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))
            resource.prlimit(self.init_pid, resource.RLIMIT_CORE, (0, 0))
            self.listener, self.api_listener = await listeners_in_namespace_of(self.init_pid, RUNTIME_API_PORT,
                                                                               AWS_API_PORT)
            network = self.sandbox.network
            self.link = await network.attach(self.init_pid, spec.reach or network.default_reach, False, spec.work_dir)
            os.write(block_write, b"go")
        finally:
            os.close(block_write)
        self._detaching = asyncio.create_task(self._detach_tmp_once_bound())
        assert self._process.stdout is not None
        self.output = self._process.stdout
        self.gate = self._process.stdin

    async def _detach_tmp_once_bound(self) -> None:
        """Drop the host's mount of /tmp as soon as the sandbox holds its own (tmpdisk.detach).

        Not at init_done: a parked environment may wait long before its init, and a server
        killed meanwhile would leave the mount behind.
        """
        # bwrap's init forks the runtime only once it has built the file system, /tmp included.
        children = Path(f"/proc/{self.init_pid}/task/{self.init_pid}/children")
        delay = 0.002
        while not self._is_dead:
            try:
                if children.read_bytes().strip():
                    tmpdisk.detach(self.tmp_mount)
                    return
            except OSError:
                return  # the sandbox is gone (kill unmounts), or no such file here (init_done detaches)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    def init_done(self) -> None:
        if self._is_dead:
            return
        # Init runs unthrottled; invocations get the CPU share their memory buys.
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                self.cgroup.set_cpu_limit(self.sandbox.cpu_limit(self.spec.memory_mb))
        # The runtime is running, so bwrap has bound /tmp inside: the host's mount can go, and a
        # server killed without cleaning up leaves no mounts under its data dir. Usually done
        # already by _detach_tmp_once_bound; detaching twice is harmless.
        tmpdisk.detach(self.tmp_mount)

    async def wait(self) -> int:
        assert self._process is not None
        code = await self._process.wait()
        # bwrap reports a child killed by signal N as 128 + N.
        return bwrap.exit_code(code)

    def oom_killed(self) -> bool:
        return self.cgroup is not None and self.cgroup.oom_kills() > 0

    def detached_process_count(self) -> int | None:
        return None if self.init_pid is None else detached_under_init(self.init_pid)

    def peak_memory_mb(self) -> int:
        if self.cgroup is None:
            return 0
        return -(-self.cgroup.peak_memory_bytes() // (1024 * 1024))

    def set_frozen(self, is_frozen: bool) -> None:
        if self.cgroup is not None and not self._is_dead:
            self.cgroup.set_frozen(is_frozen)

    async def kill(self) -> None:
        if self._is_dead:
            return
        self._is_dead = True
        if self._detaching is not None:
            self._detaching.cancel()
        if self.init_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)  # the namespace's init: takes everything with it
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
        if self.cgroup is not None:
            await asyncio.to_thread(self.cgroup.kill)  # anything that slipped out of the pid namespace
        if self._process is not None:
            await self._process.wait()
        if getattr(self, "listener", None) is not None:
            self.listener.close()
        if self.api_listener is not None:
            self.api_listener.close()
        if self.link is not None:
            await self.link.close()
        await asyncio.to_thread(self._release)

    async def specialise(self, task_dir: Path, opt_dir: Path | None, memory_mb: int, reach: Reach | None) -> None:
        if reach is not None and self.init_pid is not None:
            if self.link is not None:
                await self.link.restrict(reach)
            else:
                self.link = await self.sandbox.network.attach(self.init_pid, reach, False, self.spec.work_dir)

        def mount_code() -> None:
            mounts.fill_slot(task_dir, self.task_slot, self.spec.work_dir / "stage-task")
            if opt_dir is not None:
                mounts.fill_slot(opt_dir, self.opt_slot, self.spec.work_dir / "stage-opt")

        await asyncio.to_thread(mount_code)
        assert self.cgroup is not None
        self.cgroup.raise_memory_limit(memory_mb)
        self.spec = replace(self.spec, memory_mb=memory_mb)  # the CPU share follows it

    def _release(self) -> None:
        mounts.release(self.task_slot)
        mounts.release(self.opt_slot)
        if self.cgroup is not None:
            self.cgroup.remove()
        tmpdisk.destroy(self.tmp_image, self.tmp_mount)
        self.sandbox.uids.give_back(self.uid)


async def _finished_even_if_cancelled(work: Awaitable[None]) -> None:
    """Await `work` (a thread that mounts); if the caller is cancelled meanwhile (a shutdown while
    an environment starts), let the thread finish first, so that the kill that follows finds, and
    undoes, everything it made, rather than a mount made after the clean-up ran."""
    running = asyncio.ensure_future(work)
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await running
        raise


def gate_or_devnull(spec: SandboxSpec) -> int:
    """The runtime's stdin: a pipe for a gated start (SandboxSpec.has_start_gate), else /dev/null."""
    return asyncio.subprocess.PIPE if spec.has_start_gate else asyncio.subprocess.DEVNULL


def detached_under_init(init_pid: int) -> int:
    """Processes re-parented to a pid namespace's init (bwrap's), besides the runtime: its first child."""
    try:
        children = Path(f"/proc/{init_pid}/task/{init_pid}/children").read_text().split()
    except OSError:
        return 0  # the namespace is gone, and everything in it
    return max(0, len(children) - 1)


def read_info(fd: int) -> dict[str, Any]:
    """bwrap's --info-fd report (JSON with the namespace init's host pid)."""
    with os.fdopen(fd, "rb") as info:
        data = b""
        while not data.rstrip().endswith(b"}"):
            chunk = info.read1(4096)
            if not chunk:
                break
            data += chunk
    if not data:
        raise subprocess.SubprocessError("bwrap exited before it reported the sandbox's pid")
    report: dict[str, Any] = json.loads(data)
    return report

