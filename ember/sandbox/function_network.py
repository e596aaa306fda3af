"""Function networks: the mode a server gives its environments, and each environment's link.

`FunctionNetwork` is made once per server from `--function-network` and the link limits; the
levels with a network namespace of their own (isolated, rootless) call `attach` for each
environment before its runtime runs. An environment whose Reach needs no network (mode
`none`, outside any VPC network) gets nothing: its loopback, where Ember's API and the
Runtime API listen, is all it has. Otherwise it gets a user-mode stack (slirp.py) and the
firewall of its Reach (firewall.py). docs/networking.md draws the paths.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import resource
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ember.egress import HOST_NAME, Reach, reach_of_mode
from ember.sandbox import firewall, slirp
from ember.sandbox.firewall import LinkLimits
from ember.sandbox.netns import owning_user_namespace

log = logging.getLogger(__name__)


class NetworkUnavailable(OSError):
    """An environment's network could not be set up (the message says what failed)."""


def unavailable_reason() -> str | None:
    """None if this host can give environments a network of their own, else why not."""
    for tool, package in (("nft", "nftables"), ("nsenter", "util-linux")):
        if shutil.which(tool, path=firewall.TOOL_PATH) is None:
            return f"{tool} is not installed (apt-get install {package})"
    return slirp.unavailable_reason()


@dataclass
class FunctionNetwork:
    """The server's function network settings, and what enforces them."""

    mode: str = "none"  #: one of egress.NETWORK_MODES
    limits: LinkLimits = field(default_factory=LinkLimits)
    #: resolvers environments are told to use; empty: the user-mode stack's forwarder to the host's
    dns_servers: tuple[str, ...] = ()
    #: Ember's own ports on the host, which host.ember.internal never reaches (set once listening)
    ember_ports: set[int] = field(default_factory=set)
    #: whether some VPC network names the host's loopback services now (then every stack opens
    #: them, so a parked environment can become any function; each firewall still says which ports)
    names_host: Callable[[], bool] = field(default=lambda: False)

    @property
    def default_reach(self) -> Reach:
        """What a function outside any VPC network reaches."""
        return reach_of_mode(self.mode)

    @property
    def resolvers(self) -> tuple[str, ...]:
        return self.dns_servers or (slirp.DNS_FORWARDER,)

    def etc_files(self) -> dict[str, str]:
        """Files for the environments' /etc: the resolvers, and host.ember.internal."""
        return {"resolv.conf": "".join(f"nameserver {server}\n" for server in self.resolvers),
                "hosts": f"127.0.0.1 localhost\n::1 localhost\n{slirp.GATEWAY} {HOST_NAME}\n"}

    def describe(self) -> str:
        return {"none": "no network but Ember's API and the Runtime API",
                "outbound": "outbound connections to anything but the Ember host",
                "host": f"outbound connections, and the host's loopback services at {HOST_NAME}"}[self.mode]

    async def attach(self, pid: int, reach: Reach, in_user_namespace: bool, work_dir: Path) -> Link | None:
        """Give `pid`'s network namespace what `reach` needs (None when that is nothing).
        `in_user_namespace`: the namespace belongs to a user namespace (rootless), acted in from there."""
        if not reach.has_network:
            return None
        opens_loopback = self.mode == "host" or reach.touches_host or self.names_host()
        work_dir.mkdir(parents=True, exist_ok=True)
        owner = owning_user_namespace(pid) if in_user_namespace else None
        link = Link(self, pid, owner, work_dir)
        try:
            await link.start(reach, opens_loopback)
        except BaseException as exc:
            await link.close()
            if isinstance(exc, OSError):
                raise NetworkUnavailable(str(exc)) from exc
            raise
        return link

    @functools.cached_property
    def stack_open_files(self) -> int:
        """The descriptors one user-mode stack may hold: a backstop, not the cap (the firewall caps
        open connections). The stack keeps a closed connection's socket through TCP's TIME_WAIT
        (about 10 s), so a function making short connections quickly holds many more than are
        open; as much as the server's own hard limit allows."""
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = max(4096, 8 * self.limits.connections)
        return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)

    def _ruleset(self, reach: Reach) -> str:
        return firewall.ruleset(reach, firewall.host_ipv4_addresses(), self.ember_ports, self.resolvers, self.limits)


class Link:
    """One environment's network: its user-mode stack and its firewall."""

    def __init__(self, network: FunctionNetwork, pid: int, user_namespace_fd: int | None, work_dir: Path) -> None:
        self.network = network
        self.pid = pid
        self.user_namespace_fd = user_namespace_fd  #: the owner of the network namespace; None: the host's
        self.work_dir = work_dir
        self.stack: slirp.Slirp | None = None
        self.opens_loopback = False

    async def start(self, reach: Reach, opens_loopback: bool) -> None:
        rules = asyncio.ensure_future(self._set_rules(reach, replaces=False))
        try:
            await self._start_stack(opens_loopback)
        finally:
            await rules  # raises if the firewall could not be set; close() then stops the stack

    async def _start_stack(self, opens_loopback: bool) -> None:
        self.stack = await slirp.Slirp.start(self.pid, opens_loopback, self.user_namespace_fd,
                                             self.network.stack_open_files, self.work_dir / "slirp.log")
        self.opens_loopback = opens_loopback

    async def _set_rules(self, reach: Reach, replaces: bool) -> None:
        script = await asyncio.to_thread(self.network._ruleset, reach)
        await firewall.apply(self.pid, script, self.user_namespace_fd, replaces)

    async def restrict(self, reach: Reach) -> None:
        """Replace the firewall with that of `reach` (a parked environment given its function)."""
        await self._set_rules(reach, replaces=True)
        if self.stack is not None and reach.touches_host and not self.opens_loopback:
            # Parked before a network named the host: a new stack, with the host's loopback open
            # (the old one's tap goes with it; the firewall above already holds).
            await self.stack.stop()
            await self._start_stack(True)

    async def close(self) -> None:
        if self.stack is not None:
            await self.stack.stop()
        if self.user_namespace_fd is not None:
            os.close(self.user_namespace_fd)
            self.user_namespace_fd = None
