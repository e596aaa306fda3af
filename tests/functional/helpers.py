"""Small helpers the sandbox tests share: reading an invoke's answer, health, and host processes."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import urllib3

if TYPE_CHECKING:
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


def sandbox_uids(data_dir: Path) -> set[int]:
    """The uids an isolated server's environments may run as: those of the /etc/passwd it made for them."""
    lines = (data_dir / "sandbox-etc" / "passwd").read_text().splitlines()
    return {int(line.split(":")[2]) for line in lines if int(line.split(":")[2]) >= 1000 and "nobody" not in line}
