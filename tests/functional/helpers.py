"""Small helpers the sandbox tests share: reading an invoke's answer, health, and host processes."""

from __future__ import annotations

import base64
import http.client
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

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


def send_to_function_url(server: EmberServer, method: str, url: str, body: bytes = b"",
                         headers: dict[str, str] | None = None, *,
                         path_form: bool = False) -> tuple[int, dict[str, list[str]], bytes]:
    """An HTTP request to a function URL, connected to the server's port: by its Host header, or (path_form) at
    /lambda-url/<id>/... on the server's own host."""
    parts = urlsplit(url)
    path = parts.path or "/"
    headers = dict(headers or {})
    if path_form:
        path = f"/lambda-url/{parts.hostname.split('.')[0]}{path}"
    else:
        headers.setdefault("Host", parts.netloc)
    if parts.query:
        path += "?" + parts.query
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        seen: dict[str, list[str]] = {}
        for name, value in response.getheaders():
            seen.setdefault(name.lower(), []).append(value)
        return response.status, seen, response.read()
    finally:
        connection.close()
