"""The ASGI app: Ember's own routes (health, code downloads, the dashboard), and AWS API requests
through the protocol layer, signed or (under /_ember/aws/) made as a dashboard session."""

from __future__ import annotations

import json
import logging
import random
import re
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ember.edge.guard import BrowserGuard
from ember.errors import EmberError, RequestEntityTooLargeException, UnknownOperationException
from ember.protocol import HttpRequest, HttpResponse
from ember.services.access import Gate
from ember.services.base import Caller, FrontDoor, FrontDoorCall, InternalRoute, RequestContext, Service
from ember.services.dashboard_access import DashboardDoor, DoorRefusal

log = logging.getLogger("ember.edge")

ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
ASGISend = Callable[[dict[str, Any]], Awaitable[None]]

#: no request body is read past this many bytes, whatever the operation
HARD_BODY_LIMIT_BYTES = 80 * 1024 * 1024
#: the most of a body Ember's own routes read: none takes more than a sign-in form
OWN_ROUTE_BODY_LIMIT_BYTES = 64 * 1024
#: the most of a body read before the operation is known, for protocols that name the operation
#: in the body (query: Action=...). AWS's largest query requests fit well within it: SNS's Publish
#: takes 256 KiB of message, IAM's policy documents up to 131,072 characters, and form encoding
#: at most triples either (a byte outside ASCII is sent as %XX). The operation's own limit, once
#: it is known, still applies to the body read.
ROUTING_BODY_LIMIT_BYTES = 2 * 1024 * 1024
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")
#: a presigned URL's X-Amz-Credential: the same scope, as a query parameter
_QUERY_CREDENTIAL = re.compile(r"[^/]+/\d{8}/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request")
#: the AWS APIs as the dashboard calls them: the request below this prefix, made as the signed-in
#: session's caller (the session cookie is scoped to /_ember, so it never reaches the APIs' own paths)
AWS_PROXY_PREFIX = "/_ember/aws"
#: paths of Ember's own (health, metrics, the dashboard, code downloads, the dashboard's AWS
#: proxy): refused outright by a function-facing app, whatever routes exist
_OWN_PATHS = re.compile(r"^/(_ember(/.*)?|metrics/?)$")


class ClientGone(Exception):
    """The client closed its connection before its request's body was in (or the protocol closed
    it: a body that paused too long, see edge.http_protocol)."""


class EdgeApp:
    """Routes each request to one of Ember's own routes or to a service's operation handler, after
    refusing what a browser could forge (see edge.guard).

    Ember's own routes are public (health, metrics, code downloads that check their own presigned
    signature, the dashboard's static files and sign-in) or guarded: those pass the dashboard's
    door first (a signed-in session in iam mode; see services.dashboard_access), and are refused
    until the server has one.

    A function-facing app (`function_facing`) serves execution environments (their
    AWS_ENDPOINT_URL): the same services behind the same gate, and of Ember's own routes only the
    code downloads, which check their own presigned signature."""

    def __init__(self, services: list[Service], public_routes: list[InternalRoute], region: str,
                 account_id: str, lifespan: Any = None, guard: BrowserGuard | None = None,
                 guarded_routes: list[InternalRoute] | None = None, is_function_facing: bool = False) -> None:
        self.services = {service.signing_name: service for service in services}
        #: answers only AWS API requests: /_ember/* and /metrics are 404 (see function_facing)
        self.is_function_facing = is_function_facing
        self.public_routes = public_routes
        self.guarded_routes = guarded_routes if guarded_routes is not None else []
        self.region = region
        self.account_id = account_id
        self.lifespan = lifespan
        self.guard = guard or BrowserGuard()
        #: who may call the AWS APIs (set once the server has started; None: no one is asked)
        self.gate: Gate | None = None
        #: who may use the guarded routes and /_ember/aws/ (set once the server has started; None:
        #: they are refused)
        self.door: DashboardDoor | None = None
        #: functions' own HTTP endpoints (function URLs), asked first: a request one claims is its alone
        self.front_doors: list[FrontDoor] = []

    def function_facing(self) -> EdgeApp:
        """The app execution environments reach (their AWS_ENDPOINT_URL): this app's services, shared
        (services added later are served too), without its own routes, lifespan or dashboard door.
        Its `gate` must be set with this app's."""
        app = EdgeApp([], [], self.region, self.account_id, guard=self.guard, is_function_facing=True)
        app.services = self.services
        app.front_doors = self.front_doors
        app.gate = self.gate
        return app

    async def __call__(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        request_id = new_request_id()
        request = HttpRequest(
            method=scope["method"],
            path=scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?", 1)[0],
            query=urllib.parse.parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True),
            headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            query_string=scope.get("query_string", b"").decode("latin-1"),
            scheme=scope.get("scheme", "http"),
        )
        label = f"{request.method} {request.path}"
        door = next((door for door in self.front_doors if door.claims(request)), None)
        if door is not None:
            await self._through_front_door(door, request, scope, receive, send, started)
            return
        origin = request.header("origin")
        refusal = self.guard.refusal(request.header("host"), origin, scope.get("scheme", "http"))
        try:
            if refusal is not None:
                log.warning("refused %s from origin %r for host %r: %s", label, origin, request.header("host"),
                            refusal.message)
                response = _plain_error(refusal.code, 403, refusal.message)
            elif origin is not None and request.method == "OPTIONS":
                label = f"CORS preflight {request.path}"
                response = HttpResponse(204, [], b"")
            else:
                label, response = await self._handle(request, receive, request_id, scope)
        except ClientGone as gone:
            log.info("%s abandoned: %s", label, gone)
            return  # nobody to answer; the server closes the connection
        except Exception:
            log.exception("unexpected error handling %s", label)
            response = HttpResponse(500, [("content-type", "application/json")],
                                    json.dumps({"message": "Ember hit an internal error; see its log"}).encode())
        if refusal is None:
            response.headers.extend(self.guard.cors_headers(
                origin, request.header("access-control-request-headers"), is_preflight=request.method == "OPTIONS"))
        response.headers.append(("x-amzn-requestid", request_id))
        await _send_response(send, response, label, started)

    async def _through_front_door(self, door: FrontDoor, request: HttpRequest, scope: dict[str, Any],
                                  receive: ASGIReceive, send: ASGISend, started: float) -> None:
        """A request to a function's own endpoint: the door answers it whole, CORS included (the
        browser guard is for Ember's API and dashboard: a function URL is meant for browsers)."""
        label = f"{request.method} {request.path}"
        client = scope.get("client") or ("", 0)
        call = FrontDoorCall(request, [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]],
                             str(client[0]), str(scope.get("http_version", "1.1")),
                             lambda max_bytes: _read_body(receive, max_bytes))
        try:
            label, response = await door.answer(call)
        except ClientGone as gone:
            log.info("%s abandoned: %s", label, gone)
            return
        except Exception:
            log.exception("unexpected error handling %s", label)
            response = HttpResponse(500, [("content-type", "application/json")],
                                    json.dumps({"Message": "Internal Server Error"}).encode())
        await _send_response(send, response, label, started)

    async def _handle(self, request: HttpRequest, receive: ASGIReceive, request_id: str,
                      scope: dict[str, Any]) -> tuple[str, HttpResponse]:
        # A function-facing app holds only the routes that check their own signature (code downloads).
        own = await self._own_route(request, receive)
        if own is not None:
            return own
        if self.is_function_facing and _OWN_PATHS.match(request.path):
            return (f"function-facing {request.method} {request.path}",
                    _plain_error("NotFound", 404, "Ember's own routes are not served to functions"))
        session_caller: Caller | None = None
        if request.path.startswith(AWS_PROXY_PREFIX + "/"):
            # Refused before the body is read: a session and its CSRF token are in the head.
            if self.door is None:
                return f"{request.method} {request.path}", _starting()
            try:
                session_caller = await self.door.proxied_caller(request)
            except DoorRefusal as refused:
                return f"{request.method} {request.path}", refused.response
            request.path = request.path[len(AWS_PROXY_PREFIX):]
        service = self._service_for(request, has_body=False)
        has_body = False
        if service is None and any(s.protocol.routes_by_body for s in self.services.values()):
            # Not signed for a service Ember has (STS's AssumeRoleWithWebIdentity is not signed at
            # all), and perhaps naming its operation only in its body.
            if not await _read_routing_body(request, receive):
                return f"{request.method} {request.path}", _error_response(_routing_body_too_large())
            has_body = True
            service = self._service_for(request, has_body=True)
        if service is None:
            return f"{request.method} {request.path}", _error_response(
                UnknownOperationException(f"No Ember service handles {request.method} {request.path}"))
        unrouted_label = f"{service.signing_name} ? {request.path}"
        if service.protocol.routes_by_body and not has_body:
            if not await _read_routing_body(request, receive):
                return unrouted_label, service.protocol.serialize_error(_routing_body_too_large(),
                                                                        request_id=request_id)
            has_body = True
        try:
            routed = service.protocol.route(request)
        except EmberError as unrouted:  # a request for this service naming no operation of it (query)
            return unrouted_label, service.protocol.serialize_error(unrouted, request_id=request_id)
        if routed is None:
            error = UnknownOperationException(f"No {service.signing_name} operation matches "
                                              f"{request.method} {request.path}")
            return unrouted_label, service.protocol.serialize_error(error, request_id=request_id)
        operation, labels = routed
        label = f"{service.signing_name}.{operation.name}"
        try:
            limit = service.body_limits.get(operation.name, service.default_body_limit)
            max_bytes = limit.max_bytes if limit else HARD_BODY_LIMIT_BYTES
            if has_body:  # read to route: the operation's own limit still holds
                operation_body = request.body if len(request.body) <= max_bytes else None
            else:
                operation_body = await _read_body(receive, max_bytes)
            if operation_body is None:
                raise limit.error() if limit else RequestEntityTooLargeException("Request is too large")
            request.body = operation_body
            # Who it is from before anything else about it is told: a refused signature learns
            # nothing of the operation's parameters or resources.
            caller = session_caller
            if caller is None and self.gate is not None:
                caller = await self.gate.caller(request, service)
            params = service.protocol.parse(operation, labels, request)
            context = RequestContext(request_id, self._region_of(request), self.account_id,
                                     _base_url(scope, request), request.headers, caller)
            if self.gate is not None and caller is not None:
                await self.gate.check(caller, service, operation.name, params, context)
            result = await service.handlers[operation.name](context, params)
            return label, service.protocol.serialize(operation, result, request_id=request_id)
        except EmberError as error:
            return label, service.protocol.serialize_error(error, request_id=request_id)

    async def _own_route(self, request: HttpRequest, receive: ASGIReceive) -> tuple[str, HttpResponse] | None:
        """The answer of the Ember route matching the request (a guarded one only past the door),
        or None when no route of Ember's own matches."""
        for is_guarded, routes in ((False, self.public_routes), (True, self.guarded_routes)):
            for method, pattern, handler in routes:
                match = pattern.match(request.path)
                if not match or method != request.method:
                    continue
                label = f"{request.method} {request.path}"
                body = await _read_body(receive, OWN_ROUTE_BODY_LIMIT_BYTES)
                if body is None:
                    return label, _error_response(RequestEntityTooLargeException("Request is too large"))
                request.body = body  # before the door: a signature covers the body
                if is_guarded:
                    if self.door is None:
                        return label, _starting()
                    try:
                        await self.door.admit(request)
                    except DoorRefusal as refused:
                        return label, refused.response
                return label, await handler(request, match)
        return None

    def _service_for(self, request: HttpRequest, has_body: bool) -> Service | None:
        """The service the request's credential scope names, else the one whose protocol routes it.

        Without the body (`has_body` False) only protocols that route without it are asked; with
        it, only those that route by it (the others were asked already)."""
        scope = _credential_scope(request)
        if scope and scope["service"] in self.services:
            return self.services[scope["service"]]
        for service in self.services.values():
            if service.protocol.routes_by_body == has_body and _routes(service, request):
                return service
        return None

    def _region_of(self, request: HttpRequest) -> str:
        scope = _credential_scope(request)
        return scope["region"] if scope else self.region

    async def _lifespan(self, receive: ASGIReceive, send: ASGISend) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self.lifespan is not None:
                        await self.lifespan.startup()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.lifespan is not None:
                    await self.lifespan.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _send_response(send: ASGISend, response: HttpResponse, label: str, started: float) -> None:
    """Send `response` whole, and log it with the time since `started`."""
    response.headers.append(("content-length", str(len(response.body))))
    await send({"type": "http.response.start", "status": response.status,
                "headers": [(k.encode(), v.encode("latin-1")) for k, v in response.headers]})
    await send({"type": "http.response.body", "body": response.body})
    log.info("%s %d %.1fms", label, response.status, (time.perf_counter() - started) * 1000)


def new_request_id() -> str:
    """A version-4 UUID. Request ids need to be unique, not unguessable: random's generator is
    used rather than uuid4's os.urandom, whose syscall is slow on virtual machines."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))


async def _read_body(receive: ASGIReceive, max_bytes: int) -> bytes | None:
    """The whole body, or None if it is longer than `max_bytes` (the rest is read and dropped,
    so the client, still sending, gets our error rather than a reset connection).

    Raises ClientGone when the connection closes before the end of the body (a part of a body
    is never handled as if it were all of it)."""
    chunks: list[bytes] = []
    size = 0
    is_too_large = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone(f"the client disconnected after {size} bytes of its body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            is_too_large = True
            chunks.clear()
        elif not is_too_large:
            chunks.append(chunk)
        if size > HARD_BODY_LIMIT_BYTES * 4:
            break
        if not message.get("more_body", False):
            break
    return None if is_too_large else b"".join(chunks)


async def _read_routing_body(request: HttpRequest, receive: ASGIReceive) -> bool:
    """Read the body into `request` within ROUTING_BODY_LIMIT_BYTES; False if it is longer."""
    body = await _read_body(receive, ROUTING_BODY_LIMIT_BYTES)
    if body is None:
        return False
    request.body = body
    return True


def _routing_body_too_large() -> RequestEntityTooLargeException:
    return RequestEntityTooLargeException(f"Request must be smaller than {ROUTING_BODY_LIMIT_BYTES} bytes")


def _routes(service: Service, request: HttpRequest) -> bool:
    try:
        return service.protocol.route(request) is not None
    except EmberError:  # addressed to no operation of this service (query: InvalidAction...)
        return False


def _credential_scope(request: HttpRequest) -> re.Match[str] | None:
    """The SigV4 credential scope (region, service): the Authorization header's, else a presigned
    URL's X-Amz-Credential."""
    scope = _CREDENTIAL_SCOPE.search(request.header("authorization") or "")
    if scope is None:
        credential = next((value for name, value in request.query if name == "X-Amz-Credential"), None)
        if credential is not None:
            scope = _QUERY_CREDENTIAL.fullmatch(credential)
    return scope


def _base_url(scope: dict[str, Any], request: HttpRequest) -> str:
    host = request.header("host")
    if not host:
        server = scope.get("server") or ("127.0.0.1", 4566)
        host = f"{server[0]}:{server[1]}"
    return f"{scope.get('scheme', 'http')}://{host}"


def _starting() -> HttpResponse:
    return _plain_error("ServiceUnavailableException", 503, "Ember is starting")


def _error_response(error: EmberError) -> HttpResponse:
    """`error` in the shape every AWS JSON protocol reads (for a request no service's protocol answers)."""
    return _plain_error(error.code, error.status_code, error.message)


def _plain_error(code: str, status: int, message: str) -> HttpResponse:
    """An error in the shape every AWS JSON protocol reads: the type in a header and the body."""
    body = json.dumps({"__type": code, "Type": "User", "message": message}).encode()
    return HttpResponse(status, [("x-amzn-errortype", code), ("content-type", "application/json")], body)
