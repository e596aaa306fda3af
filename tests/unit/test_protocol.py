"""Tests for ember.protocol: rest-json routing, parsing, validation and serialization from botocore's Lambda model.

Where it helps, requests are built by botocore's own serializer and responses read back by botocore's own
parser, so these check what a real client sends and understands rather than our idea of it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import botocore.session
import pytest
from botocore.model import ServiceModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from ember.errors import (
    EmberError,
    InvalidParameterValueException,
    InvalidRequestContentException,
    PreconditionFailedException,
    ResourceNotFoundException,
    ServiceException,
    TooManyRequestsException,
    ValidationException,
)
from ember.protocol import HttpRequest, HttpResponse, protocol_for
from ember.protocol.rest_json import RestJsonProtocol

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:my-fn"
REQUEST_ID = "6d5ea52a-4b9f-4b0c-9d3e-1c9a3e8f2b10"


@pytest.fixture(scope="module")
def model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("lambda")


@pytest.fixture(scope="module")
def protocol(model: ServiceModel) -> RestJsonProtocol:
    built = protocol_for(model)
    assert isinstance(built, RestJsonProtocol)
    return built


def request(method: str, path: str, query: list[tuple[str, str]] | None = None,
            headers: dict[str, str] | None = None, body: bytes = b"") -> HttpRequest:
    return HttpRequest(method, path, query or [], {k.lower(): v for k, v in (headers or {}).items()}, body)


def routed(protocol: RestJsonProtocol, method: str, path: str, query: list[tuple[str, str]] | None = None
           ) -> tuple[str, dict[str, str]] | None:
    found = protocol.route(request(method, path, query))
    return (found[0].name, found[1]) if found else None


def client_request(model: ServiceModel, operation: str, params: dict[str, Any]) -> HttpRequest:
    """The request botocore would send for `params` (client-side validation off, as a raw client might)."""
    serialized = create_serializer("rest-json", include_validation=False).serialize_to_request(
        params, model.operation_model(operation))
    body = serialized["body"]
    return HttpRequest(
        method=serialized["method"],
        path=serialized["url_path"],
        query=[(k, str(item)) for k, v in serialized["query_string"].items()
               for item in (v if isinstance(v, list) else [v])],
        headers={k.lower(): v for k, v in serialized["headers"].items()},
        body=body.encode() if isinstance(body, str) else body,
    )


def parse_as_client(model: ServiceModel, protocol: RestJsonProtocol, operation: str,
                    params: dict[str, Any]) -> dict[str, Any]:
    http = client_request(model, operation, params)
    found = protocol.route(http)
    assert found is not None, f"{http.method} {http.path} did not route"
    assert found[0].name == operation
    return protocol.parse(found[0], found[1], http)


def read_as_client(model: ServiceModel, operation: str, response: HttpResponse) -> dict[str, Any]:
    """What boto3 makes of `response`."""
    headers = {}
    for name, value in response.headers:
        headers[name] = value
    return create_parser("rest-json").parse(
        {"status_code": response.status, "headers": headers, "body": response.body},
        model.operation_model(operation).output_shape,
    )


def validation_message(protocol: RestJsonProtocol, model: ServiceModel, operation: str,
                       params: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as caught:
        parse_as_client(model, protocol, operation, params)
    assert caught.value.status_code == 400
    return caught.value.message


# ---- routing -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "operation"), [
    ("POST", "/2015-03-31/functions/my-fn/invocations", "Invoke"),
    ("POST", "/2014-11-13/functions/my-fn/invoke-async/", "InvokeAsync"),
    ("POST", "/2015-03-31/functions", "CreateFunction"),
    ("GET", "/2015-03-31/functions/my-fn", "GetFunction"),
    ("GET", "/2015-03-31/functions/my-fn/configuration", "GetFunctionConfiguration"),
    ("PUT", "/2015-03-31/functions/my-fn/configuration", "UpdateFunctionConfiguration"),
    ("PUT", "/2015-03-31/functions/my-fn/code", "UpdateFunctionCode"),
    ("DELETE", "/2015-03-31/functions/my-fn", "DeleteFunction"),
    ("GET", "/2015-03-31/functions/my-fn/policy", "GetPolicy"),
    ("POST", "/2015-03-31/functions/my-fn/policy", "AddPermission"),
    ("GET", "/2016-08-19/account-settings", "GetAccountSettings"),
])
def test_routes_each_operation_by_method_and_path(protocol: RestJsonProtocol, method: str, path: str,
                                                   operation: str) -> None:
    found = routed(protocol, method, path)
    assert found is not None
    assert found[0] == operation


def test_the_most_literal_route_wins(protocol: RestJsonProtocol) -> None:
    # /functions/{F} would match ".../policy" as a function named "policy" if it were tried first.
    assert routed(protocol, "GET", "/2015-03-31/functions/my-fn") == ("GetFunction", {"FunctionName": "my-fn"})
    assert routed(protocol, "GET", "/2015-03-31/functions/my-fn/policy") == ("GetPolicy", {"FunctionName": "my-fn"})
    assert routed(protocol, "GET", "/2015-03-31/functions/my-fn/configuration") == (
        "GetFunctionConfiguration", {"FunctionName": "my-fn"})
    assert routed(protocol, "DELETE", "/2015-03-31/functions/my-fn/policy/sid-1") == (
        "RemovePermission", {"FunctionName": "my-fn", "StatementId": "sid-1"})


def test_list_functions_routes_with_and_without_a_trailing_slash(protocol: RestJsonProtocol) -> None:
    assert routed(protocol, "GET", "/2015-03-31/functions/") == ("ListFunctions", {})
    assert routed(protocol, "GET", "/2015-03-31/functions") == ("ListFunctions", {})
    # A trailing slash after a label still names the function.
    assert routed(protocol, "GET", "/2015-03-31/functions/my-fn/") == ("GetFunction", {"FunctionName": "my-fn"})


def test_static_query_names_in_the_request_uri_take_part_in_routing(protocol: RestJsonProtocol) -> None:
    path = "/2019-09-30/functions/my-fn/provisioned-concurrency"
    assert routed(protocol, "GET", path, [("List", "ALL")])[0] == "ListProvisionedConcurrencyConfigs"  # type: ignore[index]
    assert routed(protocol, "GET", path, [("Qualifier", "1")])[0] == "GetProvisionedConcurrencyConfig"  # type: ignore[index]


def test_unknown_paths_and_methods_do_not_route(protocol: RestJsonProtocol) -> None:
    assert routed(protocol, "GET", "/nope") is None
    assert routed(protocol, "PATCH", "/2015-03-31/functions/my-fn") is None
    assert routed(protocol, "GET", "/2015-03-31/functions/my-fn/no-such-thing") is None
    assert routed(protocol, "GET", "/2015-03-31/functions//configuration") is None  # empty label


def test_uri_labels_are_percent_decoded(protocol: RestJsonProtocol) -> None:
    encoded = ARN.replace(":", "%3A")
    assert routed(protocol, "GET", f"/2015-03-31/functions/{encoded}/configuration") == (
        "GetFunctionConfiguration", {"FunctionName": ARN})
    assert routed(protocol, "GET", f"/2017-03-31/tags/{encoded}") == ("ListTags", {"Resource": ARN})
    # A label never spans a slash, even an encoded one decodes only after matching.
    assert routed(protocol, "GET", "/2015-03-31/functions/a%2Fb") == ("GetFunction", {"FunctionName": "a/b"})


# ---- parsing -------------------------------------------------------------------------------------------------

def test_parses_invoke_from_path_query_headers_and_raw_payload(protocol: RestJsonProtocol,
                                                               model: ServiceModel) -> None:
    context = base64.b64encode(b'{"custom": {"k": "v"}}').decode()
    params = parse_as_client(model, protocol, "Invoke", {
        "FunctionName": ARN, "Qualifier": "$LATEST", "InvocationType": "Event", "LogType": "Tail",
        "ClientContext": context, "Payload": b'{"key": "value"}',
    })
    assert params == {"FunctionName": ARN, "Qualifier": "$LATEST", "InvocationType": "Event", "LogType": "Tail",
                      "ClientContext": context, "Payload": b'{"key": "value"}'}


def test_the_invoke_payload_is_kept_as_bytes_even_when_not_json(protocol: RestJsonProtocol) -> None:
    http = request("POST", "/2015-03-31/functions/my-fn/invocations", body=b"\x87not json")
    operation, labels = protocol.route(http)  # type: ignore[misc]
    assert protocol.parse(operation, labels, http) == {"FunctionName": "my-fn", "Payload": b"\x87not json"}


def test_parses_query_members_with_their_types(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    params = parse_as_client(model, protocol, "ListFunctions", {"MaxItems": 2, "Marker": "bXktZm4=",
                                                                "FunctionVersion": "ALL"})
    assert params == {"MaxItems": 2, "Marker": "bXktZm4=", "FunctionVersion": "ALL"}


def test_a_query_integer_that_is_not_a_number_is_bad_request_content(protocol: RestJsonProtocol) -> None:
    http = request("GET", "/2015-03-31/functions/", [("MaxItems", "two")])
    operation, labels = protocol.route(http)  # type: ignore[misc]
    with pytest.raises(InvalidRequestContentException, match="Could not parse query value 'two' as integer"):
        protocol.parse(operation, labels, http)


def test_parses_a_json_body_with_nested_members_and_a_base64_blob(protocol: RestJsonProtocol,
                                                                  model: ServiceModel) -> None:
    params = parse_as_client(model, protocol, "CreateFunction", {
        "FunctionName": "my-fn", "Runtime": "python3.12", "Role": ROLE, "Handler": "index.handler",
        "Code": {"ZipFile": b"PK\x03\x04 zip bytes"}, "Timeout": 30, "MemorySize": 256,
        "Environment": {"Variables": {"STAGE": "dev"}}, "Tags": {"team": "core"},
        "EphemeralStorage": {"Size": 1024}, "Architectures": ["x86_64"],
    })
    assert params["Code"] == {"ZipFile": b"PK\x03\x04 zip bytes"}
    assert params["Environment"] == {"Variables": {"STAGE": "dev"}}
    assert (params["Timeout"], params["MemorySize"], params["EphemeralStorage"]) == (30, 256, {"Size": 1024})
    assert params["Tags"] == {"team": "core"}
    assert params["Architectures"] == ["x86_64"]


def test_unknown_body_members_are_dropped(protocol: RestJsonProtocol) -> None:
    http = request("PUT", "/2015-03-31/functions/my-fn/configuration",
                   body=json.dumps({"Timeout": 10, "NotAMember": 1}).encode())
    operation, labels = protocol.route(http)  # type: ignore[misc]
    assert protocol.parse(operation, labels, http) == {"FunctionName": "my-fn", "Timeout": 10}


def test_parses_a_uri_label_and_a_body_together(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    params = parse_as_client(model, protocol, "TagResource", {"Resource": ARN, "Tags": {"a": "b"}})
    assert params == {"Resource": ARN, "Tags": {"a": "b"}}
    params = parse_as_client(model, protocol, "UntagResource", {"Resource": ARN, "TagKeys": ["a", "b"]})
    assert params == {"Resource": ARN, "TagKeys": ["a", "b"]}  # a list from repeated query names


@pytest.mark.parametrize(("body", "expected"), [
    (b"{bad", "Could not parse request body into json: "),
    (b"[1, 2]", "Could not parse request body into json: expected an object"),
    (b'{"Timeout": "3"}', 'expected an integer for Timeout, got "3"'),
    (b'{"Timeout": 3.5}', "expected an integer for Timeout, got 3.5"),
    (b'{"Environment": {"Variables": ["A"]}}', "expected an object for EnvironmentVariables"),
    (b'{"Description": 7}', "expected a string for Description, got 7"),
])
def test_a_body_that_does_not_fit_the_shape_is_bad_request_content(protocol: RestJsonProtocol, body: bytes,
                                                                   expected: str) -> None:
    http = request("PUT", "/2015-03-31/functions/my-fn/configuration", body=body)
    operation, labels = protocol.route(http)  # type: ignore[misc]
    with pytest.raises(InvalidRequestContentException) as caught:
        protocol.parse(operation, labels, http)
    assert caught.value.status_code == 400
    assert caught.value.message.startswith("Could not parse request body into json: ")
    assert expected in caught.value.message


def test_a_blob_that_is_not_base64_is_bad_request_content(protocol: RestJsonProtocol) -> None:
    http = request("PUT", "/2015-03-31/functions/my-fn/code", body=b'{"ZipFile": "!!! not base64"}')
    operation, labels = protocol.route(http)  # type: ignore[misc]
    with pytest.raises(InvalidRequestContentException, match="is not valid base64"):
        protocol.parse(operation, labels, http)


def test_an_empty_body_parses_to_the_labels_alone(protocol: RestJsonProtocol) -> None:
    http = request("PUT", "/2015-03-31/functions/my-fn/configuration")
    operation, labels = protocol.route(http)  # type: ignore[misc]
    assert protocol.parse(operation, labels, http) == {"FunctionName": "my-fn"}


# ---- validation ----------------------------------------------------------------------------------------------

def test_a_missing_required_member_is_named_in_camel_case(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    message = validation_message(protocol, model, "CreateFunction", {
        "FunctionName": "my-fn", "Runtime": "python3.12", "Handler": "index.handler", "Code": {"ZipFile": b"PK"}})
    assert message == ("1 validation error detected: Value null at 'role' failed to satisfy constraint: "
                       "Member must not be null")


def test_several_problems_are_reported_together(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    message = validation_message(protocol, model, "UpdateFunctionConfiguration",
                                 {"FunctionName": "my-fn", "Timeout": 0, "MemorySize": 127})
    assert message == (
        "2 validation errors detected: "
        "Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1; "
        "Value '127' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal "
        "to 128"
    )


def test_every_required_member_missing_is_counted(protocol: RestJsonProtocol) -> None:
    http = request("POST", "/2015-03-31/functions", body=b"{}")
    operation, labels = protocol.route(http)  # type: ignore[misc]
    with pytest.raises(ValidationException) as caught:
        protocol.parse(operation, labels, http)
    message = caught.value.message
    assert message.startswith("3 validation errors detected: ")
    for member in ("functionName", "role", "code"):
        assert f"Value null at '{member}' failed to satisfy constraint: Member must not be null" in message
    assert message.count("; ") == 2


def test_enum_values_are_listed(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    message = validation_message(protocol, model, "ListFunctions", {"FunctionVersion": "invalid"})
    assert message == ("1 validation error detected: Value 'invalid' at 'functionVersion' failed to satisfy "
                       "constraint: Member must satisfy enum value set: [ALL]")


def test_patterns_are_quoted_as_in_the_model(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    message = validation_message(protocol, model, "GetFunction", {"FunctionName": "bad name"})
    pattern = model.shape_for("NamespacedFunctionName").metadata["pattern"]
    assert message == (f"1 validation error detected: Value 'bad name' at 'functionName' failed to satisfy "
                       f"constraint: Member must satisfy regular expression pattern: {pattern}")


def test_lengths_are_checked_for_strings_and_lists(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    message = validation_message(protocol, model, "UpdateFunctionConfiguration",
                                 {"FunctionName": "my-fn", "Description": "d" * 257})
    assert message == (f"1 validation error detected: Value '{'d' * 257}' at 'description' failed to satisfy "
                       "constraint: Member must have length less than or equal to 256")
    message = validation_message(protocol, model, "CreateFunction", {
        "FunctionName": "my-fn", "Role": ROLE, "Code": {"ZipFile": b"PK"}, "Architectures": ["x86_64", "arm64"]})
    assert "Value null at 'architectures' failed to satisfy constraint: Member must have length less than or " \
           "equal to 1" in message  # a list's value is not echoed


def test_nested_members_have_dotted_paths(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    message = validation_message(protocol, model, "UpdateFunctionConfiguration", {
        "FunctionName": "my-fn", "Environment": {"Variables": {"1BAD": "x"}}, "EphemeralStorage": {"Size": 100}})
    # AWS reports bad map keys once for the whole map, without echoing them.
    assert "Value at 'environment.variables' failed to satisfy constraint: Map keys must satisfy constraint: " \
           "[Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]" in message
    assert "Value '100' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value greater " \
           "than or equal to 512" in message
    assert message.startswith("2 validation errors detected: ")


def test_a_service_shape_check_replaces_the_generic_one(model: ServiceModel) -> None:
    seen: list[object] = []

    def check_runtime(shape: Shape, value: Any) -> None:
        seen.append(value)
        if value == "python3.99":
            raise InvalidParameterValueException(f"Value {value} at 'runtime' failed to satisfy constraint: "
                                                 "Member must satisfy enum value set: [...] or be a valid ARN")

    custom = protocol_for(model, {"Runtime": check_runtime})
    assert isinstance(custom, RestJsonProtocol)
    with pytest.raises(InvalidParameterValueException, match="Value python3.99 at 'runtime'"):
        parse_as_client(model, custom, "UpdateFunctionConfiguration", {"FunctionName": "f", "Runtime": "python3.99"})
    assert seen == ["python3.99"]
    # Without the service's check, the same value is a plain enum ValidationException.
    plain = protocol_for(model)
    assert isinstance(plain, RestJsonProtocol)
    message = validation_message(plain, model, "UpdateFunctionConfiguration",
                                 {"FunctionName": "f", "Runtime": "python3.99"})
    assert "Value 'python3.99' at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [" \
           in message


# ---- serialization -------------------------------------------------------------------------------------------

def test_serializes_invoke_status_headers_and_raw_payload(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    operation = model.operation_model("Invoke")
    log = base64.b64encode(b"START RequestId: 1\n").decode()
    response = protocol.serialize(operation, {"StatusCode": 200, "Payload": b'{"errorMessage": "boom"}',
                                              "ExecutedVersion": "$LATEST", "FunctionError": "Unhandled",
                                              "LogResult": log}, request_id=REQUEST_ID)
    assert response.status == 200
    headers = dict(response.headers)
    assert headers["X-Amz-Executed-Version"] == "$LATEST"
    assert headers["X-Amz-Function-Error"] == "Unhandled"
    assert headers["X-Amz-Log-Result"] == log
    assert response.body == b'{"errorMessage": "boom"}'  # the payload as is, not JSON-wrapped

    parsed = read_as_client(model, "Invoke", response)
    assert parsed["StatusCode"] == 200
    assert parsed["FunctionError"] == "Unhandled"
    assert parsed["ExecutedVersion"] == "$LATEST"
    assert parsed["LogResult"] == log
    payload = parsed["Payload"]
    assert (payload.encode() if isinstance(payload, str) else payload) == b'{"errorMessage": "boom"}'


def test_serializes_an_event_invoke_as_202_with_no_body(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    response = protocol.serialize(model.operation_model("Invoke"), {"StatusCode": 202, "Payload": b""},
                                  request_id=REQUEST_ID)
    assert (response.status, response.body) == (202, b"")


def test_serializes_a_json_output_that_boto3_reads_back(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    configuration = {"FunctionName": "my-fn", "FunctionArn": ARN, "Timeout": 3, "MemorySize": 128,
                     "Environment": {"Variables": {"A": "1"}}, "Architectures": ["x86_64"],
                     "EphemeralStorage": {"Size": 512}}
    result = {"Functions": [configuration], "NextMarker": "bXktZm4="}
    response = protocol.serialize(model.operation_model("ListFunctions"), result, request_id=REQUEST_ID)

    assert response.status == 200
    assert ("content-type", "application/json") in response.headers
    assert json.loads(response.body) == result
    parsed = read_as_client(model, "ListFunctions", response)
    assert parsed["Functions"] == [configuration]
    assert parsed["NextMarker"] == "bXktZm4="


def test_serializes_the_model_success_code(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    created = protocol.serialize(model.operation_model("AddPermission"), {"Statement": "{}"}, request_id=REQUEST_ID)
    assert created.status == 201
    assert json.loads(created.body) == {"Statement": "{}"}


def test_a_204_has_no_body(protocol: RestJsonProtocol, model: ServiceModel) -> None:
    # An HTTP server must not send a body with 204; uvicorn drops the connection if one is given.
    for operation in ("RemovePermission", "TagResource", "UntagResource"):
        response = protocol.serialize(model.operation_model(operation), {}, request_id=REQUEST_ID)
        assert (response.status, response.body) == (204, b""), operation
        assert "content-type" not in dict(response.headers)
    deleted = protocol.serialize(model.operation_model("DeleteFunction"), {"StatusCode": 204}, request_id=REQUEST_ID)
    assert (deleted.status, deleted.body) == (204, b"")
    assert read_as_client(model, "DeleteFunction", deleted)["StatusCode"] == 204
    dry_run = protocol.serialize(model.operation_model("Invoke"), {"StatusCode": 204}, request_id=REQUEST_ID)
    assert (dry_run.status, dry_run.body) == (204, b"")


@pytest.mark.parametrize(("error", "status", "message_key"), [
    (ValidationException("1 validation error detected: ..."), 400, "message"),
    (InvalidParameterValueException("Runtime is wrong"), 400, "message"),
    (PreconditionFailedException("The Revision Id provided does not match"), 412, "message"),
    (ResourceNotFoundException("Function not found: " + ARN), 404, "Message"),
])
def test_serializes_errors_as_lambda_does(protocol: RestJsonProtocol, model: ServiceModel, error: EmberError,
                                          status: int, message_key: str) -> None:
    response = protocol.serialize_error(error, request_id=REQUEST_ID)

    assert response.status == status
    headers = dict(response.headers)
    assert headers["x-amzn-errortype"] == error.code
    assert headers["content-type"] == "application/json"
    assert json.loads(response.body) == {"Type": "User", message_key: error.message}

    parsed = read_as_client(model, "GetFunction", response)
    assert parsed["Error"]["Code"] == error.code
    assert parsed["Error"]["Message"] == error.message
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status


def test_error_fields_and_service_faults(protocol: RestJsonProtocol) -> None:
    throttled = protocol.serialize_error(TooManyRequestsException("Rate Exceeded.", Reason="CallerRateLimitExceeded"),
                                         request_id=REQUEST_ID)
    assert throttled.status == 429
    assert json.loads(throttled.body) == {"Type": "User", "message": "Rate Exceeded.",
                                          "Reason": "CallerRateLimitExceeded"}
    fault = protocol.serialize_error(ServiceException("Ember hit an internal error"), request_id=REQUEST_ID)
    assert fault.status == 500
    assert json.loads(fault.body)["Type"] == "Service"
