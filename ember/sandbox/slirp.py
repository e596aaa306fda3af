"""A user-mode network stack (slirp4netns) that gives one environment's namespace a way out.

slirp4netns puts a tap device in the environment's network namespace and turns the
packets the function sends into ordinary sockets opened from the host's network
namespace, so a function's connections leave as the Ember host's own would, with no
bridge, no routes and no firewall rules on the host. Inside, the namespace sees:

    10.0.2.100  its own address (tap0), default route via 10.0.2.2
    10.0.2.2    the gateway; connections to it reach the host's 127.0.0.1 unless the stack
                was started with the host's loopback shut (--disable-host-loopback)
    10.0.2.3    a DNS forwarder to the host's resolvers

slirp4netns runs under a seccomp filter (--enable-seccomp), and as root also in a mount
namespace of its own with no capabilities (--enable-sandbox): it parses packets a function
wrote. It ends when
Ember closes the exit pipe, and therefore with Ember even after `kill -9`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
from pathlib import Path

GATEWAY = "10.0.2.2"
DNS_FORWARDER = "10.0.2.3"
SUBNET = "10.0.2.0/24"
INTERFACE = "tap0"
#: the tap's MTU: large, so that bulk transfers cost fewer packets through the user-mode stack
MTU = 65520
READY_TIMEOUT_S = 10.0


def unavailable_reason() -> str | None:
    if shutil.which("slirp4netns") is None:
        return "slirp4netns is not installed (apt-get install slirp4netns)"
    if not os.path.exists("/dev/net/tun"):
        return "the host has no /dev/net/tun (the tun module)"
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        return ("/dev/net/tun is not open to this user (udev's default rule makes it 0666: "
                "chmod 0666 /dev/net/tun as root)")
    return None


class Slirp:
    """One running slirp4netns, attached to one environment's network namespace."""

    def __init__(self, process: asyncio.subprocess.Process, exit_write: int, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self._exit_write: int | None = exit_write

    @classmethod
    async def start(cls, pid: int, opens_host_loopback: bool, user_namespace_fd: int | None,
                    max_open_files: int, log_path: Path) -> Slirp:
        """A stack for the network namespace of `pid`, ready (tap0 up and routed) on return.

        `opens_host_loopback`: whether 10.0.2.2 reaches the host's loopback services at all
        (the firewall inside the namespace then says which ports). `user_namespace_fd`: the user
        namespace that owns the network namespace, to join first (None: it is the host's).
        `max_open_files` bounds the host sockets the stack may hold for the function; what it
        prints goes to `log_path`."""
        ready_read, ready_write = os.pipe()
        exit_read, exit_write = os.pipe()
        # As root it runs with no capabilities in a mount namespace of its own (--enable-sandbox),
        # made from one whose mounts are private first: so its pivot_root and unmounts cannot reach
        # the shared mounts parked environments receive code through. Without root it runs as Ember's
        # own unprivileged user already, and --enable-sandbox cannot work in a user namespace that
        # maps no uid 0 (the environment's).
        if os.geteuid() == 0:
            argv = ["unshare", "--mount", "--propagation", "private", "slirp4netns", "--enable-sandbox"]
        else:
            argv = ["slirp4netns"]
        argv += ["--configure", f"--mtu={MTU}", "--enable-seccomp", f"--ready-fd={ready_write}",
                 f"--exit-fd={exit_read}"]
        if not opens_host_loopback:
            argv.append("--disable-host-loopback")
        passed = [ready_write, exit_read]
        if user_namespace_fd is not None:
            argv.append(f"--userns-path=/proc/self/fd/{user_namespace_fd}")
            passed.append(user_namespace_fd)
        argv += [str(pid), INTERFACE]
        try:
            with open(log_path, "wb") as log:
                process = await asyncio.create_subprocess_exec(
                    *argv, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                    pass_fds=passed, start_new_session=True)
        except BaseException:
            for fd in (ready_read, ready_write, exit_read, exit_write):
                os.close(fd)
            raise
        os.close(ready_write)
        os.close(exit_read)
        slirp = cls(process, exit_write, log_path)
        try:
            with contextlib.suppress(ProcessLookupError):
                resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (max_open_files, max_open_files))
            is_ready = await asyncio.wait_for(asyncio.to_thread(os.read, ready_read, 1), READY_TIMEOUT_S)
            if is_ready != b"1":
                raise OSError(f"slirp4netns could not set up the network: {await slirp._errors()}")
        except BaseException:
            await slirp.stop()
            raise
        finally:
            os.close(ready_read)
        return slirp

    async def _errors(self) -> str:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        code = await self.process.wait()
        try:
            output = self.log_path.read_text(errors="replace").strip()[-500:]
        except OSError:
            output = ""
        return output or f"exit code {code}"

    async def stop(self) -> None:
        if self._exit_write is not None:
            os.close(self._exit_write)  # slirp4netns exits on its own; kill in case it is stuck
            self._exit_write = None
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()
