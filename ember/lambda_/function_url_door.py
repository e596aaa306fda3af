"""The HTTP endpoint of function URLs: a request becomes a payload format 2.0 event, the function's
answer becomes the HTTP response, as AWS documents for function URLs.

Claimed by Host (`<url-id>.lambda-url.<region>.localhost[:port]`) or by path on Ember's own port
(`/lambda-url/<url-id>/<path>`). In order: the URL id names a function URL (else 404); a CORS
preflight is answered from its Cors settings without running the function; its AuthType is
checked (NONE: in iam mode the function's resource policy must let anyone
lambda:InvokeFunctionUrl; AWS_IAM: a SigV4 signature for `lambda`, and the signer's policies,
or a resource policy naming them, must allow it); the body, at most 6 MB; the function runs
synchronously (an alias's version as it routes); its answer is mapped.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import time
import uuid
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, unquote

from ember.errors import EmberError, TooManyRequestsException
from ember.iam.sigv4 import Unsigned, read_signature
from ember.invoke import lineage
from ember.invoke.invoker import InvokeRequest
from ember.lambda_.access import function_target
from ember.lambda_.backend import LambdaBackend
from ember.lambda_.invoke import MAX_SYNC_PAYLOAD_BYTES, new_trace_id
from ember.models import FunctionUrlConfig
from ember.protocol import HttpRequest, HttpResponse
from ember.services.access import Gate, request_view
from ember.services.base import FrontDoor, FrontDoorCall, RequestContext, Target

_HOST = re.compile(r"^(?P<id>[a-z0-9]{32})\.lambda-url\.(?P<region>[a-z0-9-]+)\.localhost(?::\d+)?$", re.IGNORECASE)
_PATH = re.compile(r"^/lambda-url/(?P<id>[a-z0-9]{32})(?P<rest>/.*)?$")
#: Content types whose bodies reach the function as text; any other body is base64-encoded
_TEXT_TYPES = re.compile(r"^(text/.*|application/(json|javascript|xml|x-www-form-urlencoded|[a-z.+-]*\+(json|xml))"
                         r"|application/graphql)(;.*)?$", re.IGNORECASE)


def _json_response(status: int, message: str, extra: list[tuple[str, str]] | None = None) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json"), *(extra or [])],
                        json.dumps({"Message": message}).encode())


class FunctionUrlDoor(FrontDoor):
    def __init__(self, backend: LambdaBackend) -> None:
        self.backend = backend
        #: who signed a request, and may they (set once the server has started)
        self.gate: Gate | None = None

    def claims(self, request: HttpRequest) -> bool:
        return bool(_HOST.match(request.header("host") or "") or _PATH.match(request.path))

    async def answer(self, call: FrontDoorCall) -> tuple[str, HttpResponse]:
        request = call.request
        if (by_path := _PATH.match(request.path)) is not None:
            url_id, raw_path = by_path["id"], by_path["rest"] or "/"
        else:
            host = _HOST.match(request.header("host") or "")
            assert host is not None
            url_id, raw_path = host["id"], request.path
        url_id = url_id.lower()
        label = f"function URL {url_id} {request.method} {raw_path}"
        config = await self.backend.store.find_function_url(url_id)
        if config is None:
            return label, _json_response(404, f"No function URL has the id {url_id}")
        label = f"function URL {config.function_name}:{config.qualifier} {request.method} {raw_path}"
        origin = request.header("origin")
        if request.method == "OPTIONS" and origin and request.header("access-control-request-method"):
            return label, HttpResponse(200, preflight_headers(config.cors, origin, request))
        body = await call.read_body(MAX_SYNC_PAYLOAD_BYTES)
        if body is None:
            return label, _json_response(413, f"Request must be smaller than {MAX_SYNC_PAYLOAD_BYTES} bytes for the "
                                              "InvokeFunction operation")
        request.body = body
        function = await function_target(self.backend, config.function_name, _qualifier(config))
        target = replace(function, action="lambda:InvokeFunctionUrl",
                         keys={**function.keys, "lambda:FunctionUrlAuthType": config.auth_type})
        authorizer_context = await self._authorized(config, request, target)
        if isinstance(authorizer_context, HttpResponse):
            return label, authorizer_context
        event = request_event(config, call, raw_path, self.backend.home.account_id, self.backend.home.region,
                              authorizer_context)
        response = await self._invoke(config, request, event)
        if config.cors:  # the URL's CORS settings replace whatever CORS headers the function sent
            response.headers = [(name, value) for name, value in response.headers
                                if not name.startswith("access-control-")]
            response.headers += cors_headers(config.cors, origin)
        return label, response

    async def _authorized(self, config: FunctionUrlConfig, request: HttpRequest,
                          target: Target) -> dict[str, Any] | None | HttpResponse:
        """The event's requestContext.authorizer (None for NONE), or the 403 that refuses the request."""
        gate = self.gate
        assert gate is not None, "the server sets the gate before it serves"
        forbidden = _json_response(403, "Forbidden")
        region = self.backend.home.region
        if config.auth_type == "NONE":
            return None if gate.authorizer.allows_anyone(target, region) else forbidden
        signature = read_signature(request_view(request))
        if isinstance(signature, Unsigned):
            return forbidden  # AWS_IAM asks for a signature in every auth mode
        try:
            caller = await gate.authenticator.caller(request, "lambda")
            context = RequestContext(_request_id(), region, self.backend.home.account_id, "", request.headers, caller)
            await gate.authorizer.authorize(caller, "lambda", ("InvokeFunctionUrl",), "InvokeFunctionUrl",
                                            [target], context)
        except EmberError:
            return forbidden
        return {"iam": {"accessKey": getattr(signature, "access_key_id", None), "accountId": caller.account_id,
                        "callerId": caller.user_id, "cognitoIdentity": None, "principalOrgId": None,
                        "userArn": caller.arn, "userId": caller.user_id}}

    async def _invoke(self, config: FunctionUrlConfig, request: HttpRequest, event: dict[str, Any]) -> HttpResponse:
        backend = self.backend
        qualifier = _qualifier(config)
        try:
            function, alias = await backend.get_with_alias(backend.resolve(config.function_name, qualifier))
            if alias is not None:
                function = await backend.pick_version(alias, function)
        except EmberError:
            return _json_response(404, "The function of this URL does not exist any more")
        trace_id = lineage.invoked(request.header("x-amzn-trace-id") or new_trace_id(), config.function_name)
        invocation = InvokeRequest(json.dumps(event).encode(), event["requestContext"]["requestId"],
                                   trace_id=trace_id, qualifier=qualifier)
        try:
            result = await backend.invoker.invoke(function, invocation)
        except TooManyRequestsException:
            return _json_response(429, "Rate Exceeded.")
        except EmberError:
            return _json_response(500, "Internal Server Error")
        if result.function_error:
            return _json_response(502, "Internal Server Error")
        mapped = function_response(result.payload)
        return mapped if mapped is not None else _json_response(502, "Internal Server Error")


def _qualifier(config: FunctionUrlConfig) -> str | None:
    return None if config.qualifier == "$LATEST" else config.qualifier


def request_event(config: FunctionUrlConfig, call: FrontDoorCall, raw_path: str, account_id: str, region: str,
                  authorizer: dict[str, Any] | None) -> dict[str, Any]:
    """The payload format 2.0 event of a request to a function URL."""
    request = call.request
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in call.header_lines:
        if name == "cookie":
            cookies += [part.strip() for part in value.split(";") if part.strip()]
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    headers.setdefault("x-forwarded-for", call.source_ip)
    headers.setdefault("x-forwarded-proto", request.scheme)
    now = time.time()
    request_id = _request_id()
    domain = f"{config.url_id}.lambda-url.{region}.localhost"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": request.query_string,
        "headers": headers,
        "requestContext": {
            "accountId": account_id if authorizer is not None else "anonymous",
            "apiId": config.url_id,
            "domainName": domain,
            "domainPrefix": config.url_id,
            "http": {"method": request.method, "path": unquote(raw_path), "protocol": f"HTTP/{call.http_version}",
                     "sourceIp": call.source_ip, "userAgent": headers.get("user-agent", "")},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": dt.datetime.fromtimestamp(now, dt.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if cookies:
        event["cookies"] = cookies
    pairs = parse_qsl(request.query_string, keep_blank_values=True)
    if pairs:
        parameters: dict[str, str] = {}
        for key, value in pairs:
            parameters[key] = f"{parameters[key]},{value}" if key in parameters else value
        event["queryStringParameters"] = parameters
    if request.body:
        content_type = headers.get("content-type", "")
        if _TEXT_TYPES.match(content_type) and _is_utf8(request.body):
            event["body"] = request.body.decode()
        else:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    return event


def function_response(payload: bytes) -> HttpResponse | None:
    """The HTTP response a function's answer maps to; None when it cannot be one (a 502)."""
    try:
        answer = json.loads(payload) if payload.strip() else None
    except ValueError:
        return None
    if not (isinstance(answer, dict) and "statusCode" in answer):
        # Valid JSON without a statusCode: it is the body, as returned, with status 200.
        return HttpResponse(200, [("content-type", "application/json")], payload)
    status = answer["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return None
    headers: list[tuple[str, str]] = []
    for name, value in (answer.get("headers") or {}).items():
        if isinstance(value, list):
            headers += [(str(name).lower(), str(item)) for item in value]
        elif value is not None:
            headers.append((str(name).lower(), str(value).lower() if isinstance(value, bool) else str(value)))
    headers += [("set-cookie", str(cookie)) for cookie in answer.get("cookies") or []]
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/json"))
    body = answer.get("body")
    if body is None:
        data = b""
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = json.dumps(body).encode()
    if answer.get("isBase64Encoded") and data:
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None
    return HttpResponse(status, headers, data)


def _allowed_origin(cors: dict[str, Any] | None, origin: str | None) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, or None when CORS does not allow it."""
    if not cors or not origin:
        return None
    allowed = cors.get("AllowOrigins") or []
    if "*" in allowed:
        return origin if cors.get("AllowCredentials") else "*"
    return origin if origin in allowed else None


def cors_headers(cors: dict[str, Any] | None, origin: str | None) -> list[tuple[str, str]]:
    allowed = _allowed_origin(cors, origin)
    if allowed is None or cors is None:
        return []
    headers = [("access-control-allow-origin", allowed), ("vary", "Origin")]
    if cors.get("AllowCredentials"):
        headers.append(("access-control-allow-credentials", "true"))
    if cors.get("ExposeHeaders"):
        headers.append(("access-control-expose-headers", ",".join(cors["ExposeHeaders"])))
    return headers


def preflight_headers(cors: dict[str, Any] | None, origin: str, request: HttpRequest) -> list[tuple[str, str]]:
    """A preflight's answer: the CORS headers when the origin and method are allowed, else none
    (the browser then refuses the request it asked about)."""
    allowed = _allowed_origin(cors, origin)
    method = (request.header("access-control-request-method") or "").upper()
    if allowed is None or cors is None:
        return []
    methods = [m.upper() for m in cors.get("AllowMethods") or []]
    if "*" not in methods and method not in methods:
        return []
    headers = cors_headers(cors, origin)
    headers.append(("access-control-allow-methods", ",".join(methods)))
    if cors.get("AllowHeaders"):
        headers.append(("access-control-allow-headers", ",".join(cors["AllowHeaders"])))
    if cors.get("MaxAge") is not None:
        headers.append(("access-control-max-age", str(cors["MaxAge"])))
    return headers


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode()
    except UnicodeDecodeError:
        return False
    return True


def _request_id() -> str:
    return str(uuid.uuid4())
