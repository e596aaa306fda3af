"""`ember network`: declare the VPC networks functions with a VpcConfig run in.

The declarations live in the data dir (ember/networks.py), so these commands act on the
folder, not on a server: run them beside the server, with the same --data-dir (or
EMBER_DATA_DIR). A running server reads the change at its next new environment.
"""

from __future__ import annotations

from pathlib import Path

import click

from ember.cli.functions import format_table
from ember.egress import PROTOCOLS, DestinationError, destination
from ember.networks import NetworkError, NetworkRegistry

_DATA_DIR = click.option("--data-dir", envvar="EMBER_DATA_DIR", default=Path(".ember"), show_default=True,
                         type=click.Path(path_type=Path, file_okay=False),
                         help="The server's data dir.  [env EMBER_DATA_DIR]")


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.group("network")
def network_command() -> None:
    """VPC networks: which destinations functions with a VpcConfig may reach."""


@network_command.command("create")
@click.argument("vpc_id")
@click.option("--subnets", multiple=True, required=True, help="Subnet ids, e.g. subnet-a (repeat or comma-separate).")
@click.option("--security-groups", multiple=True, help="Security group ids, e.g. sg-db (repeat or comma-separate).")
@_DATA_DIR
def create(vpc_id: str, subnets: tuple[str, ...], security_groups: tuple[str, ...], data_dir: Path) -> None:
    """Declare the network VPC_ID (e.g. vpc-dev) with its subnets and security groups."""
    try:
        NetworkRegistry(data_dir).create(vpc_id, _split(subnets), _split(security_groups))
    except NetworkError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"network {vpc_id} created; allow destinations with `ember network allow {vpc_id} SG --to ...`")


@network_command.command("allow")
@click.argument("vpc_id")
@click.argument("security_group")
@click.option("--to", "address", required=True,
              help="A CIDR or IPv4 address (10.0.0.0/24), a host name (resolved when an environment starts), or "
                   "`host` for this host's loopback services (host.ember.internal).")
@click.option("--ports", default="all", show_default=True, help="5432, 80,443, 8000-8100 or all.")
@click.option("--protocol", default="tcp", show_default=True, type=click.Choice(list(PROTOCOLS)))
@_DATA_DIR
def allow(vpc_id: str, security_group: str, address: str, ports: str, protocol: str, data_dir: Path) -> None:
    """Let SECURITY_GROUP of VPC_ID reach a destination (added to the group if it is new)."""
    try:
        NetworkRegistry(data_dir).allow(vpc_id, security_group, destination(address, ports, protocol))
    except (NetworkError, DestinationError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{security_group} in {vpc_id} may reach {protocol} {address} ports {ports}")


@network_command.command("delete")
@click.argument("vpc_id")
@_DATA_DIR
def delete(vpc_id: str, data_dir: Path) -> None:
    """Remove the network VPC_ID (its functions' new environments then reach nothing)."""
    try:
        NetworkRegistry(data_dir).delete(vpc_id)
    except NetworkError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"network {vpc_id} deleted")


@network_command.command("list")
@_DATA_DIR
def list_networks(data_dir: Path) -> None:
    """The declared networks, one line per security group."""
    try:
        networks = NetworkRegistry(data_dir).networks()
    except NetworkError as exc:
        raise click.ClickException(str(exc)) from None
    rows: list[tuple[str, ...]] = []
    for network in networks.values():
        groups = network.security_groups or {"-": []}
        for group, destinations in groups.items():
            rows.append((network.vpc_id, ",".join(network.subnet_ids), group,
                         " ".join(str(d) for d in destinations) or "(nothing)"))
    click.echo(format_table(("VPC", "SUBNETS", "SECURITY_GROUP", "MAY_REACH"), rows))
