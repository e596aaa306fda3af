"""Signing in to the dashboard (iam mode): the sign-in page, its form, the session the page reads
its CSRF token from, and signing out. See services.dashboard_access for what a session allows.

    GET  /_ember/sign-in   the page (open mode: straight to the dashboard)
    POST /_ember/sign-in   form: access_key_id, secret_access_key → 303 to /_ember/ with the cookie,
                           or the page again with why not (401 wrong credentials, 403 not allowed)
    GET  /_ember/session   {"auth", "signedIn", "arn", "csrfToken", "expiresAt"}; 401 without a session
    POST /_ember/sign-out  clears the cookie (204); with a session, only with its CSRF token
"""

from __future__ import annotations

import html
import json
import logging
import re
import urllib.parse
from datetime import UTC, datetime

from ember.dashboard.static_files import page_headers, read_static
from ember.protocol import HttpRequest, HttpResponse
from ember.services.base import InternalRoute
from ember.services.dashboard_access import CSRF_HEADER, SIGN_IN_PATH, DashboardDoor, SignInRefused, json_error

log = logging.getLogger("ember.dashboard")

#: a sign-in form is two short fields; anything longer is not one
MAX_FORM_BYTES = 8 * 1024
_NO_STORE = ("cache-control", "no-store")


def _page(status: int, message: str = "") -> HttpResponse:
    text = read_static("sign-in.html").decode().replace("{{message}}", html.escape(message))
    return HttpResponse(status, [*page_headers("text/html; charset=utf-8"), _NO_STORE], text.encode())


def _redirect(location: str, *headers: tuple[str, str]) -> HttpResponse:
    return HttpResponse(303, [("location", location), _NO_STORE, *headers])


def _form(body: bytes) -> dict[str, str]:
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return {}
    return dict(pairs)


def sign_in_routes(door: DashboardDoor) -> list[InternalRoute]:
    """The routes anyone may ask (each checks what it needs itself)."""

    async def sign_in_page(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
        if door.is_open or await door.signed_in(request) is not None:
            return _redirect("/_ember/")
        return _page(200)

    async def sign_in(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
        if door.is_open:
            return _redirect("/_ember/")
        form = _form(request.body) if len(request.body) <= MAX_FORM_BYTES else {}
        access_key_id, secret = form.get("access_key_id", ""), form.get("secret_access_key", "")
        if not access_key_id or not secret:
            return _page(400, "Enter an access key id and its secret access key.")
        try:
            signed_in, cookie_value = await door.sign_in(access_key_id, secret)
        except SignInRefused as refused:
            # The key id is not logged: a secret pasted into the wrong field would be.
            log.warning("dashboard sign-in refused (%d)", refused.status)
            return _page(refused.status, refused.message)
        log.info("dashboard sign-in: %s", signed_in.caller.arn)
        return _redirect("/_ember/", ("set-cookie", door.session_cookie(cookie_value, request.scheme == "https")))

    async def session(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
        if door.is_open:
            return _json(200, {"auth": "open", "signedIn": False})
        signed_in = await door.signed_in(request)
        if signed_in is None:
            return _json(401, {"__type": "SignInRequired", "message": f"Sign in to Ember first: {SIGN_IN_PATH}",
                               "auth": "iam", "signedIn": False, "signInUrl": SIGN_IN_PATH})
        expires = datetime.fromtimestamp(signed_in.session.expires_at_s, UTC).isoformat().replace("+00:00", "Z")
        return _json(200, {"auth": "iam", "signedIn": True, "arn": signed_in.caller.arn,
                           "csrfToken": signed_in.csrf_token, "expiresAt": expires})

    async def sign_out(request: HttpRequest, match: re.Match[str]) -> HttpResponse:
        signed_in = None if door.is_open else await door.signed_in(request)
        if signed_in is not None and not door.sessions.is_csrf_token(signed_in.session, request.header(CSRF_HEADER)):
            return json_error(403, "InvalidCsrfToken", f"Signing out needs the session's {CSRF_HEADER} header")
        return HttpResponse(204, [_NO_STORE, ("set-cookie", door.cleared_cookie(request.scheme == "https"))])

    return [
        ("GET", re.compile(r"^/_ember/sign-in/?$"), sign_in_page),
        ("POST", re.compile(r"^/_ember/sign-in/?$"), sign_in),
        ("GET", re.compile(r"^/_ember/session/?$"), session),
        ("POST", re.compile(r"^/_ember/sign-out/?$"), sign_out),
    ]


def _json(status: int, document: dict[str, object]) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json"), _NO_STORE], json.dumps(document).encode())
