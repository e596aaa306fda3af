"""Tests for ember.protocol.json_rpc against botocore's own serializer and parser (logs and cloudwatch models)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import botocore.session
import pytest
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from ember.errors import (
    EmberError,
    InvalidParameterException,
    InvalidParameterValueException,
    ResourceNotFoundException,
    SerializationException,
    ServiceException,
)
from ember.protocol import HttpRequest, HttpResponse, protocol_for
from ember.protocol.json_rpc import JsonRpcProtocol

REQUEST_ID = "6d5ea52a-4b9f-4b0c-9d3e-1c9a3e8f2b10"

@pytest.fixture(scope="module")
def logs_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("logs")


@pytest.fixture(scope="module")
def cloudwatch_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("cloudwatch")


def client_request(model: ServiceModel, operation: str, params: dict[str, Any]) -> HttpRequest:
    serializer = create_serializer(model.resolved_protocol, include_validation=False)
    serialized = serializer.serialize_to_request(params, model.operation_model(operation))
    body = serialized["body"]
    return HttpRequest(serialized["method"], serialized["url_path"], [],
                       {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in serialized["headers"].items()},
                       body.encode() if isinstance(body, str) else body)


def read_as_client(model: ServiceModel, operation: str, response: HttpResponse) -> dict[str, Any]:
    return create_parser(model.resolved_protocol).parse(
        {"status_code": response.status, "headers": dict(response.headers), "body": response.body},
        model.operation_model(operation).output_shape,
    )


def test_cloudwatch_is_served_over_the_protocol_botocore_picks(cloudwatch_model: ServiceModel) -> None:
    # The model lists smithy-rpc-v2-cbor first, but botocore prefers json: that is what boto3 sends.
    assert cloudwatch_model.resolved_protocol == "json"
    assert isinstance(protocol_for(cloudwatch_model), JsonRpcProtocol)


def test_routes_by_target_and_parses_typed_members(logs_model: ServiceModel) -> None:
    protocol = protocol_for(logs_model)
    http = client_request(logs_model, "GetLogEvents", {"logGroupName": "/aws/lambda/f", "logStreamName": "s",
                                                       "startTime": 5, "startFromHead": True})
    routed = protocol.route(http)
    assert routed is not None and routed[0].name == "GetLogEvents"
    assert protocol.parse(routed[0], {}, http) == {"logGroupName": "/aws/lambda/f", "logStreamName": "s",
                                                   "startTime": 5, "startFromHead": True}


def test_does_not_route_other_targets_methods_or_services(logs_model: ServiceModel,
                                                         cloudwatch_model: ServiceModel) -> None:
    protocol = protocol_for(logs_model)
    cloudwatch_request = client_request(cloudwatch_model, "ListMetrics", {})
    assert protocol.route(cloudwatch_request) is None
    assert protocol.route(HttpRequest("POST", "/", [], {"x-amz-target": "Logs_20140328.NoSuchThing"})) is None
    assert protocol.route(HttpRequest("GET", "/", [], {"x-amz-target": "Logs_20140328.GetLogEvents"})) is None


def test_timestamps_arrive_as_datetimes(cloudwatch_model: ServiceModel) -> None:
    protocol = protocol_for(cloudwatch_model)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    http = client_request(cloudwatch_model, "GetMetricStatistics", {
        "Namespace": "AWS/Lambda", "MetricName": "Invocations", "StartTime": start,
        "EndTime": start + dt.timedelta(hours=1), "Period": 60, "Statistics": ["Sum"]})
    routed = protocol.route(http)
    assert routed is not None
    params = protocol.parse(routed[0], {}, http)
    assert params["StartTime"] == start and params["Period"] == 60


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"logGroupNamePrefix": 7}'])
def test_an_unreadable_body_is_a_serialization_exception(logs_model: ServiceModel, body: bytes) -> None:
    protocol = protocol_for(logs_model)
    http = HttpRequest("POST", "/", [], {"x-amz-target": "Logs_20140328.DescribeLogGroups"}, body)
    routed = protocol.route(http)
    assert routed is not None
    with pytest.raises(SerializationException):
        protocol.parse(routed[0], {}, http)


def test_constraint_failures_use_the_services_error(logs_model: ServiceModel) -> None:
    protocol = protocol_for(logs_model, validation_error=InvalidParameterException)
    http = client_request(logs_model, "DescribeLogGroups", {"limit": 0})
    routed = protocol.route(http)
    assert routed is not None
    with pytest.raises(InvalidParameterException) as caught:
        protocol.parse(routed[0], {}, http)
    assert caught.value.message == ("1 validation error detected: Value '0' at 'limit' failed to satisfy "
                                    "constraint: Member must have value greater than or equal to 1")


def test_serializes_output_that_botocore_reads_back(logs_model: ServiceModel) -> None:
    protocol = protocol_for(logs_model)
    result = {"events": [{"timestamp": 1700000000000, "message": "hello\n", "ingestionTime": 1700000000001}],
              "nextForwardToken": "f/1", "nextBackwardToken": "b/1"}
    response = protocol.serialize(logs_model.operation_model("GetLogEvents"), result, request_id=REQUEST_ID)
    assert dict(response.headers)["content-type"] == "application/x-amz-json-1.1"
    parsed = read_as_client(logs_model, "GetLogEvents", response)
    assert parsed["events"] == result["events"]
    assert parsed["nextForwardToken"] == "f/1"


@pytest.mark.parametrize(("error", "status"), [
    (ResourceNotFoundException("The specified log group does not exist."), 400),
    (InvalidParameterException("Invalid retention value."), 400),
    (ServiceException("Ember hit an internal error"), 500),
])
def test_logs_errors_carry_the_type_and_message(logs_model: ServiceModel, error: EmberError, status: int) -> None:
    response = protocol_for(logs_model).serialize_error(error, request_id=REQUEST_ID)
    assert response.status == status
    assert json.loads(response.body) == {"__type": error.code, "message": error.message}
    parsed = read_as_client(logs_model, "DescribeLogGroups", response)
    assert parsed["Error"]["Code"] == error.code
    assert parsed["Error"]["Message"] == error.message


def test_query_compatible_errors_give_the_query_code(cloudwatch_model: ServiceModel) -> None:
    response = protocol_for(cloudwatch_model).serialize_error(
        InvalidParameterValueException("The parameter Period must be a multiple of 60."), request_id=REQUEST_ID)
    assert response.status == 400
    assert dict(response.headers)["x-amzn-query-error"] == "InvalidParameterValue;Sender"
    parsed = read_as_client(cloudwatch_model, "GetMetricStatistics", response)
    assert parsed["Error"]["Code"] == "InvalidParameterValue"
    assert parsed["Error"]["QueryErrorCode"] == "InvalidParameterValueException"
