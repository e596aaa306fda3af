"""`ember logs NAME`: a function's log from CloudWatch Logs, optionally followed as it grows."""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import click

from ember.cli.client import service_client

FOLLOW_POLL_S = 1.0
#: event ids remembered while following, to skip events seen in the overlap of two polls
SEEN_IDS_KEPT = 10_000
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_since(text: str, now_s: float) -> int:
    """`10m`, `2h`, `1d`... ago, or an ISO 8601 time, as epoch milliseconds."""
    match = _DURATION.match(text.strip())
    if match:
        return int((now_s - int(match.group(1)) * _UNIT_S[match.group(2)]) * 1000)
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"expected a duration such as 30s, 10m, 2h, 1d or an ISO 8601 time, got {text!r}",
                                 param_hint="'--since'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _render(event: dict[str, Any]) -> str:
    stamp = dt.datetime.fromtimestamp(event["timestamp"] / 1000, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    # The runtimes keep a multi-line record (a traceback) in one event, its lines joined with \r.
    return f"{stamp}Z {event['message'].rstrip(chr(10)).replace(chr(13), chr(10))}"


@click.command()
@click.argument("name")
@click.option("--since", default="10m", show_default=True,
              help="How far back to start: 30s, 10m, 2h, 1d, 1w, or an ISO 8601 time.")
@click.option("--filter", "filter_pattern", default=None,
              help='A CloudWatch Logs filter pattern: ERROR, "a phrase", ?A ?B, -NOT, { $.level = "ERROR" }.')
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events until interrupted (Ctrl-C).")
@click.pass_obj
def logs(obj: dict[str, Any], name: str, since: str, filter_pattern: str | None, follow: bool) -> None:
    """Print the log of function NAME (log group /aws/lambda/NAME; a NAME starting with / is a group)."""
    client = service_client("logs", obj["endpoint_url"], obj["region"])
    group = name if name.startswith("/") else f"/aws/lambda/{name}"
    start_ms = parse_since(since, time.time())
    seen: dict[str, None] = {}  # insertion-ordered, so the oldest ids are forgotten first
    try:
        while True:
            start_ms = _print_new(client, group, start_ms, filter_pattern, seen, follow)
            if not follow:
                return
            time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:  # Ctrl-C ends --follow; that is its normal way out
        return


def _print_new(client: Any, group: str, start_ms: int, filter_pattern: str | None, seen: dict[str, None],
               follow: bool) -> int:
    """Print the events from `start_ms` not seen yet; the time to start the next poll at."""
    arguments: dict[str, Any] = {"logGroupName": group, "startTime": start_ms}
    if filter_pattern:
        arguments["filterPattern"] = filter_pattern
    try:
        pages = list(client.get_paginator("filter_log_events").paginate(**arguments))
    except client.exceptions.ResourceNotFoundException:
        if follow:  # the function has not logged yet: its group appears with its first invocation
            return start_ms
        raise
    for page in pages:
        for event in page["events"]:
            if event["eventId"] in seen:
                continue
            seen[event["eventId"]] = None
            click.echo(_render(event))
            # Events are stamped to the millisecond, and more may still arrive for the last one:
            # poll again from it, skipping what was printed.
            start_ms = max(start_ms, event["timestamp"])
    while len(seen) > SEEN_IDS_KEPT:
        del seen[next(iter(seen))]
    return start_ms
