"""The ``ember`` command line: the top-level group and its global options."""

from __future__ import annotations

from typing import Any

import click

from ember.cli.client import reporting_api_errors
from ember.cli.functions import COMMANDS as FUNCTION_COMMANDS
from ember.cli.logs import logs
from ember.cli.network import network_command
from ember.cli.queue import queue_command
from ember.cli.serve import serve

DEFAULT_ENDPOINT_URL = "http://127.0.0.1:4566"
DEFAULT_REGION = "us-east-1"


class _EmberGroup(click.Group):
    """A group whose subcommands report AWS API and connection failures as one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        # Options are parsed before invoke() runs, so the endpoint is known even though the group
        # callback that fills ctx.obj has not run yet.
        with reporting_api_errors(ctx.params["endpoint_url"]):
            return super().invoke(ctx)


@click.group(cls=_EmberGroup)
@click.option(
    "--endpoint-url",
    envvar="EMBER_ENDPOINT_URL",
    default=DEFAULT_ENDPOINT_URL,
    show_default=True,
    help="URL of the Ember server.",
)
@click.option(
    "--region",
    envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
    default=DEFAULT_REGION,
    show_default=True,
    help="Region to sign requests for.",
)
@click.pass_context
def cli(ctx: click.Context, endpoint_url: str, region: str) -> None:
    """Ember: run AWS Lambda functions on your own machines."""
    # Subcommands, including those defined elsewhere, read these two keys from ctx.obj.
    ctx.obj = {"endpoint_url": endpoint_url, "region": region}


for _command in (*FUNCTION_COMMANDS, logs, network_command, queue_command, serve):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the ``ember`` console script."""
    cli(prog_name="ember")
