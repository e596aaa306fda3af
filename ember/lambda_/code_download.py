"""GET /_ember/code/<sha256>.zip: where GetFunction's Code.Location points."""

from __future__ import annotations

import asyncio
import re

from ember.lambda_.backend import LambdaBackend
from ember.protocol import HttpRequest, HttpResponse
from ember.services.base import InternalRoute


def code_download_route(backend: LambdaBackend) -> InternalRoute:
    async def download(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
        digest = match["digest"]
        if not backend.blobs.exists(digest):
            return HttpResponse(404, [("content-type", "text/plain")], b"No such code package\n")
        data = await asyncio.to_thread(backend.blobs.read, digest)
        return HttpResponse(200, [("content-type", "application/zip"),
                                  ("content-disposition", f'attachment; filename="{digest}.zip"')], data)

    return ("GET", re.compile(r"^/_ember/code/(?P<digest>[0-9a-f]{64})\.zip$"), download)
