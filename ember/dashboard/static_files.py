"""The dashboard's files, packaged in ember/dashboard/static/ (no build step)."""

from __future__ import annotations

import mimetypes
from importlib import resources

from ember.protocol import HttpResponse

_STATIC = resources.files("ember.dashboard") / "static"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml"}


def read_static(relative: str) -> bytes:
    """A packaged file's bytes (`relative` is a known name, never a request's)."""
    return _STATIC.joinpath(*relative.split("/")).read_bytes()


def page_headers(content_type: str) -> list[tuple[str, str]]:
    # The files change only with Ember itself; a reload after an upgrade should pick them up.
    headers = [("content-type", content_type), ("cache-control", "no-cache")]
    if content_type.startswith("text/html"):
        headers.append(("x-frame-options", "DENY"))  # no page of Ember's inside another site's frame
    return headers


def static_file(relative: str) -> HttpResponse:
    """The file at `relative` (a request's path below /_ember/static/), or 404."""
    target = _STATIC.joinpath(*relative.split("/"))
    if ".." in relative.split("/") or not target.is_file():
        return HttpResponse(404, [("content-type", "text/plain")], b"No such dashboard file\n")
    suffix = "." + relative.rsplit(".", 1)[-1]
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(relative)[0] or "application/octet-stream"
    return HttpResponse(200, page_headers(content_type), target.read_bytes())
