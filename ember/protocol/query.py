"""The query protocol (IAM, STS, SNS, and the older CloudWatch and SQS APIs).

A request is `POST /` with an `application/x-www-form-urlencoded` body, or a `GET /` with the same
parameters in its query string (presigned URLs); parameters from both are read, and one given
twice is refused. `Action` names the operation and `Version` must be the model's `apiVersion`;
the other parameters are the input members, flattened as form.py describes.

The answer is XML in the model's `xmlNamespace`:
`<OpResponse><OpResult>…</OpResult><ResponseMetadata><RequestId>…</RequestId></ResponseMetadata>
</OpResponse>` (`OpResult` is the output's `resultWrapper`; an operation without output answers
the Response with only its ResponseMetadata). Errors are
`<ErrorResponse><Error><Type>Sender|Receiver</Type><Code>…</Code><Message>…</Message></Error>
<RequestId>…</RequestId></ErrorResponse>`, with the code and status the model gives the error
(IAM's NoSuchEntityException is `NoSuchEntity`, 404), else the error's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from xml.sax.saxutils import quoteattr

from botocore.model import OperationModel, ServiceModel, Shape

from ember.errors import (
    EmberError,
    InvalidAction,
    InvalidQueryParameter,
    MissingAction,
    MissingParameter,
    ValidationException,
)
from ember.protocol.base import Protocol
from ember.protocol.form import read_form, read_structure
from ember.protocol.messages import HttpRequest, HttpResponse
from ember.protocol.validate import ShapeCheck, validate
from ember.protocol.xml_text import element_name, write_member, write_structure, xml_text

_FORM_TYPE = "application/x-www-form-urlencoded"
#: the elements every <Error> has; a field of the same name would make a second one
_ERROR_ELEMENTS = frozenset({"Type", "Code", "Message"})


class QueryProtocol(Protocol):
    routes_by_body: ClassVar[bool] = True

    def __init__(self, service_model: ServiceModel, shape_checks: Mapping[str, ShapeCheck] | None = None,
                 validation_error: type[EmberError] = ValidationException) -> None:
        super().__init__(service_model, shape_checks, validation_error)
        self._api_version = service_model.api_version
        #: the last request's parameters (the request, its body, what they read as): see _parameters
        self._last_read: tuple[HttpRequest, bytes, dict[str, str]] | None = None
        namespace = service_model.metadata.get("xmlNamespace")
        self._xmlns = f" xmlns={quoteattr(namespace)}" if namespace else ""
        self._operations = {name: service_model.operation_model(name) for name in service_model.operation_names}
        # Error shapes by shape name and by the code the model gives them: a handler may raise
        # either (NoSuchEntityException or NoSuchEntity); the wire carries the code.
        self._error_shapes: dict[str, Shape] = {}
        for shape in service_model.error_shapes:
            self._error_shapes[shape.name] = shape
            code = shape.metadata.get("error", {}).get("code")
            if code:
                self._error_shapes.setdefault(code, shape)

    def route(self, request: HttpRequest) -> tuple[OperationModel, dict[str, str]] | None:
        if request.method not in ("GET", "POST"):
            return None
        params = self._parameters(request)
        action = params.get("Action")
        if not action:
            # MissingAction as the Common Errors page of AWS's query APIs describes it.
            raise MissingAction("The request is missing an action or a required parameter.")
        version = params.get("Version")
        if not version:  # AWS's code for a required parameter left out; the wording is Ember's
            raise MissingParameter("The request must contain the parameter Version.")
        operation = self._operations.get(action)
        if operation is None or version != self._api_version:
            # As AWS's query services answer an unknown Action, or a known one under another Version
            # (SES, to an old client: "Could not find operation GetSendStatistics for version 2012-12-01").
            raise InvalidAction(f"Could not find operation {action} for version {version}")
        return operation, {}

    def parse(self, operation: OperationModel, labels: dict[str, str], request: HttpRequest) -> dict[str, Any]:
        shape = operation.input_shape
        if shape is None:
            self._last_read = None
            return {}
        params = read_structure(shape, self._parameters(request))
        self._last_read = None  # parsed: the request's body need not be held any longer
        validate(shape, params, self.shape_checks, self.validation_error)
        return params

    def serialize(self, operation: OperationModel, result: dict[str, Any], *, request_id: str) -> HttpResponse:
        name = f"{operation.name}Response"
        out = [f"<{name}{self._xmlns}>"]
        shape = operation.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper")
            if wrapper:
                out.append(f"<{wrapper}>")
            write_structure(out, shape, result)
            if wrapper:
                out.append(f"</{wrapper}>")
        out.append(f"<ResponseMetadata><RequestId>{xml_text(request_id)}</RequestId></ResponseMetadata></{name}>")
        return _xml_response(200, out)

    def serialize_error(self, error: EmberError, *, request_id: str) -> HttpResponse:
        shape = self._error_shapes.get(error.code)
        modeled = shape.metadata.get("error", {}) if shape is not None else {}
        code = modeled.get("code", error.code)
        status = modeled.get("httpStatusCode", error.status_code)
        # A model's error trait without senderFault is the service's fault (ServiceFailure).
        is_sender = modeled.get("senderFault", False) if modeled else error.sender_fault
        out = [f"<ErrorResponse{self._xmlns}><Error><Type>{'Sender' if is_sender else 'Receiver'}</Type>",
               f"<Code>{xml_text(code)}</Code><Message>{xml_text(error.message)}</Message>"]
        members = shape.members if shape is not None else {}  # type: ignore[attr-defined]
        for field_name, value in error.fields.items():
            member = members.get(field_name)
            if value is None or field_name in _ERROR_ELEMENTS:
                continue
            if member is not None:
                write_member(out, member, element_name(member, field_name), value)
            else:
                out.append(f"<{field_name}>{xml_text(str(value))}</{field_name}>")
        out.append(f"</Error><RequestId>{xml_text(request_id)}</RequestId></ErrorResponse>")
        return _xml_response(status, out)

    def _parameters(self, request: HttpRequest) -> dict[str, str]:
        """Every parameter of `request`: the query string's, then the form body's. Read once per
        request: the edge asks to route it (perhaps twice, finding its service) and then to parse it."""
        last = self._last_read
        if last is not None and last[0] is request and last[1] is request.body:
            return last[2]
        params = self._read_parameters(request)
        self._last_read = (request, request.body, params)
        return params

    def _read_parameters(self, request: HttpRequest) -> dict[str, str]:
        try:
            query_string = request.query_string.encode("latin-1").decode("utf-8")
            body = request.body.decode("utf-8") if request.method == "POST" and _is_form(request) else ""
        except (UnicodeEncodeError, UnicodeDecodeError):
            raise InvalidQueryParameter("The request's parameters are not UTF-8") from None
        pairs = read_form(query_string, "query string")
        if body:
            pairs += read_form(body, "request body")
        params: dict[str, str] = {}
        for key, value in pairs:
            if key in params:
                # Refused rather than resolved either way: the two readings would be different requests.
                raise InvalidQueryParameter(f"The parameter {key} is given more than once")
            params[key] = value
        return params


def _is_form(request: HttpRequest) -> bool:
    content_type = request.header("content-type")
    return content_type is None or content_type.split(";")[0].strip().lower() == _FORM_TYPE


def _xml_response(status: int, parts: list[str]) -> HttpResponse:
    return HttpResponse(status, [("content-type", "text/xml")], "".join(parts).encode())
