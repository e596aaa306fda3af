"""The dashboard's routes: its static files under /_ember/, signing in (iam mode), and the one JSON
endpoint it needs that no AWS API offers — a function's execution environments, from the scheduler.

Everything else the dashboard shows it reads through Ember's AWS APIs (Lambda, CloudWatch Logs,
CloudWatch) under /_ember/aws/, and /_ember/health, as any client would.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ember.dashboard.sign_in import sign_in_routes
from ember.dashboard.static_files import page_headers, read_static, static_file
from ember.protocol import HttpRequest, HttpResponse
from ember.services.base import InternalRoute
from ember.services.dashboard_access import DashboardDoor

if TYPE_CHECKING:
    from ember.invoke.scheduler import Scheduler


@dataclass(frozen=True)
class DashboardRoutes:
    #: answered to anyone: the static files (Ember's own code, no data) and signing in and out
    public: list[InternalRoute]
    #: the page and its data: behind the dashboard's door in iam mode
    guarded: list[InternalRoute]


def dashboard_routes(scheduler: Scheduler, door: DashboardDoor) -> DashboardRoutes:
    async def index(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
        return HttpResponse(200, page_headers("text/html; charset=utf-8"), read_static("index.html"))

    async def static(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
        return static_file(match["path"])

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

    return DashboardRoutes(
        public=[
            ("GET", re.compile(r"^/_ember/static/(?P<path>[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*)$"), static),
            *sign_in_routes(door),
        ],
        guarded=[
            ("GET", re.compile(r"^/_ember/?$"), index),
            ("GET", re.compile(r"^/_ember/functions/(?P<name>[^/]+)/environments/?$"), environments),
        ],
    )
