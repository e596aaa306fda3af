"""The ``queue`` command: queued Event invocations per function, from the server's /_ember/async."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import click

from ember.cli.client import CliError, signed_get_headers
from ember.cli.functions import format_table

QUEUE_TABLE_HEADERS = ("FUNCTION", "DEPTH", "RUNNING", "DELAYED", "OLDEST_AGE_S")
REQUEST_TIMEOUT_S = 10


def fetch_async_status(endpoint_url: str, region: str) -> dict[str, Any]:
    """The server's async queue status document (see docs/operations.md), asked with a signed
    request (a server in iam mode answers no other)."""
    if urlsplit(endpoint_url).scheme not in ("http", "https"):
        ctx = click.get_current_context(silent=True)
        raise click.BadParameter(f"{endpoint_url!r} is not an http:// or https:// URL, e.g. http://127.0.0.1:4566",
                                 ctx=ctx.find_root() if ctx else None, param_hint="'--endpoint-url'")
    url = endpoint_url.rstrip("/") + "/_ember/async"
    try:
        request = urllib.request.Request(url, headers=signed_get_headers(url, region))
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:  # http(s) only: checked above
            listing: dict[str, Any] = json.load(response)
            return listing
    except urllib.error.HTTPError as error:
        raise CliError(f"{url} answered {error.code}: {error.read(200).decode(errors='replace')}") from error
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise CliError(f"no Ember server answered at {endpoint_url}; start one with `ember serve`") from error
    except ValueError as error:
        raise CliError(f"{url} did not answer JSON; is {endpoint_url} an Ember server?") from error


def queue_rows(document: dict[str, Any]) -> list[tuple[str, ...]]:
    return [(entry["function_name"], str(entry["depth"]), str(entry["running"]), str(entry["delayed"]),
             f"{entry['oldest_age_s']:.1f}") for entry in document["functions"]]


@click.command("queue")
@click.pass_obj
def queue_command(obj: dict[str, str]) -> None:
    """Show queued Event invocations per function: how many, how many running or waiting to be
    retried, and the age of the oldest."""
    document = fetch_async_status(obj["endpoint_url"], obj["region"])
    rows = queue_rows(document)
    if rows:
        click.echo(format_table(QUEUE_TABLE_HEADERS, rows))
    else:
        click.echo("No queued Event invocations.")
    if not document.get("dispatching", True):
        click.echo("note: the server is not running queued events (stopping, or EMBER_ASYNC_CONCURRENCY=0)",
                   err=True)
