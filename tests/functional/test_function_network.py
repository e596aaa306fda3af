"""Functions' network: --function-network none|outbound|host, VPC networks, and the limits of one environment.

"The internet" is a network namespace this module makes, joined to the host by a veth pair, with an HTTP server
on two ports and a DNS server (internet_host.py); servers are started with --function-dns pointing at it. No
traffic goes anywhere else: the host side is this machine's own addresses and loopback, which functions must
not reach unless the mode says so. Each level runs as it is meant to (rootless as uid 65534, see sandbox_levels).
"""

from __future__ import annotations

import ipaddress
import random
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.functional.conftest import (
    VENV_BIN,
    EmberServer,
    functions_on,
    invoke_json,
    level_ember,
    start_or_refusal,
)
from tests.functional.helpers import health

REPO = Path(__file__).resolve().parents[2]

#: what a function tries: connections, fetches, name lookups, raw sockets, a port scan; reports what happened
NETWORK_PROBE = r"""
import json, os, socket, time, urllib.request


def connect(host, port):
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=5):
            return "connected"
    except OSError as error:
        # TimeoutError means the packet vanished; a refusal comes back at once
        return type(error).__name__


def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return response.read().decode()
    except Exception as error:
        return type(error).__name__ + (f": {error.reason}" if hasattr(error, "reason") else "")


def handler(event, context):
    result = {}
    for name, (host, port) in event.get("connect", {}).items():
        result[name] = connect(host, port)
    for name, url in event.get("fetch", {}).items():
        result[name] = fetch(url)
    for name in event.get("resolve", []):
        try:
            result["resolve " + name] = socket.gethostbyname(name)
        except OSError as error:
            result["resolve " + name] = type(error).__name__
    if event.get("raw"):
        for label, family, kind, proto in (("packet", socket.AF_PACKET, socket.SOCK_RAW, 0),
                                           ("raw icmp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)):
            try:
                socket.socket(family, kind, proto).close()
                result[label] = "opened"
            except OSError as error:
                result[label] = type(error).__name__
    if event.get("scan"):
        hosts, ports = event["scan"]
        result["scan"] = {f"{host}:{port}": outcome for host in hosts for port in ports
                          if (outcome := connect(host, port)) != "ConnectionRefusedError"}
    if event.get("download"):
        started = time.monotonic()
        size = len(urllib.request.urlopen(event["download"], timeout=120).read())
        result["download"] = [size, time.monotonic() - started]
    if event.get("hold"):
        host, port, count = event["hold"]
        held, outcomes = [], {}
        for _ in range(count):
            try:
                held.append(socket.create_connection((host, port), timeout=5))
                outcomes["connected"] = outcomes.get("connected", 0) + 1
            except OSError as error:
                outcomes[type(error).__name__] = outcomes.get(type(error).__name__, 0) + 1
        for sock in held:
            sock.close()
        result["hold"] = outcomes
    if event.get("sockets"):
        opened, outcome = [], "all opened"
        try:
            for _ in range(event["sockets"]):
                opened.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        except OSError as error:
            outcome = type(error).__name__
        result["sockets"] = [len(opened), outcome]
        for sock in opened:
            sock.close()
    if event.get("flood"):
        host, port, seconds = event["flood"]
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        payload, sent, deadline = b"x" * 60000, 0, time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                sent += sender.sendto(payload, (host, port))
            except OSError:
                pass
        result["flooded_bytes"] = sent
    if event.get("aws"):
        import boto3
        result["aws"] = len(boto3.client("lambda").list_functions()["Functions"])
    return result
"""


@dataclass
class Internet:
    """The test's stand-in for the internet: a namespace at `address`, reached from the host through `host_side`."""

    namespace: str
    address: str
    host_side: str

    @property
    def names(self) -> dict[str, str]:
        return {"internet.test": self.address, "rebind.test": "127.0.0.1", "hostside.test": self.host_side}


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def _free_subnet() -> ipaddress.IPv4Network:
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    for _ in range(100):
        subnet = ipaddress.IPv4Network(f"10.{random.randint(160, 250)}.{random.randint(0, 255)}.0/30")
        if f" 10.{subnet.network_address.packed[1]}.{subnet.network_address.packed[2]}." not in used:
            return subnet
    raise AssertionError("no free /30 for the test network")


@pytest.fixture(scope="module")
def internet() -> Iterator[Internet]:
    if shutil.which("ip") is None or not Path("/proc/self/ns/net").exists():
        pytest.skip("needs iproute2 and network namespaces")
    tag = uuid.uuid4().hex[:6]
    namespace, host_link, inner_link = f"ember-inet-{tag}", f"ei{tag}h", f"ei{tag}n"
    subnet = _free_subnet()
    host_side, address = (str(host) for host in subnet.hosts())
    _ip("netns", "add", namespace)
    server = None
    try:
        _ip("link", "add", host_link, "type", "veth", "peer", "name", inner_link)
        _ip("link", "set", inner_link, "netns", namespace)
        _ip("addr", "add", f"{host_side}/30", "dev", host_link)
        _ip("link", "set", host_link, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/30", "dev", inner_link)
        _ip("-n", namespace, "link", "set", inner_link, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        world = Internet(namespace, address, host_side)
        server = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "tests.functional.internet_host", address,
             *(f"{name}={value}" for name, value in world.names.items())],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.strip() == "ready", line + server.stdout.read()
        yield world
    finally:
        if server is not None:
            server.kill()
            server.communicate()  # and close its pipe
        subprocess.run(["ip", "link", "del", host_link], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)


@pytest.fixture(scope="module")
def host_listener() -> Iterator[socket.socket]:
    """A TCP listener on every address of the host (its loopback included), standing in for a developer's
    database: the port, and whether anything reached it is checked by the tests through accept()."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", 0))
        listener.listen(64)
        listener.setblocking(False)
        yield listener


def _drain(listener: socket.socket) -> int:
    """How many connections reached `listener` since last asked."""
    count = 0
    while True:
        try:
            listener.accept()[0].close()
            count += 1
        except BlockingIOError:
            return count


@pytest.fixture(scope="module")
def network_servers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                    internet: Internet) -> Iterator[Callable[..., EmberServer]]:
    """network_servers(level, mode, *more_args, env=...): an Ember at that level and function network mode, its
    functions resolving names through the test internet's DNS; started once per combination in this module."""
    started: dict[tuple, EmberServer] = {}

    def get(level: str, mode: str, *more: str, env: dict[str, str] | None = None) -> EmberServer:
        if level == "rootless" and mode != "none" and Path("/dev/net/tun").stat().st_mode & 0o006 != 0o006:
            pytest.skip("/dev/net/tun is 0600 here, closed to the rootless level's uid 65534: `make test` opens it "
                        "as udev's default rule does")
        key = (level, mode, more, tuple(sorted((env or {}).items())))
        if key not in started:
            ember = level_ember(level, tmp_path_factory.mktemp(f"{level}-{mode}"), request)
            ember.extra_args += ["--function-network", mode, "--function-dns", internet.address, *more]
            ember.env = {**ember.env, **(env or {})}
            refusal = start_or_refusal(ember)
            if refusal is not None:
                pytest.skip(f"--sandbox {level} {refusal}")
            started[key] = ember
        return started[key]

    yield get
    for ember in started.values():
        ember.shut_down()


def _probe(ember: EmberServer, **event: object) -> dict:
    client = ember.lambda_client()
    with functions_on(client, ember.runtime) as make:
        name = make(NETWORK_PROBE, Timeout=120)
        try:
            response, result = invoke_json(client, name, event)
        except ClientError as error:
            raise AssertionError(f"{error}; the server's log ends:\n{ember.log()[-3000:]}") from None
    assert "FunctionError" not in response, result
    return result


LEVELS = ["isolated", "rootless"]


@pytest.mark.parametrize("level", LEVELS)
def test_outbound_reaches_the_internet_and_nothing_of_the_host(network_servers, internet: Internet,
                                                               host_listener: socket.socket, level: str) -> None:
    ember = network_servers(level, "outbound")
    network = health(ember)["function_network"]
    assert network["mode"] == "outbound" and network["enforced"] and network["dns"] == [internet.address]
    port = host_listener.getsockname()[1]
    _drain(host_listener)
    seen = _probe(ember, fetch={"by name": "http://internet.test:8080/", "by address": f"http://{internet.address}:8081/"},
                  resolve=["internet.test"],
                  connect={"host.ember.internal": ("host.ember.internal", port), "gateway": ("10.0.2.2", port),
                           "host side of the link": (internet.host_side, port), "own loopback": ("127.0.0.1", port),
                           "rebound name": ("rebind.test", port), "name of a host address": ("hostside.test", port),
                           "ember via the gateway": ("10.0.2.2", ember.port)},
                  aws=True)
    assert seen.pop("by name") == "hello from 8080" and seen.pop("by address") == "hello from 8081"
    assert seen.pop("resolve internet.test") == internet.address
    assert seen.pop("aws") >= 1  # Ember's API is still on the environment's loopback
    # every way to the host is refused at once (not a timeout), and nothing arrived
    assert set(seen.values()) == {"ConnectionRefusedError"}, seen
    assert _drain(host_listener) == 0


@pytest.mark.parametrize("level", LEVELS)
def test_host_mode_adds_the_hosts_loopback_at_host_ember_internal(network_servers, internet: Internet,
                                                                  host_listener: socket.socket, level: str) -> None:
    ember = network_servers(level, "host")
    assert health(ember)["function_network"]["mode"] == "host"
    port = host_listener.getsockname()[1]
    _drain(host_listener)
    seen = _probe(ember, fetch={"internet": "http://internet.test:8080/"},
                  connect={"host.ember.internal": ("host.ember.internal", port),
                           "ember itself": ("host.ember.internal", ember.port),
                           "host side of the link": (internet.host_side, port)})
    assert seen == {"internet": "hello from 8080", "host.ember.internal": "connected",
                    "ember itself": "ConnectionRefusedError", "host side of the link": "ConnectionRefusedError"}
    assert _drain(host_listener) == 1


@pytest.mark.parametrize("level", LEVELS)
def test_none_leaves_only_embers_api(network_servers, internet: Internet, host_listener: socket.socket,
                                     level: str) -> None:
    ember = network_servers(level, "none")
    port = host_listener.getsockname()[1]
    _drain(host_listener)
    seen = _probe(ember, connect={"internet": (internet.address, 8080), "gateway": ("10.0.2.2", port),
                                  "host side of the link": (internet.host_side, port)}, aws=True)
    assert seen.pop("aws") >= 1
    # no route at all: the namespace has its loopback alone
    assert set(seen.values()) == {"OSError"}, seen
    assert _drain(host_listener) == 0


def test_a_hostile_function_finds_no_way_out(network_servers, internet: Internet,
                                             host_listener: socket.socket) -> None:
    ember = network_servers("isolated", "outbound")
    listener_port = host_listener.getsockname()[1]
    _drain(host_listener)
    # (its own loopback, where its own Runtime API and Ember's API listen, is its own business)
    host_addresses = sorted({internet.host_side, "10.0.2.2", "10.0.2.3", "10.0.2.100",
                             *(address for address in _host_addresses() if not address.startswith("127."))})
    ports = [22, 53, 80, 443, 3306, 4222, 5432, 5672, 6379, 9001, ember.port, listener_port]
    seen = _probe(ember, raw=True, scan=[host_addresses, ports])
    # not one port of the host (Ember, databases, brokers, another environment's Runtime API on 9001...) answers
    assert seen["scan"] == {}, seen["scan"]
    assert seen["packet"] == "PermissionError" and seen["raw icmp"] == "PermissionError"
    assert _drain(host_listener) == 0


def _host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3].split("/")[0] for line in out.splitlines()]


def test_an_environments_connections_and_bandwidth_are_capped(network_servers, internet: Internet) -> None:
    ember = network_servers("isolated", "outbound",
                            env={"EMBER_FUNCTION_CONNECTIONS": "16", "EMBER_FUNCTION_BANDWIDTH_MBIT_S": "8"})
    network = health(ember)["function_network"]
    assert network["connections_per_environment"] == 16 and network["bandwidth_mbit_s_per_environment"] == 8
    seen = _probe(ember, hold=[internet.address, 8080, 40], download=f"http://{internet.address}:8081/bytes/3000000")
    held = seen["hold"]
    assert 1 <= held.get("connected", 0) <= 16 and sum(held.values()) == 40, held
    assert set(held) <= {"connected", "ConnectionRefusedError"}, held
    size, elapsed_s = seen["download"]
    # 8 Mbit/s is 1 MB/s: 3 MB cannot arrive in much less than 3 s, however idle the machine
    assert size == 3_000_000 and elapsed_s >= 1.5, seen["download"]
    assert health(ember)["status"] == "ready"


def test_a_flooding_function_is_contained_and_the_server_keeps_serving(network_servers, internet: Internet) -> None:
    ember = network_servers("isolated", "outbound",
                            env={"EMBER_FUNCTION_CONNECTIONS": "16", "EMBER_FUNCTION_BANDWIDTH_MBIT_S": "8"})
    client = ember.lambda_client()
    with functions_on(client, ember.runtime) as make, ThreadPoolExecutor(1) as pool:
        flooder, bystander = make(NETWORK_PROBE, Timeout=60), make(NETWORK_PROBE, Timeout=60)
        # 100,000 sockets asked for: the environment's descriptor limit stops it, not the host's
        flood = pool.submit(invoke_json, client, flooder, {"sockets": 100_000, "flood": [internet.address, 9, 8]})
        # while it floods its link, another function and the API answer
        answered = 0
        while not flood.done() or not answered:
            assert health(ember)["status"] == "ready"
            assert invoke_json(client, bystander, {"fetch": {"web": f"http://{internet.address}:8080/"}})[1] == {
                "web": "hello from 8080"}
            answered += 1
            time.sleep(0.1)
        response, seen = flood.result()
    assert "FunctionError" not in response, seen
    assert seen["sockets"][1] == "OSError" and seen["sockets"][0] < 1024, seen["sockets"]  # EMFILE
    assert seen["flooded_bytes"] > 0


def _network_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VENV_BIN / "ember"), "network", *args, "--data-dir", str(data_dir)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_vpc_network_reaches_exactly_what_its_security_groups_allow(network_servers, internet: Internet,
                                                                      host_listener: socket.socket) -> None:
    ember = network_servers("isolated", "outbound")
    port = host_listener.getsockname()[1]
    vpc = f"vpc-t{uuid.uuid4().hex[:6]}"
    subnet, web, db = f"subnet-{vpc[4:]}", f"sg-web{vpc[4:]}", f"sg-db{vpc[4:]}"
    for args in (["create", vpc, "--subnets", subnet, "--security-groups", f"{web},{db}"],
                 ["allow", vpc, web, "--to", internet.address, "--ports", "8080"],
                 ["allow", vpc, db, "--to", "host", "--ports", str(port)]):
        done = _network_cli(ember.data_dir, *args)
        assert done.returncode == 0, done.stderr
    listed = _network_cli(ember.data_dir, "list")
    assert f"tcp:{internet.address}/32:8080" in listed.stdout and f"tcp:host.ember.internal:{port}" in listed.stdout
    assert vpc in health(ember)["function_network"]["vpc_networks"]

    client = ember.lambda_client()
    event = {"connect": {"allowed": (internet.address, 8080), "other port": (internet.address, 8081),
                         "host port": ("host.ember.internal", port)}}
    with functions_on(client, ember.runtime) as make:
        web_only = make(NETWORK_PROBE, Timeout=60, VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [web]})
        both = make(NETWORK_PROBE, Timeout=60, VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [web, db]})
        outside = make(NETWORK_PROBE, Timeout=60)
        configuration = client.get_function_configuration(FunctionName=web_only)
        assert configuration["VpcConfig"] == {"SubnetIds": [subnet], "SecurityGroupIds": [web], "VpcId": vpc,
                                              "Ipv6AllowedForDualStack": False}
        _drain(host_listener)
        assert invoke_json(client, web_only, event)[1] == {
            "allowed": "connected", "other port": "ConnectionRefusedError", "host port": "ConnectionRefusedError"}
        assert invoke_json(client, both, event)[1] == {
            "allowed": "connected", "other port": "ConnectionRefusedError", "host port": "connected"}
        assert invoke_json(client, outside, event)[1] == {  # the server's mode: the internet, not the host
            "allowed": "connected", "other port": "connected", "host port": "ConnectionRefusedError"}
        assert _drain(host_listener) == 1
        # leaving the VPC gives the function the server's mode again
        client.update_function_configuration(FunctionName=web_only, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []})
        assert "VpcConfig" not in client.get_function_configuration(FunctionName=web_only)


@pytest.mark.parametrize(("vpc_config", "says"), [
    ({"SubnetIds": ["subnet-nowhere"], "SecurityGroupIds": ["sg-nowhere"]},
     "InvalidSubnetID.NotFound. EC2 Error Message: The subnet ID 'subnet-nowhere' does not exist"),
    ({"SubnetIds": ["subnet-known"], "SecurityGroupIds": ["sg-nowhere"]},
     "InvalidGroup.NotFound. EC2 Error Message: The security group 'sg-nowhere' does not exist"),
    ({"SubnetIds": ["subnet-known"], "SecurityGroupIds": []}, "SecurityGroupIds is empty"),
    ({"SubnetIds": ["subnet-known"], "SecurityGroupIds": ["sg-other"]}, "sg-other does not belong to vpc-known"),
    ({"SubnetIds": ["subnet-known", "subnet-other"], "SecurityGroupIds": ["sg-known"]}, "different VPCs"),
])
def test_a_vpc_config_naming_what_no_network_declares_is_refused(start_server, tmp_path: Path, vpc_config: dict,
                                                                 says: str) -> None:
    data_dir = tmp_path / "data"
    for args in (["create", "vpc-known", "--subnets", "subnet-known", "--security-groups", "sg-known"],
                 ["create", "vpc-other", "--subnets", "subnet-other", "--security-groups", "sg-other"]):
        assert _network_cli(data_dir, *args).returncode == 0
    ember = start_server("--function-network", "none", data_dir=data_dir)
    client = ember.lambda_client()
    with functions_on(client, ember.runtime) as make:
        with pytest.raises(ClientError) as refused:
            make(NETWORK_PROBE, VpcConfig=vpc_config)
        name = make(NETWORK_PROBE)
        with pytest.raises(ClientError) as refused_update:
            client.update_function_configuration(FunctionName=name, VpcConfig=vpc_config)
    for error in (refused.value, refused_update.value):
        assert error.response["Error"]["Code"] == "InvalidParameterValueException"
        assert says in error.response["Error"]["Message"]


@pytest.mark.parametrize(("args", "says"), [
    (["create", "my-vpc", "--subnets", "subnet-a"], "is not a vpc id"),
    (["create", "vpc-a", "--subnets", "net-a"], "is not a subnet id"),
    (["create", "vpc-a", "--subnets", "subnet-a-b"], "is not a subnet id"),
    (["create", "vpc-a", "--subnets", "subnet-a", "--security-groups", "group"], "is not a sg id"),
    (["allow", "vpc-none", "sg-a", "--to", "10.0.0.0/8"], "there is no network vpc-none"),
    (["allow", "vpc-a", "sg-a", "--to", "10.0.0.0/8", "--ports", "70000"], "ports go from 1 to 65535"),
    (["allow", "vpc-a", "sg-a", "--to", "::1"], "IPv4 networks only"),
    (["allow", "vpc-a", "sg-a", "--to", "bad host!"], "neither an IPv4 address"),
    (["delete", "vpc-none"], "there is no network vpc-none"),
])
def test_the_network_command_refuses_what_it_cannot_declare(tmp_path: Path, args: list[str], says: str) -> None:
    if args[0] == "allow" and args[1] == "vpc-a":
        assert _network_cli(tmp_path, "create", "vpc-a", "--subnets", "subnet-a").returncode == 0
    done = _network_cli(tmp_path, *args)
    assert done.returncode != 0 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_an_explicit_mode_the_host_cannot_give_stops_the_start(start_server, tmp_path: Path) -> None:
    # No slirp4netns on this PATH: asked for by name, outbound is refused rather than silently weakened.
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("bwrap", "setpriv", "mkfs.ext4", "mount", "umount", "nsenter", "unshare", "nft"):
        found = shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin")
        if found:
            (bare / tool).symlink_to(found)
    env = {"PATH": f"{VENV_BIN}:{bare}"}
    with pytest.raises(RuntimeError) as refused:
        start_server("--function-network", "outbound", env=env)
    assert ("--function-network outbound cannot be given on this host: slirp4netns is not installed"
            in str(refused.value))
    # left at its default, the server starts with no network for functions, and says why
    ember = start_server(env=env, data_dir=tmp_path / "data-default")
    network = health(ember)["function_network"]
    assert network["mode"] == "none" and "slirp4netns is not installed" in network["warning"]
