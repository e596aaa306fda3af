"""VPC networks an operator declares: which destinations a function with a VpcConfig may reach.

A network (its id is the VpcId, e.g. `vpc-dev`) has subnets and security groups; each security
group lists the destinations it allows out (AWS's egress rules). A function whose VpcConfig
names subnets of one network and some of its security groups reaches the union of those
groups' destinations and nothing else. Declared with `ember network ...` (ember/cli/network.py)
into `networks.json` in the data dir, which the server reads again whenever it changes: no
restart, and a function's next new environment gets the new rules.

The file is replaced atomically (write, fsync, rename) under an exclusive lock, so a change
made while the server runs is seen whole or not at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ember.egress import Destination, DestinationError, Reach, destination

FILE_NAME = "networks.json"
#: the forms Lambda's API accepts in a VpcConfig (its model's patterns), and AWS's for a VPC
_ID_PATTERNS = {
    "vpc": re.compile(r"^vpc-[0-9a-z]{1,60}$"),
    "subnet": re.compile(r"^subnet-[0-9a-z]{1,60}$"),
    "sg": re.compile(r"^sg-[0-9a-zA-Z]{1,60}$"),
}


class NetworkError(ValueError):
    """A declaration that cannot be made (the message says what to change)."""


class UnknownSubnet(LookupError):
    def __init__(self, subnet_id: str) -> None:
        super().__init__(subnet_id)
        self.subnet_id = subnet_id


class UnknownSecurityGroup(LookupError):
    def __init__(self, group_id: str) -> None:
        super().__init__(group_id)
        self.group_id = group_id


class SubnetsInSeveralNetworks(LookupError):
    """The subnets of one VpcConfig belong to more than one network."""


class GroupOutsideNetwork(LookupError):
    def __init__(self, group_id: str, vpc_id: str) -> None:
        super().__init__(group_id, vpc_id)
        self.group_id, self.vpc_id = group_id, vpc_id


@dataclass
class Network:
    vpc_id: str
    subnet_ids: list[str] = field(default_factory=list)
    #: security group id → the destinations it allows out
    security_groups: dict[str, list[Destination]] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {"subnets": list(self.subnet_ids),
                "security_groups": {group: [_destination_record(d) for d in destinations]
                                    for group, destinations in self.security_groups.items()}}

    @classmethod
    def from_record(cls, vpc_id: str, record: dict[str, Any]) -> Network:
        groups = {group: [_destination_from_record(d) for d in destinations]
                  for group, destinations in record.get("security_groups", {}).items()}
        return cls(vpc_id, list(record.get("subnets", [])), groups)


def _destination_record(item: Destination) -> dict[str, Any]:
    return {"address": item.address, "protocol": item.protocol,
            "ports": ",".join(str(port) for port in item.ports) or "all"}


def _destination_from_record(record: dict[str, Any]) -> Destination:
    return destination(record["address"], record.get("ports", "all"), record.get("protocol", "tcp"))


def check_id(kind: str, value: str) -> str:
    if not _ID_PATTERNS[kind].match(value):
        raise NetworkError(f"{value!r} is not a {kind} id: write {kind}- and then letters and digits, "
                           f"e.g. {kind}-dev (as Lambda's VpcConfig takes them)")
    return value


class NetworkRegistry:
    """The data dir's declared networks; reads are cached until the file changes."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE_NAME
        self._cached: tuple[tuple[int, int] | None, dict[str, Network]] = (None, {})

    # Reading

    def networks(self) -> dict[str, Network]:
        """vpc id → Network, as the file holds them now."""
        try:
            info = self.path.stat()
            stamp: tuple[int, int] | None = (info.st_mtime_ns, info.st_size)
        except FileNotFoundError:
            return {}
        if stamp == self._cached[0]:
            return self._cached[1]
        networks = self._read()
        self._cached = (stamp, networks)
        return networks

    def _read(self) -> dict[str, Network]:
        try:
            document = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (ValueError, OSError) as exc:
            raise NetworkError(f"{self.path} cannot be read ({exc}); fix or remove it") from None
        try:
            return {vpc_id: Network.from_record(vpc_id, record)
                    for vpc_id, record in document.get("networks", {}).items()}
        except (KeyError, TypeError, AttributeError, DestinationError) as exc:
            raise NetworkError(f"{self.path} holds a malformed network ({exc}); fix or remove it") from None

    def resolve(self, subnet_ids: list[str], group_ids: list[str]) -> tuple[str, Reach]:
        """(VpcId, what a function with this VpcConfig reaches); raises UnknownSubnet,
        UnknownSecurityGroup, SubnetsInSeveralNetworks or GroupOutsideNetwork."""
        networks = self.networks()
        by_subnet = {subnet: network for network in networks.values() for subnet in network.subnet_ids}
        chosen: set[str] = set()
        for subnet_id in subnet_ids:
            if subnet_id not in by_subnet:
                raise UnknownSubnet(subnet_id)
            chosen.add(by_subnet[subnet_id].vpc_id)
        if len(chosen) > 1:
            raise SubnetsInSeveralNetworks(sorted(chosen))
        network = networks[chosen.pop()]
        allowed: list[Destination] = []
        for group_id in group_ids:
            if group_id not in network.security_groups:
                if any(group_id in other.security_groups for other in networks.values()):
                    raise GroupOutsideNetwork(group_id, network.vpc_id)
                raise UnknownSecurityGroup(group_id)
            allowed += [d for d in network.security_groups[group_id] if d not in allowed]
        return network.vpc_id, Reach(destinations=tuple(allowed))

    def reach_of(self, vpc_id: str, group_ids: tuple[str, ...]) -> Reach:
        """What a function recorded in `vpc_id` with `group_ids` reaches now (its network's rules
        may have changed since); a network or group removed since allows nothing."""
        network = self.networks().get(vpc_id)
        if network is None:
            return Reach()
        allowed: list[Destination] = []
        for group_id in group_ids:
            allowed += [d for d in network.security_groups.get(group_id, []) if d not in allowed]
        return Reach(destinations=tuple(allowed))

    def touches_host(self) -> bool:
        """Whether any declared destination is the Ember host's loopback services."""
        return any(d.is_host for network in self.networks().values()
                   for destinations in network.security_groups.values() for d in destinations)

    # Changing (the `ember network` commands)

    def create(self, vpc_id: str, subnet_ids: list[str], group_ids: list[str]) -> Network:
        check_id("vpc", vpc_id)
        for subnet_id in subnet_ids:
            check_id("subnet", subnet_id)
        for group_id in group_ids:
            check_id("sg", group_id)
        if not subnet_ids:
            raise NetworkError("a network needs at least one subnet: add --subnets subnet-...")
        with self._changing() as networks:
            if vpc_id in networks:
                raise NetworkError(f"network {vpc_id} exists already; delete it first or add to it")
            taken = {s: n.vpc_id for n in networks.values() for s in n.subnet_ids}
            taken.update({g: n.vpc_id for n in networks.values() for g in n.security_groups})
            for name in subnet_ids + group_ids:
                if name in taken:
                    raise NetworkError(f"{name} belongs to network {taken[name]} already")
            network = Network(vpc_id, list(subnet_ids), {group: [] for group in group_ids})
            networks[vpc_id] = network
        return network

    def allow(self, vpc_id: str, group_id: str, allowed: Destination) -> Network:
        check_id("sg", group_id)
        with self._changing() as networks:
            network = networks.get(vpc_id)
            if network is None:
                raise NetworkError(f"there is no network {vpc_id}; create it with `ember network create`")
            others = [n.vpc_id for n in networks.values() if n.vpc_id != vpc_id and group_id in n.security_groups]
            if others:
                raise NetworkError(f"{group_id} belongs to network {others[0]}")
            rules = network.security_groups.setdefault(group_id, [])
            if allowed not in rules:
                rules.append(allowed)
        return network

    def delete(self, vpc_id: str) -> None:
        with self._changing() as networks:
            if networks.pop(vpc_id, None) is None:
                raise NetworkError(f"there is no network {vpc_id}")

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict[str, Network]]:
        """The networks, to change in place; written back atomically if the block succeeds."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_suffix(".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            networks = self._read()
            yield networks
            document = {"networks": {vpc_id: network.to_record() for vpc_id, network in networks.items()}}
            temporary = self.path.with_suffix(".tmp")
            with open(temporary, "w") as out:
                json.dump(document, out, indent=2)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
