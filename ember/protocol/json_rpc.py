"""The json protocol (AWS JSON 1.0/1.1): CloudWatch Logs, CloudWatch, and later DynamoDB, Kinesis.

Every request is `POST /` naming its operation in `X-Amz-Target: <targetPrefix>.<Operation>`,
with the input as one JSON object (`application/x-amz-json-1.x`). The output is the output
shape as a JSON object; errors are `{"__type": "<code>", "message": "..."}` with the status
the model gives the error shape (400 for a client error it gives none, 500 for a fault).

A service the model marks `awsQueryCompatible` (CloudWatch, once a query-protocol service)
also says `x-amzn-query-error: <query code>;Sender|Receiver`, from which botocore takes the
error code its older clients knew (`InvalidParameterValue`, `MissingParameter`, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.model import OperationModel, ServiceModel

from ember.errors import EmberError, InvalidRequestContentException, SerializationException, ValidationException
from ember.protocol.base import Protocol
from ember.protocol.json_text import UnreadableJson, load_json
from ember.protocol.messages import HttpRequest, HttpResponse
from ember.protocol.validate import ShapeCheck, validate
from ember.protocol.values import from_json, to_json


class JsonRpcProtocol(Protocol):
    def __init__(self, service_model: ServiceModel, shape_checks: Mapping[str, ShapeCheck] | None = None,
                 validation_error: type[EmberError] = ValidationException) -> None:
        super().__init__(service_model, shape_checks, validation_error)
        metadata = service_model.metadata
        self._target_prefix = metadata["targetPrefix"]
        self._content_type = f"application/x-amz-json-{metadata.get('jsonVersion', '1.0')}"
        self._is_query_compatible = "awsQueryCompatible" in metadata
        self._operations = {name: service_model.operation_model(name) for name in service_model.operation_names}
        # Error shapes by name, for the status and query code the model gives each.
        self._error_shapes = {shape.name: shape for shape in service_model.error_shapes}

    def route(self, request: HttpRequest) -> tuple[OperationModel, dict[str, str]] | None:
        target = request.header("x-amz-target") or ""
        prefix, _, operation_name = target.partition(".")
        if request.method != "POST" or prefix != self._target_prefix:
            return None
        operation = self._operations.get(operation_name)
        return (operation, {}) if operation is not None else None

    def parse(self, operation: OperationModel, labels: dict[str, str], request: HttpRequest) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            return {}
        document: Any = {}
        if request.body.strip():
            try:
                document = load_json(request.body)
            except UnreadableJson as exc:
                raise SerializationException(f"Could not read the request body as JSON: {exc}") from None
        if not isinstance(document, dict):
            raise SerializationException("The request body must be a JSON object of the operation's parameters")
        params: dict[str, Any] = {}
        for name, member in shape.members.items():
            wire_name = member.serialization.get("name", name)
            if document.get(wire_name) is not None:  # null is absent, as for AWS
                try:
                    params[name] = from_json(member, document[wire_name])
                except InvalidRequestContentException as exc:
                    raise SerializationException(f"{exc.message} (member {wire_name})") from None
        validate(shape, params, self.shape_checks, self.validation_error)
        return params

    def serialize(self, operation: OperationModel, result: dict[str, Any], *, request_id: str) -> HttpResponse:
        shape = operation.output_shape
        document = to_json(shape, result) if shape is not None else {}
        return HttpResponse(200, [("content-type", self._content_type)], json.dumps(document).encode())

    def serialize_error(self, error: EmberError, *, request_id: str) -> HttpResponse:
        document: dict[str, Any] = {"__type": error.code, "message": error.message}
        document.update(error.fields)
        headers = [("x-amzn-errortype", error.code), ("content-type", self._content_type)]
        status = error.status_code
        shape = self._error_shapes.get(error.code)
        modeled = shape.metadata.get("error", {}) if shape is not None else {}
        if modeled.get("httpStatusCode"):
            status = modeled["httpStatusCode"]
        elif error.sender_fault:
            status = 400  # AWS's JSON services answer every client error with 400
        if self._is_query_compatible:
            fault = "Sender" if error.sender_fault else "Receiver"
            headers.append(("x-amzn-query-error", f"{modeled.get('code', error.code)};{fault}"))
        return HttpResponse(status, headers, json.dumps(document).encode())
