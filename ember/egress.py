"""Where a function's network traffic may go: the network modes and a VPC network's destinations.

Pure data, read by the three parts that meet here: `ember serve --function-network` (the
mode), the operator's VPC networks (ember/networks.py, destinations per security group)
and the sandbox that enforces the result (ember/sandbox/firewall.py). Ember's own API and
the Runtime API are reached on the environment's loopback in every case and are not
described here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

#: none: Ember's API and the Runtime API only; outbound: any address but the host's (AWS's
#: functions outside a VPC); host: outbound plus the host's loopback services at host.ember.internal
NETWORK_MODES = ("none", "outbound", "host")
#: the name under which an environment reaches the host's loopback services, where allowed
HOST_NAME = "host.ember.internal"
PROTOCOLS = ("tcp", "udp", "any")


class DestinationError(ValueError):
    """A destination that cannot be parsed; the message shows the accepted forms."""


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"


@dataclass(frozen=True)
class Destination:
    """Addresses (a CIDR, a host name resolved when an environment starts, or the Ember host's
    loopback services) and the ports and protocol allowed to them."""

    address: str  #: a CIDR such as "10.0.0.0/24", a host name, or HOST_NAME for the Ember host
    ports: tuple[PortRange, ...] = ()  #: empty: every port
    protocol: str = "tcp"

    @property
    def is_host(self) -> bool:
        return self.address == HOST_NAME

    @property
    def network(self) -> ipaddress.IPv4Network | None:
        """The CIDR, or None for a host name (resolved later) and the Ember host."""
        try:
            return ipaddress.IPv4Network(self.address, strict=False)
        except ValueError:
            return None

    def __str__(self) -> str:
        ports = ",".join(str(port) for port in self.ports) or "all"
        return f"{self.protocol}:{self.address}:{ports}"


@dataclass(frozen=True)
class Reach:
    """What one environment may reach besides its own loopback (Ember's API, the Runtime API)."""

    #: any address that is not the Ember host's (outbound and host modes)
    reaches_internet: bool = False
    #: every loopback port of the Ember host but Ember's own, at host.ember.internal (host mode)
    reaches_host: bool = False
    #: a VPC network's allowed destinations (with reaches_internet False: exactly these)
    destinations: tuple[Destination, ...] = ()

    @property
    def has_network(self) -> bool:
        """Whether the environment needs a network interface at all."""
        return self.reaches_internet or self.reaches_host or bool(self.destinations)

    @property
    def touches_host(self) -> bool:
        """Whether any of its traffic may go to the Ember host's loopback services."""
        return self.reaches_host or any(destination.is_host for destination in self.destinations)


def reach_of_mode(mode: str) -> Reach:
    """The Reach of a function outside any VPC network under `mode` (one of NETWORK_MODES)."""
    if mode not in NETWORK_MODES:
        raise ValueError(f"unknown network mode {mode!r}; choose one of {', '.join(NETWORK_MODES)}")
    return Reach(reaches_internet=mode != "none", reaches_host=mode == "host")


def parse_ports(text: str) -> tuple[PortRange, ...]:
    """"5432", "80,443", "8000-8100" or "all" (→ empty: every port)."""
    if text.strip().lower() in ("", "all", "*"):
        return ()
    ranges = []
    for part in text.split(","):
        first_text, _, last_text = part.strip().partition("-")
        try:
            first = int(first_text)
            last = int(last_text) if last_text else first
        except ValueError:
            raise DestinationError(
                f"{part.strip()!r} is not a port or range: write 5432, 80,443 or 8000-8100") from None
        if not 1 <= first <= last <= 65535:
            raise DestinationError(f"{part.strip()!r}: ports go from 1 to 65535, the first not above the last")
        ranges.append(PortRange(first, last))
    return tuple(ranges)


def destination(address: str, ports: str = "all", protocol: str = "tcp") -> Destination:
    """A checked Destination: `address` is a CIDR or IPv4 address, a host name, or "host" (the
    Ember host's loopback services)."""
    address = address.strip()
    if protocol not in PROTOCOLS:
        raise DestinationError(f"protocol {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if address in ("host", HOST_NAME):
        return Destination(HOST_NAME, parse_ports(ports), protocol)
    try:
        network = ipaddress.ip_network(address, strict=False)
    except ValueError:
        network = None
    if network is not None:
        if network.version != 4:
            raise DestinationError(f"{address}: environments have IPv4 networks only; name an IPv4 address or CIDR")
        return Destination(str(network), parse_ports(ports), protocol)
    labels = address.rstrip(".").split(".")
    if not address or not all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
        raise DestinationError(f"{address!r} is neither an IPv4 address or CIDR, a host name, nor \"host\"")
    return Destination(address.rstrip(".").lower(), parse_ports(ports), protocol)
