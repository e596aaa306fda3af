"""The rest-json protocol (Lambda, and later API Gateway-style services).

Members live where the model's `location` says: URI labels, query string, headers, the
status code, or the JSON body (or the raw body for a `payload` blob). Errors are
rendered as AWS's rest-json services render them: the status code, an
`x-amzn-ErrorType` header and a JSON body with `Type` and `message`.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

from ember.errors import EmberError, InvalidRequestContentException, ValidationException
from ember.protocol.base import Protocol
from ember.protocol.event_stream import encode_events
from ember.protocol.json_text import UnreadableJson, load_json
from ember.protocol.messages import HttpRequest, HttpResponse
from ember.protocol.validate import ShapeCheck, validate
from ember.protocol.values import from_json, from_text, to_json, to_text

_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


@dataclass(frozen=True, slots=True)
class _Route:
    method: str
    path_regex: re.Pattern[str]
    static_query: tuple[str, ...]  #: query names the requestUri itself requires (S3's `?acl`)
    specificity: tuple[int, int]
    operation: OperationModel


def _compile_route(operation: OperationModel) -> _Route:
    request_uri = operation.http["requestUri"]
    path, _, query = request_uri.partition("?")
    pattern = ""
    last = 0
    for match in _LABEL.finditer(path):
        pattern += re.escape(path[last : match.start()])
        name, greedy = match.group(1), match.group(2)
        pattern += f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)"
        last = match.end()
    pattern += re.escape(path[last:])
    if path != "/" and not path.endswith("/"):
        pattern += "/?"
    static_query = tuple(part.split("=")[0] for part in query.split("&") if part)
    literal_chars = len(_LABEL.sub("", path))
    return _Route(
        method=operation.http["method"],
        path_regex=re.compile(pattern + "$"),
        static_query=static_query,
        specificity=(literal_chars, len(static_query)),
        operation=operation,
    )


class RestJsonProtocol(Protocol):
    def __init__(self, service_model: ServiceModel, shape_checks: Mapping[str, ShapeCheck] | None = None,
                 validation_error: type[EmberError] = ValidationException) -> None:
        super().__init__(service_model, shape_checks, validation_error)
        routes = [_compile_route(service_model.operation_model(n)) for n in service_model.operation_names]
        # Most literal first, so /functions/{F}/policy wins over /functions/{F}.
        self._routes = sorted(routes, key=lambda r: r.specificity, reverse=True)

    def route(self, request: HttpRequest) -> tuple[OperationModel, dict[str, str]] | None:
        query_names = {name for name, _ in request.query}
        for candidate in self._routes:
            if candidate.method != request.method:
                continue
            match = candidate.path_regex.match(request.path)
            if match and all(name in query_names for name in candidate.static_query):
                labels = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
                return candidate.operation, labels
        return None

    def parse(self, operation: OperationModel, labels: dict[str, str], request: HttpRequest) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        params: dict[str, Any] = {}
        body_members: dict[str, Shape] = {}
        payload_name = shape.serialization.get("payload")
        for name, member in shape.members.items():
            location = member.serialization.get("location")
            wire_name = member.serialization.get("name", name)
            if location == "uri":
                if wire_name in labels:
                    params[name] = from_text(member, labels[wire_name], "path")
            elif location == "querystring":
                self._parse_query(member, name, wire_name, request, params)
            elif location == "header":
                value = request.header(wire_name)
                if value is not None:
                    params[name] = from_text(member, value, "header")
            elif location == "headers":
                prefix = wire_name.lower()
                found = {k[len(prefix) :]: v for k, v in request.headers.items() if k.startswith(prefix)}
                if found:
                    params[name] = found
            elif name == payload_name:
                self._parse_payload(member, name, request.body, params)
            elif location is None:
                body_members[name] = member
        if body_members and payload_name is None and request.body.strip():
            document = _load_json(request.body)
            if not isinstance(document, dict):
                raise InvalidRequestContentException("Could not parse request body into json: expected an object")
            for name, member in body_members.items():
                wire_name = member.serialization.get("name", name)
                if document.get(wire_name) is not None:  # null is absent, as for AWS
                    params[name] = from_json(member, document[wire_name])
        validate(shape, params, self.shape_checks, self.validation_error)
        return params

    @staticmethod
    def _parse_query(member: Shape, name: str, wire_name: str, request: HttpRequest, params: dict[str, Any]) -> None:
        values = [v for k, v in request.query if k == wire_name]
        if not values:
            return
        if member.type_name == "list":
            params[name] = [from_text(member.member, v, "query") for v in values]  # type: ignore[attr-defined]
        else:
            params[name] = from_text(member, values[0], "query")

    @staticmethod
    def _parse_payload(member: Shape, name: str, body: bytes, params: dict[str, Any]) -> None:
        if member.type_name == "blob":
            params[name] = body
        elif member.type_name == "string":
            params[name] = body.decode("utf-8", errors="replace")
        elif body.strip():
            params[name] = from_json(member, _load_json(body))

    def serialize(self, operation: OperationModel, result: dict[str, Any], *, request_id: str) -> HttpResponse:
        status = operation.http.get("responseCode", 200)
        headers: list[tuple[str, str]] = []
        shape = operation.output_shape
        if shape is None:
            if status == 204:  # a 204 has no body: uvicorn drops the connection if one is sent
                return HttpResponse(status)
            return HttpResponse(status, [("content-type", "application/json")], b"{}")
        payload_name = shape.serialization.get("payload")
        body: bytes | None = None
        for name, member in shape.members.items():
            value = result.get(name)
            if value is None:
                continue
            location = member.serialization.get("location")
            if location == "statusCode":
                status = int(value)
            elif location == "header":
                headers.append((member.serialization.get("name", name), to_text(member, value)))
            elif location == "headers":
                prefix = member.serialization.get("name", name)
                headers.extend((prefix + k, str(v)) for k, v in value.items())
            elif name == payload_name:
                if member.serialization.get("eventstream"):
                    assert isinstance(member, StructureShape)
                    body = encode_events(member, value)  # its content type is a header member of the output
                elif member.type_name in ("blob", "string"):
                    body = value.encode() if isinstance(value, str) else bytes(value)
                    headers.append(("content-type", "application/octet-stream"))
                else:
                    body = json.dumps(to_json(member, value)).encode()
                    headers.append(("content-type", "application/json"))
        if status == 204:  # no body, whatever the output shape (DeleteFunction, Invoke's DryRun)
            return HttpResponse(status, [h for h in headers if h[0] != "content-type"])
        if body is None and payload_name is None:
            body = json.dumps(to_json(shape, result)).encode()
            headers.append(("content-type", "application/json"))
        return HttpResponse(status, headers, body or b"")

    def serialize_error(self, error: EmberError, *, request_id: str) -> HttpResponse:
        document: dict[str, Any] = {"Type": "User" if error.sender_fault else "Service"}
        document[error.message_key] = error.message
        document.update(error.fields)
        headers = [("x-amzn-errortype", error.code), ("content-type", "application/json")]
        return HttpResponse(error.status_code, headers, json.dumps(document).encode())


def _load_json(body: bytes) -> Any:
    try:
        return load_json(body)
    except UnreadableJson as exc:
        raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") from None
