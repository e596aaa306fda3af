"""Small helpers the sandbox tests share: reading an invoke's answer, health, and host processes."""

from __future__ import annotations

import base64
import json
import os

import urllib3

from tests.functional.conftest import EmberServer

#: a handler that runs the snippet in event["code"]; the snippet leaves its answer in `result`
PROBE = '''
def outcome(action, *args):
    """["ok", value] or [exception name, errno]: what trying `action` came to."""
    try:
        value = action(*args)
    except OSError as exc:
        return [type(exc).__name__, exc.errno]
    return ["ok", repr(value)[:200]]


def handler(event, context):
    scope = {"event": event, "context": context, "outcome": outcome}
    exec(event["code"], scope)
    return scope.get("result")
'''


def request_id(response: dict) -> str:
    return response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def tail(response: dict) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def health(server: EmberServer) -> dict:
    return json.loads(urllib3.request("GET", f"{server.url}/_ember/health", timeout=5).data)


def marked_pids(marker: str) -> set[int]:
    """Host pids of live processes whose environment holds MARKER=`marker` (root reads every environ)."""
    needle = f"MARKER={marker}".encode()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                if needle in environ.read().split(b"\0"):
                    found.add(int(entry))
        except OSError:
            continue
    return found
