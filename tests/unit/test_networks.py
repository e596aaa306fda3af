"""The operator's VPC networks (ember/networks.py) and the destinations they hold (ember/egress.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ember.egress import HOST_NAME, Destination, DestinationError, PortRange, Reach, destination, reach_of_mode
from ember.networks import (
    GroupOutsideNetwork,
    NetworkError,
    NetworkRegistry,
    SubnetsInSeveralNetworks,
    UnknownSecurityGroup,
    UnknownSubnet,
)
from ember.sandbox.firewall import LinkLimits, host_ipv4_addresses, ruleset


def test_destinations_parse_the_forms_the_cli_takes() -> None:
    assert destination("10.1.2.3") == Destination("10.1.2.3/32", (), "tcp")
    assert destination("10.1.2.0/24", "80,443,8000-8100", "any").ports == (
        PortRange(80, 80), PortRange(443, 443), PortRange(8000, 8100))
    assert destination("host", "5432").address == HOST_NAME and destination("host").is_host
    assert destination("DB.Internal.Example.").address == "db.internal.example"
    for address, ports, says in (("::1", "all", "IPv4 networks only"), ("10.0.0.0/8", "0", "from 1 to 65535"),
                                 ("10.0.0.0/8", "90-80", "from 1 to 65535"), ("10.0.0.0/8", "web", "not a port"),
                                 ("bad name!", "all", "neither an IPv4")):
        with pytest.raises(DestinationError, match=says):
            destination(address, ports)


def test_modes_give_what_their_names_say() -> None:
    assert reach_of_mode("none") == Reach() and not Reach().has_network
    assert reach_of_mode("outbound") == Reach(reaches_internet=True)
    assert reach_of_mode("host").touches_host
    with pytest.raises(ValueError, match="unknown network mode"):
        reach_of_mode("bridge")


def test_a_vpc_config_resolves_to_its_groups_destinations(tmp_path: Path) -> None:
    networks = NetworkRegistry(tmp_path)
    networks.create("vpc-a", ["subnet-a1", "subnet-a2"], ["sg-web", "sg-db"])
    networks.create("vpc-b", ["subnet-b"], ["sg-other"])
    networks.allow("vpc-a", "sg-web", destination("10.0.0.0/24", "443"))
    networks.allow("vpc-a", "sg-db", destination("host", "5432"))
    networks.allow("vpc-a", "sg-db", destination("host", "5432"))  # twice is once
    vpc_id, reach = networks.resolve(["subnet-a1", "subnet-a2"], ["sg-web", "sg-db"])
    assert vpc_id == "vpc-a" and not reach.reaches_internet
    assert reach.destinations == (destination("10.0.0.0/24", "443"), destination("host", "5432"))
    assert networks.touches_host()
    for subnets, groups, raised in ((["subnet-x"], ["sg-web"], UnknownSubnet),
                                    (["subnet-a1"], ["sg-x"], UnknownSecurityGroup),
                                    (["subnet-a1"], ["sg-other"], GroupOutsideNetwork),
                                    (["subnet-a1", "subnet-b"], ["sg-web"], SubnetsInSeveralNetworks)):
        with pytest.raises(raised):
            networks.resolve(subnets, groups)
    # a function keeps its VpcId; the rules it gets are the network's as they are now
    networks.delete("vpc-a")
    assert networks.reach_of("vpc-a", ("sg-web",)) == Reach()
    assert not networks.touches_host()


def test_declarations_are_checked_and_kept_in_the_data_dir(tmp_path: Path) -> None:
    networks = NetworkRegistry(tmp_path)
    networks.create("vpc-a", ["subnet-a"], ["sg-a"])
    for make, says in ((lambda: networks.create("vpc-a", ["subnet-z"], []), "exists already"),
                       (lambda: networks.create("vpc-z", ["subnet-a"], []), "belongs to network vpc-a"),
                       (lambda: networks.create("vpc-z", [], []), "at least one subnet"),
                       (lambda: networks.create("vpc-Z", ["subnet-z"], []), "is not a vpc id"),
                       (lambda: networks.allow("vpc-z", "sg-a", destination("10.0.0.1")), "no network vpc-z")):
        with pytest.raises(NetworkError, match=says):
            make()
    document = json.loads((tmp_path / "networks.json").read_text())
    assert list(document["networks"]) == ["vpc-a"]
    assert oct((tmp_path / "networks.json").stat().st_mode & 0o777) == "0o600"
    # another reader (the server) sees a change made through another registry (the CLI)
    NetworkRegistry(tmp_path).allow("vpc-a", "sg-a", destination("10.9.9.9", "53", "udp"))
    assert networks.networks()["vpc-a"].security_groups["sg-a"] == [destination("10.9.9.9", "53", "udp")]
    (tmp_path / "networks.json").write_text("{not json")
    with pytest.raises(NetworkError, match="cannot be read"):
        NetworkRegistry(tmp_path).networks()


def test_the_host_addresses_come_from_the_routing_tries_local_entries(tmp_path: Path) -> None:
    trie = tmp_path / "fib_trie"
    trie.write_text("""Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 192.0.2.0/24 2 0 2
        |-- 192.0.2.0
           /24 link UNICAST
        |-- 192.0.2.2
           /32 host LOCAL
Local:
  +-- 127.0.0.0/8 2 0 2
     |-- 127.0.0.1
        /32 host LOCAL
     |-- 10.77.0.1
        /32 host LOCAL
""")
    assert host_ipv4_addresses(trie) == ["10.77.0.1", "127.0.0.1", "192.0.2.2"]


def test_the_firewall_refuses_the_host_before_it_allows_anything() -> None:
    vpc = Reach(destinations=(destination("10.0.0.0/24", "443"), destination("host", "5432", "any")))
    script = ruleset(vpc, ["192.0.2.2"], [4566], ["10.0.2.3"], LinkLimits(connections=50, bandwidth_mbit_s=8))
    lines = [line.strip() for line in script.splitlines()]
    order = [lines.index(line) for line in (
        "ct state new ct count over 50 reject",
        "ip daddr 10.0.2.3 meta l4proto { tcp, udp } th dport 53 accept",
        "ip daddr 10.0.2.2 tcp dport { 4566 } reject with tcp reset",
        "ip daddr 10.0.2.2 meta l4proto { tcp, udp } th dport { 5432 } accept",
        "ip daddr 10.0.2.0/24 reject",
        "ip daddr { 192.0.2.2 } reject",
        "ip daddr 10.0.0.0/24 meta l4proto tcp th dport { 443 } accept",
    )]
    assert order == sorted(order)
    # a VPC network's last word is no: nothing but its destinations leaves
    assert lines[lines.index("chain input {") - 2] == "reject"
    assert 'iifname != "lo" limit rate over 1000 kbytes/second drop' in lines  # 8 Mbit/s each way
    outbound = ruleset(reach_of_mode("outbound"), [], [4566], ["10.0.2.3"], LinkLimits())
    assert "    accept\n  }\n  chain input" in outbound and "ip daddr 10.0.2.2 accept" not in outbound
    assert "ip daddr 10.0.2.2 accept" in ruleset(reach_of_mode("host"), [], [4566], ["10.0.2.3"], LinkLimits())
