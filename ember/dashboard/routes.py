"""The dashboard's routes: its static files under /_ember/, and the one JSON endpoint it needs
that no AWS API offers — a function's execution environments, from the scheduler.

Everything else the dashboard shows it reads through Ember's AWS APIs (Lambda, CloudWatch
Logs, CloudWatch) and /_ember/health, as any client would.
"""

from __future__ import annotations

import json
import mimetypes
import re
import time
import urllib.parse
from importlib import resources
from typing import TYPE_CHECKING

from ember.protocol import HttpRequest, HttpResponse
from ember.services.base import InternalRoute

if TYPE_CHECKING:
    from ember.invoke.scheduler import Scheduler

_STATIC = resources.files("ember.dashboard") / "static"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}


def _static_file(relative: str) -> HttpResponse:
    target = _STATIC.joinpath(*relative.split("/"))
    if ".." in relative.split("/") or not target.is_file():
        return HttpResponse(404, [("content-type", "text/plain")], b"No such dashboard file\n")
    suffix = "." + relative.rsplit(".", 1)[-1]
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(relative)[0] or "application/octet-stream"
    # The files change only with Ember itself; a reload after an upgrade should pick them up.
    return HttpResponse(200, [("content-type", content_type), ("cache-control", "no-cache")], target.read_bytes())


def dashboard_routes(scheduler: Scheduler) -> list[InternalRoute]:
    async def index(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
        return _static_file("index.html")

    async def static(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
        return _static_file(match["path"])

    async def environments(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
        name = urllib.parse.unquote(match["name"])
        now_monotonic, now_wall = time.monotonic(), time.time()
        listed = [{
            "environmentId": env.environment_id,
            "version": env.version,
            "state": env.state.value,
            "isProvisioned": env.is_provisioned,
            "ageS": round(now_wall - env.started_at, 3),
            "idleS": round(now_monotonic - env.idle_since, 3) if env.state.value == "idle" else None,
            "memoryMb": env.memory_mb,
            "peakMemoryMb": env.peak_memory_mb(),
            "invocations": env.invocation_count,
            "logStreamName": env.log_stream_name,
        } for env in sorted(scheduler.environments_of(name), key=lambda env: env.started_at)]
        document = {"functionName": name, "inFlight": scheduler.in_flight(name), "environments": listed}
        return HttpResponse(200, [("content-type", "application/json")], json.dumps(document).encode())

    return [
        ("GET", re.compile(r"^/_ember/?$"), index),
        ("GET", re.compile(r"^/_ember/static/(?P<path>[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*)$"), static),
        ("GET", re.compile(r"^/_ember/functions/(?P<name>[^/]+)/environments/?$"), environments),
    ]
