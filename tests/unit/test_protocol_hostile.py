"""Hostile input at the protocol layer: numbers no member can hold, nulls inside collections, lone
surrogates and bodies nested past any parser's depth get a 400-class error, for every service."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.model import ServiceModel

from ember.errors import (
    EmberError,
    InvalidParameterException,
    InvalidRequestContentException,
    SerializationException,
    ValidationException,
)
from ember.protocol import HttpRequest, Protocol, protocol_for
from ember.protocol.json_text import UnreadableJson, load_json


@pytest.fixture(scope="module")
def lambda_protocol() -> Protocol:
    return protocol_for(botocore.session.get_session().get_service_model("lambda"))


@pytest.fixture(scope="module")
def logs_protocol() -> Protocol:
    model: ServiceModel = botocore.session.get_session().get_service_model("logs")
    return protocol_for(model, validation_error=InvalidParameterException)


@pytest.fixture(scope="module")
def cloudwatch_protocol() -> Protocol:
    return protocol_for(botocore.session.get_session().get_service_model("cloudwatch"))


def parse_rest(protocol: Protocol, method: str, path: str, body: bytes = b"") -> dict:
    request = HttpRequest(method, path.split("?")[0], [tuple(p.split("=", 1)) for p in path.partition("?")[2].split("&")
                                                       if p], {}, body)
    operation, labels = protocol.route(request)  # type: ignore[misc]
    return protocol.parse(operation, labels, request)


def parse_json(protocol: Protocol, target: str, body: bytes) -> dict:
    request = HttpRequest("POST", "/", [], {"x-amz-target": target}, body)
    operation, labels = protocol.route(request)  # type: ignore[misc]
    return protocol.parse(operation, labels, request)


def refused(call, *args: object) -> EmberError:
    with pytest.raises(EmberError) as caught:
        call(*args)
    assert caught.value.status_code == 400
    return caught.value


# ---- reading JSON ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"a": -Infinity}'])
def test_non_finite_tokens_are_not_json(text: str) -> None:
    with pytest.raises(UnreadableJson, match="Non-standard token"):
        load_json(text)


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_a_document_nested_100k_deep_is_refused_not_a_recursion_error(body: bytes) -> None:
    with pytest.raises(UnreadableJson, match="nests arrays or objects too deeply"):
        load_json(body)


def test_ordinary_nesting_still_reads() -> None:
    assert load_json(b"[" * 50 + b"]" * 50) == eval("[" * 50 + "]" * 50)


# ---- numbers ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "expected"), [
    (b'{"Timeout": NaN}', "Non-standard token 'NaN'"),
    (b'{"Timeout": Infinity}', "Non-standard token 'Infinity'"),
    (b'{"Timeout": 1e999}', "out of range of int for Timeout"),
    (b'{"Timeout": -1e999}', "out of range of int for Timeout"),
    (b'{"Timeout": 2147483648}', "Numeric value (2147483648) out of range of int"),
    (b'{"Timeout": 1e20}', "out of range of int"),
])
def test_integers_the_member_cannot_hold_are_bad_content(lambda_protocol: Protocol, body: bytes,
                                                          expected: str) -> None:
    error = refused(parse_rest, lambda_protocol, "PUT", "/2015-03-31/functions/f/configuration", body)
    assert isinstance(error, InvalidRequestContentException)
    assert error.message.startswith("Could not parse request body into json: ")
    assert expected in error.message


def test_an_integer_within_32_bits_but_past_the_model_is_a_validation_error(lambda_protocol: Protocol) -> None:
    error = refused(parse_rest, lambda_protocol, "PUT", "/2015-03-31/functions/f/configuration",
                    b'{"Timeout": 2147483647}')
    assert isinstance(error, ValidationException)
    assert "Member must have value less than or equal to" in error.message


@pytest.mark.parametrize("version", ["9223372036854775808", "-9223372036854775809", "99999999999999999999999",
                                     "1e3", "٣"])
def test_a_long_path_label_past_64_bits_or_not_digits_is_bad_content(lambda_protocol: Protocol, version: str) -> None:
    error = refused(parse_rest, lambda_protocol, "GET", f"/2018-10-31/layers/my-layer/versions/{version}")
    assert isinstance(error, InvalidRequestContentException)
    assert error.message.startswith(f"Could not parse path value '{version}' as long")


def test_the_largest_long_label_parses(lambda_protocol: Protocol) -> None:
    params = parse_rest(lambda_protocol, "GET", "/2018-10-31/layers/my-layer/versions/9223372036854775807")
    assert params["VersionNumber"] == 2**63 - 1


@pytest.mark.parametrize("value", [b"NaN", b"1e999", b'"nan"', b'{"a": null}', b"1e20", b"-1e20"])
def test_timestamps_that_are_not_times_are_serialization_errors(cloudwatch_protocol: Protocol, value: bytes) -> None:
    body = (b'{"Namespace": "AWS/Lambda", "MetricName": "Errors", "StartTime": ' + value
            + b', "EndTime": 1700000000, "Period": 60, "Statistics": ["Sum"]}')
    error = refused(parse_json, cloudwatch_protocol, "GraniteServiceVersion20100801.GetMetricStatistics", body)
    assert isinstance(error, SerializationException)
    assert "StartTime" in error.message or "Non-standard token" in error.message


def test_a_double_that_is_not_finite_is_a_serialization_error(cloudwatch_protocol: Protocol) -> None:
    body = (b'{"MetricDataQueries": [{"Id": "m1", "Expression": "SUM(METRICS())", "Period": 60}], '
            b'"StartTime": 1700000000, "EndTime": 1700003600, "LabelOptions": {"Timezone": "+0000"}, '
            b'"MaxDatapoints": 1e999}')
    error = refused(parse_json, cloudwatch_protocol, "GraniteServiceVersion20100801.GetMetricData", body)
    assert isinstance(error, SerializationException)
    assert "MaxDatapoints" in error.message


# ---- nulls ------------------------------------------------------------------------------------------------------

def test_a_null_inside_a_list_is_a_validation_error(lambda_protocol: Protocol) -> None:
    error = refused(parse_rest, lambda_protocol, "PUT", "/2015-03-31/functions/f/configuration",
                    b'{"Layers": [null]}')
    assert isinstance(error, ValidationException)
    assert error.message == ("1 validation error detected: Value '[null]' at 'layers' failed to satisfy constraint: "
                             "Member must satisfy constraint: [Member must not be null]")


def test_a_null_inside_a_nested_list_is_found_with_its_path(logs_protocol: Protocol) -> None:
    body = b'{"logGroupName": "g", "logStreamName": "s", "logEvents": [{"timestamp": 1, "message": "m"}, null]}'
    error = refused(parse_json, logs_protocol, "Logs_20140328.PutLogEvents", body)
    assert isinstance(error, InvalidParameterException)
    assert "at 'logEvents' failed to satisfy constraint: Member must satisfy constraint: [Member must not be null]" \
        in error.message


def test_a_null_map_value_is_a_validation_error(lambda_protocol: Protocol) -> None:
    error = refused(parse_rest, lambda_protocol, "PUT", "/2015-03-31/functions/f/configuration",
                    b'{"Environment": {"Variables": {"A": null}}}')
    assert isinstance(error, ValidationException)
    assert ("Value at 'environment.variables' failed to satisfy constraint: Map values must satisfy constraint: "
            "[Member must not be null]") in error.message


def test_an_optional_member_sent_as_null_is_absent(lambda_protocol: Protocol) -> None:
    params = parse_rest(lambda_protocol, "PUT", "/2015-03-31/functions/f/configuration",
                        b'{"Timeout": null, "Environment": {"Variables": {"AB": "1"}}, "TracingConfig": null}')
    assert params == {"FunctionName": "f", "Environment": {"Variables": {"AB": "1"}}}


def test_a_required_member_sent_as_null_is_missing(logs_protocol: Protocol) -> None:
    error = refused(parse_json, logs_protocol, "Logs_20140328.CreateLogGroup", b'{"logGroupName": null}')
    assert isinstance(error, InvalidParameterException)
    assert "Value null at 'logGroupName' failed to satisfy constraint: Member must not be null" in error.message


# ---- surrogates -------------------------------------------------------------------------------------------------

def test_a_lone_surrogate_in_a_string_is_a_validation_error_shown_escaped(lambda_protocol: Protocol) -> None:
    error = refused(parse_rest, lambda_protocol, "PUT", "/2015-03-31/functions/f/configuration",
                    b'{"Description": "ok \\ud800"}')
    assert isinstance(error, ValidationException)
    assert error.message == ("1 validation error detected: Value 'ok \\ud800' at 'description' failed to satisfy "
                             "constraint: Member must be valid Unicode: it holds a lone UTF-16 surrogate")
    error.message.encode("utf-8")  # the message itself can be sent


def test_a_lone_surrogate_in_a_map_key_is_refused(lambda_protocol: Protocol) -> None:
    error = refused(parse_rest, lambda_protocol, "PUT", "/2015-03-31/functions/f/configuration",
                    b'{"Environment": {"Variables": {"\\udfff": "v"}}}')
    assert isinstance(error, ValidationException)
    assert "Map keys must satisfy constraint" in error.message


def test_a_surrogate_pair_is_an_ordinary_character(lambda_protocol: Protocol) -> None:
    params = parse_rest(lambda_protocol, "PUT", "/2015-03-31/functions/f/configuration",
                        b'{"Description": "\\ud83d\\ude00"}')
    assert params["Description"] == "\N{GRINNING FACE}"


def test_base64_that_is_not_ascii_is_bad_content(lambda_protocol: Protocol) -> None:
    error = refused(parse_rest, lambda_protocol, "PUT", "/2015-03-31/functions/f/code", b'{"ZipFile": "\\ud800"}')
    assert isinstance(error, InvalidRequestContentException)
    assert "is not valid base64" in error.message
