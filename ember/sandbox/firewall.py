"""The firewall inside one environment's network namespace: nftables rules its Reach allows.

The rules live in the environment's own namespace, so they cost the host nothing and cannot
be changed by the function (it has no CAP_NET_ADMIN there), and they are replaced as one
transaction when a parked environment gets its function. In order, for packets leaving
the namespace (its own loopback, where Ember's API and the Runtime API listen, is always open):

1. the link's bandwidth limit, both ways, and at most `connections` connections at once;
2. DNS to the resolvers it is given;
3. never Ember's own ports on the host; the host's loopback services (10.0.2.2) only as the
   Reach allows; never the user-mode stack's other addresses, never an address of the host;
4. a VPC network's destinations, then anything else only if the Reach has the internet.

Refused connections are answered (reject), so a client fails at once rather than timing out.
IPv6 does not leave the namespace (the stack gives it IPv4 only).
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import ipaddress
import logging
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ember.egress import Destination, Reach
from ember.sandbox.netns import run_in_namespace_of
from ember.sandbox.slirp import GATEWAY, SUBNET

log = logging.getLogger(__name__)

#: where nft is looked for: the server's PATH, then the system folders an unprivileged user's PATH may lack
TOOL_PATH = os.pathsep.join([os.environ.get("PATH", "/usr/bin:/bin"), "/usr/sbin", "/sbin"])


@dataclass(frozen=True)
class LinkLimits:
    """What one environment's network may take of the host's."""

    connections: int = 1024  #: connections (TCP, and UDP flows) open at once
    bandwidth_mbit_s: int = 1000  #: each way


def host_ipv4_addresses(fib_trie: Path = Path("/proc/net/fib_trie")) -> list[str]:
    """Every IPv4 address of the host's own interfaces (the routing trie's LOCAL entries)."""
    addresses: set[str] = set()
    previous = ""
    try:
        lines = fib_trie.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        text = line.strip()
        if text.startswith("/32 host LOCAL") and previous:
            addresses.add(previous)
        elif text.startswith(("|--", "+--")):
            previous = text[3:].split()[0] if text.startswith("|--") else ""
    return sorted(addresses, key=lambda a: ipaddress.IPv4Address(a))


def _ports(destination: Destination) -> str:
    if not destination.ports:
        return ""
    return "th dport { " + ", ".join(str(port) for port in destination.ports) + " } "


def _protocol(destination: Destination) -> str:
    return "meta l4proto { tcp, udp } " if destination.protocol == "any" else f"meta l4proto {destination.protocol} "


def resolve(destination: Destination) -> list[str]:
    """The IPv4 networks a destination names now (a host name is looked up on the host)."""
    network = destination.network
    if network is not None:
        return [str(network)]
    try:
        answers = socket.getaddrinfo(destination.address, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError as exc:
        log.warning("the network destination %s does not resolve (%s); it allows nothing for now",
                    destination.address, exc)
        return []
    return sorted({str(answer[4][0]) for answer in answers})


def ruleset(reach: Reach, host_addresses: Iterable[str], ember_ports: Iterable[int], dns_servers: Iterable[str],
            limits: LinkLimits) -> str:
    """The nft script for an environment with `reach` (blocking: it resolves host names)."""
    kbytes_s = max(1, limits.bandwidth_mbit_s * 125)
    lines = [
        "table inet ember {",
        "  chain output {",
        "    type filter hook output priority 0; policy drop;",
        '    oifname "lo" accept',
        f"    limit rate over {kbytes_s} kbytes/second drop",
        "    ct state established,related accept",
        "    meta nfproto ipv6 reject",
        f"    ct state new ct count over {limits.connections} reject",
    ]
    for server in dns_servers:
        lines.append(f"    ip daddr {server} meta l4proto {{ tcp, udp }} th dport 53 accept")
    ports = sorted(set(ember_ports))
    if ports:
        lines.append(f"    ip daddr {GATEWAY} tcp dport {{ {', '.join(map(str, ports))} }} reject with tcp reset")
    if reach.reaches_host:
        lines.append(f"    ip daddr {GATEWAY} accept")
    for destination in reach.destinations:
        if destination.is_host:
            lines.append(f"    ip daddr {GATEWAY} {_protocol(destination)}{_ports(destination)}accept")
    lines.append(f"    ip daddr {SUBNET} reject")
    addresses = list(host_addresses)
    if addresses:
        lines.append(f"    ip daddr {{ {', '.join(addresses)} }} reject")
    lines.append("    ip daddr 127.0.0.0/8 reject")
    for destination in reach.destinations:
        if not destination.is_host:
            for network in resolve(destination):
                lines.append(f"    ip daddr {network} {_protocol(destination)}{_ports(destination)}accept")
    lines.append("    accept" if reach.reaches_internet else "    reject")
    lines += [
        "  }",
        "  chain input {",
        "    type filter hook input priority 0; policy accept;",
        f'    iifname != "lo" limit rate over {kbytes_s} kbytes/second drop',
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


async def apply(pid: int, script: str, user_namespace_fd: int | None, replaces: bool) -> None:
    """Set the rules in `pid`'s network namespace to `script`, as one transaction, acting from the
    user namespace `user_namespace_fd` (None: the host's) that owns that network. `replaces`:
    the namespace has Ember's table already (a parked environment given its function)."""
    # Deleting the table in the same transaction makes the script a replacement. Only then: a
    # deletion waits for an RCU grace period, ~10 ms of an environment's start.
    whole = ("table inet ember {}\ndelete table inet ember\n" if replaces else "") + script
    if user_namespace_fd is None and _nftables() is not None:
        error = await run_in_namespace_of(pid, lambda: _run_nft(whole))
    else:
        error = await _run_nft_in(pid, whole, user_namespace_fd)
    if error is not None:
        raise OSError(f"the environment's firewall could not be set: {error.strip()[:500]}")


async def _run_nft_in(pid: int, script: str, user_namespace_fd: int | None) -> str | None:
    """The nft command, entered into the namespaces with nsenter: what an Ember without root must
    do (a process with threads cannot join a user namespace), ~10 ms more than in-process."""
    argv = ["nsenter"]
    if user_namespace_fd is not None:
        argv += [f"--user=/proc/self/fd/{user_namespace_fd}", "--preserve-credentials"]
    argv += [f"--net=/proc/{pid}/ns/net", "nft", "-f", "-"]
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={"PATH": TOOL_PATH},
        pass_fds=() if user_namespace_fd is None else (user_namespace_fd,))
    output, _ = await process.communicate(script.encode())
    return None if process.returncode == 0 else output.decode(errors="replace")


@functools.cache
def _nftables() -> ctypes.CDLL | None:
    """libnftables (nft's own library, installed with it), or None where it cannot be loaded."""
    try:
        library = ctypes.CDLL("libnftables.so.1", use_errno=True)
    except OSError:
        return None
    library.nft_ctx_new.restype = ctypes.c_void_p
    library.nft_ctx_new.argtypes = [ctypes.c_uint32]
    library.nft_ctx_free.argtypes = [ctypes.c_void_p]
    library.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
    library.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
    library.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
    library.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
    library.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return library


def _run_nft(script: str) -> str | None:
    """Run `script` through libnftables in the calling thread's network namespace; its error text
    if it failed."""
    library = _nftables()
    assert library is not None
    context = library.nft_ctx_new(0)
    if not context:
        return "libnftables could not make a context"
    try:
        library.nft_ctx_buffer_output(context)
        library.nft_ctx_buffer_error(context)
        if library.nft_run_cmd_from_buffer(context, script.encode()) == 0:
            return None
        message: bytes | None = library.nft_ctx_get_error_buffer(context)
        return (message or b"nft failed").decode(errors="replace")
    finally:
        library.nft_ctx_free(context)
