"""Tests for ember.protocol.query: requests built by botocore's own query serializer (and presigner) for
the real IAM, STS, SNS, SimpleDB and CloudWatch models, answers read back by botocore's own query parser.

No botocore model has a flattened map, so one small model written here (ECHO_MODEL) covers that, with
the other shapes whose wire names the real models never rename.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
import urllib.parse
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import ServiceModel
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from ember.errors import (
    EmberError,
    InvalidAction,
    InvalidParameterValue,
    InvalidQueryParameter,
    MissingAction,
    MissingParameter,
    NotImplementedOperation,
    ServiceException,
    ValidationError,
)
from ember.protocol import HttpRequest, HttpResponse, protocol_for
from ember.protocol.form import MAX_DEPTH, MAX_PARAMETERS
from ember.protocol.query import QueryProtocol

REQUEST_ID = "0f0c6a59-5a50-4bd9-a6f6-3c8e1d0bb7a2"
ENDPOINT = "http://127.0.0.1:4566"
IAM_XMLNS = "https://iam.amazonaws.com/doc/2010-05-08/"

#: a query model with what no botocore query model has: a flattened map, renamed keys and values,
#: renamed list items, a flattened list without an item name, longs, doubles and a recursive structure
ECHO_MODEL = {
    "version": "2.0",
    "metadata": {"apiVersion": "2026-01-01", "endpointPrefix": "echo", "protocol": "query", "serviceId": "Echo",
                 "signatureVersion": "v4", "xmlNamespace": "https://echo.example/doc/2026-01-01/"},
    "operations": {"Echo": {"name": "Echo", "http": {"method": "POST", "requestUri": "/"},
                            "input": {"shape": "Things"},
                            "output": {"shape": "Things", "resultWrapper": "EchoResult"}}},
    "shapes": {
        "Things": {"type": "structure", "members": {
            "FlatMap": {"shape": "FlatMap"},
            "NamedMap": {"shape": "NamedMap", "locationName": "Named"},
            "Counts": {"shape": "Longs"},
            "Flat": {"shape": "FlatStrings"},
            "When": {"shape": "Time"},
            "Ratio": {"shape": "Double"},
            "Raw": {"shape": "Blob"},
            "Node": {"shape": "Node"},
        }},
        "FlatMap": {"type": "map", "flattened": True, "key": {"shape": "String", "locationName": "K"},
                    "value": {"shape": "Long", "locationName": "V"}},
        "NamedMap": {"type": "map", "key": {"shape": "String", "locationName": "Name"},
                     "value": {"shape": "String", "locationName": "Text"}},
        "Longs": {"type": "list", "member": {"shape": "Long", "locationName": "Count"}},
        "FlatStrings": {"type": "list", "flattened": True, "member": {"shape": "String"}},
        "Node": {"type": "structure", "members": {"Name": {"shape": "String"}, "Child": {"shape": "Node"}}},
        "String": {"type": "string"},
        "Long": {"type": "long"},
        "Double": {"type": "double"},
        "Time": {"type": "timestamp"},
        "Blob": {"type": "blob"},
    },
}


def _model(name: str) -> ServiceModel:
    return botocore.session.get_session().get_service_model(name)


@pytest.fixture(scope="module")
def iam() -> QueryProtocol:
    protocol = protocol_for(_model("iam"), validation_error=ValidationError)
    assert isinstance(protocol, QueryProtocol)
    return protocol


@pytest.fixture(scope="module")
def sts() -> QueryProtocol:
    return QueryProtocol(_model("sts"), validation_error=ValidationError)


@pytest.fixture(scope="module")
def sns() -> QueryProtocol:
    return QueryProtocol(_model("sns"))


@pytest.fixture(scope="module")
def sdb() -> QueryProtocol:
    return QueryProtocol(_model("sdb"))


@pytest.fixture(scope="module")
def cloudwatch() -> QueryProtocol:
    # Served as json (botocore prefers it), but the model still describes its query API.
    return QueryProtocol(_model("cloudwatch"))


@pytest.fixture(scope="module")
def echo() -> QueryProtocol:
    return QueryProtocol(ServiceModel(ECHO_MODEL, service_name="echo"))


def client_request(protocol: QueryProtocol, operation: str, params: dict[str, Any]) -> HttpRequest:
    """The request botocore sends: its query serializer, then its request preparation (form encoding)."""
    model = protocol.service_model
    serialized = create_serializer("query", include_validation=False).serialize_to_request(
        params, model.operation_model(operation))
    prepare_request_dict(serialized, endpoint_url=ENDPOINT)
    prepared = create_request_object(serialized).prepare()
    body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
    headers = {name.lower(): value for name, value in prepared.headers.items()}
    return HttpRequest(prepared.method, "/", [], headers, body)


def presigned_request(service: str, operation: str, params: dict[str, Any] | None = None) -> HttpRequest:
    """A GET to the URL botocore presigns (every parameter in the query string)."""
    client = botocore.session.get_session().create_client(
        service, region_name="eu-west-1", endpoint_url=ENDPOINT,
        aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    url = urllib.parse.urlsplit(client.generate_presigned_url(operation, Params=params or {}))
    return HttpRequest("GET", url.path or "/", urllib.parse.parse_qsl(url.query, keep_blank_values=True),
                       {"host": url.netloc}, query_string=url.query)


def form_request(body: str | bytes, query_string: str = "", method: str = "POST",
                 content_type: str | None = "application/x-www-form-urlencoded; charset=utf-8") -> HttpRequest:
    headers = {"content-type": content_type} if content_type else {}
    raw = body.encode() if isinstance(body, str) else body
    return HttpRequest(method, "/", urllib.parse.parse_qsl(query_string), headers, raw, query_string)


def parse(protocol: QueryProtocol, request: HttpRequest) -> tuple[str, dict[str, Any]]:
    routed = protocol.route(request)
    assert routed is not None
    operation, labels = routed
    return operation.name, protocol.parse(operation, labels, request)


def round_trip(protocol: QueryProtocol, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    name, parsed = parse(protocol, client_request(protocol, operation, params))
    assert name == operation
    return parsed


def read_as_client(protocol: QueryProtocol, operation: str | None, response: HttpResponse) -> dict[str, Any]:
    shape = protocol.service_model.operation_model(operation).output_shape if operation else None
    parsed: dict[str, Any] = create_parser("query").parse(
        {"status_code": response.status, "headers": dict(response.headers), "body": response.body}, shape)
    return parsed


def refused(protocol: QueryProtocol, request: HttpRequest) -> EmberError:
    """The error a request is answered with; it must be a client error botocore reads back."""
    with pytest.raises(EmberError) as caught:
        parse(protocol, request)
    error = caught.value
    assert error.status_code == 400 and error.sender_fault
    response = protocol.serialize_error(error, request_id=REQUEST_ID)
    parsed = read_as_client(protocol, None, response)
    assert parsed["Error"] == {"Type": "Sender", "Code": error.code, "Message": error.message}
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID
    return error


# ---- routing ---------------------------------------------------------------------------------------------------

def test_query_models_get_the_query_protocol_and_route_by_body() -> None:
    for name in ("iam", "sts", "sns"):
        protocol = protocol_for(_model(name))
        assert isinstance(protocol, QueryProtocol) and protocol.routes_by_body
    assert not protocol_for(_model("logs")).routes_by_body
    assert not protocol_for(_model("lambda")).routes_by_body


def test_routes_by_action_and_version(iam: QueryProtocol, sts: QueryProtocol) -> None:
    assert parse(iam, client_request(iam, "CreateUser", {"UserName": "ana"})) == ("CreateUser", {"UserName": "ana"})
    assert parse(sts, client_request(sts, "GetCallerIdentity", {})) == ("GetCallerIdentity", {})
    # The same Action under another service's Version is not this service's operation.
    assert refused(iam, client_request(sts, "GetCallerIdentity", {})).message == (
        "Could not find operation GetCallerIdentity for version 2011-06-15")


def test_other_methods_are_not_routed(iam: QueryProtocol) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        assert iam.route(form_request("Action=ListUsers&Version=2010-05-08", method=method)) is None


def test_presigned_get_urls_are_read_from_the_query_string(iam: QueryProtocol, sts: QueryProtocol) -> None:
    request = presigned_request("iam", "list_users", {"PathPrefix": "/a+b%c=/", "MaxItems": 5})
    assert request.body == b"" and "X-Amz-Signature=" in request.query_string
    # The X-Amz-* parameters of the signature are no member of the input, so they are ignored.
    assert parse(iam, request) == ("ListUsers", {"PathPrefix": "/a+b%c=/", "MaxItems": 5})
    assert parse(sts, presigned_request("sts", "get_caller_identity")) == ("GetCallerIdentity", {})


def test_query_string_and_body_are_read_together(iam: QueryProtocol) -> None:
    request = form_request("UserName=ana", query_string="Action=GetUser&Version=2010-05-08")
    assert parse(iam, request) == ("GetUser", {"UserName": "ana"})


# ---- parsing every kind of shape --------------------------------------------------------------------------------

def test_lists_of_structures_nested_lists_empty_lists_and_integers(iam: QueryProtocol) -> None:
    params = {"PolicySourceArn": "arn:aws:iam::123456789012:user/ana",
              "ActionNames": ["s3:GetObject", "s3:PutObject"], "ResourceArns": [],
              "ContextEntries": [{"ContextKeyName": "aws:SourceIp", "ContextKeyType": "ipList",
                                  "ContextKeyValues": ["10.0.0.1", "10.0.0.2"]},
                                 {"ContextKeyName": "aws:MultiFactorAuthPresent", "ContextKeyType": "boolean",
                                  "ContextKeyValues": ["true"]}],
              "MaxItems": 100}
    request = client_request(iam, "SimulatePrincipalPolicy", params)
    assert b"ResourceArns=&" in request.body  # botocore sends an empty list as the bare name
    assert parse(iam, request)[1] == params


def test_structures_with_tags_and_strings_needing_escapes(iam: QueryProtocol) -> None:
    params = {"RoleName": "app", "Path": "/team/", "AssumeRolePolicyDocument": '{"Statement": [{"A": "b & c = d%"}]}',
              "Description": "hé + ünï & = %", "MaxSessionDuration": 43200,
              "PermissionsBoundary": "arn:aws:iam::aws:policy/PowerUserAccess",
              "Tags": [{"Key": "team", "Value": "a b"}, {"Key": "empty", "Value": ""}]}
    assert round_trip(iam, "CreateRole", params) == params


def test_booleans_and_integers(iam: QueryProtocol) -> None:
    params = {"MinimumPasswordLength": 12, "RequireSymbols": True, "RequireNumbers": False,
              "AllowUsersToChangePassword": True, "MaxPasswordAge": 90, "HardExpiry": False}
    assert round_trip(iam, "UpdateAccountPasswordPolicy", params) == params


def test_maps_with_renamed_keys_and_values_holding_structures_and_blobs(sns: QueryProtocol) -> None:
    params = {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": "line 1\r\nline 2 & <3> ☃ 😀",
              "MessageAttributes": {"raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff\x10 binary"},
                                    "name": {"DataType": "String", "StringValue": "ana"}}}
    request = client_request(sns, "Publish", params)
    assert b"MessageAttributes.entry.1.Name=raw" in request.body  # SNS names map keys Name, values Value
    assert parse(sns, request)[1] == params


def test_maps_of_strings_and_booleans(sns: QueryProtocol, iam: QueryProtocol) -> None:
    params = {"Name": "t", "Attributes": {"DisplayName": "T", "FifoTopic": "false"},
              "Tags": [{"Key": "k", "Value": "v"}]}
    assert round_trip(sns, "CreateTopic", params) == params
    subscribe = {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Protocol": "sqs", "ReturnSubscriptionArn": True}
    assert round_trip(sns, "Subscribe", subscribe) == subscribe


def test_timestamps_doubles_and_lists_of_doubles(cloudwatch: QueryProtocol) -> None:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(2024, 1, 1, 0, 5, 30, 250000, tzinfo=dt.UTC)  # botocore sends microseconds
    params = {"Namespace": "App", "MetricName": "Latency", "StartTime": start, "EndTime": end, "Period": 60,
              "Statistics": ["Average", "Maximum"], "Dimensions": [{"Name": "Fn", "Value": "f"}]}
    parsed = round_trip(cloudwatch, "GetMetricStatistics", params)
    assert parsed == params and parsed["EndTime"].tzinfo is not None
    data = {"Namespace": "App", "MetricData": [{"MetricName": "Latency", "Timestamp": start, "Value": 1.5,
                                                "Values": [0.25, 1e-9, 3.0], "Counts": [1.0, 2.0, 10.0],
                                                "StorageResolution": 1, "Unit": "Milliseconds"}]}
    assert round_trip(cloudwatch, "PutMetricData", data) == data


def test_flattened_lists_with_renamed_items(sdb: QueryProtocol) -> None:
    params = {"DomainName": "d", "ItemName": "i", "Expected": {"Name": "v", "Value": "1", "Exists": True},
              "Attributes": [{"Name": "a", "Value": "1", "Replace": True}, {"Name": "b", "Value": "2"}]}
    request = client_request(sdb, "PutAttributes", params)
    assert b"Attribute.1.Name=a" in request.body  # flattened: no Attributes.member., the item's own name
    assert parse(sdb, request)[1] == params
    batch = {"DomainName": "d", "Items": [{"Name": "i1", "Attributes": [{"Name": "a", "Value": "1"}]},
                                          {"Name": "i2"}]}
    assert round_trip(sdb, "BatchDeleteAttributes", batch) == batch
    names = {"DomainName": "d", "ItemName": "i", "AttributeNames": ["a", "b"], "ConsistentRead": False}
    assert round_trip(sdb, "GetAttributes", names) == names
    empty = {"DomainName": "d", "ItemName": "i", "Attributes": []}
    request = client_request(sdb, "PutAttributes", empty)
    assert request.body.endswith(b"&Attributes=")  # under the list's own name, not its items'
    assert parse(sdb, request)[1] == empty


def test_flattened_maps_renamed_lists_longs_and_blobs(echo: QueryProtocol) -> None:
    params = {"FlatMap": {"a": 1, "b": -(2**63)}, "NamedMap": {"x": "y", "empty": ""},
              "Counts": [2**63 - 1, 0], "Flat": ["one", "two"], "Ratio": -0.5,
              "When": dt.datetime(2030, 6, 1, 12, tzinfo=dt.UTC), "Raw": b"\x00\x01",
              "Node": {"Name": "root", "Child": {"Name": "leaf"}}}
    request = client_request(echo, "Echo", params)
    for key in (b"FlatMap.1.K=a", b"FlatMap.1.V=1", b"Named.entry.1.Name=x", b"Counts.Count.1=", b"Flat.2=two"):
        assert key in request.body
    assert parse(echo, request)[1] == params


def test_items_come_in_the_order_of_their_numbers(iam: QueryProtocol) -> None:
    body = ("Action=SimulatePrincipalPolicy&Version=2010-05-08&PolicySourceArn=arn%3Aaws%3Aiam%3A%3A1%3Auser%2Fa"
            "&ActionNames.member.10=s3%3Aj&ActionNames.member.2=s3%3Ab&ActionNames.member.1=s3%3Aa")
    assert parse(iam, form_request(body))[1]["ActionNames"] == ["s3:a", "s3:b", "s3:j"]


def test_iso_timestamps_without_an_offset_are_utc(cloudwatch: QueryProtocol) -> None:
    body = ("Action=GetMetricStatistics&Version=2010-08-01&Namespace=A&MetricName=M&Period=60"
            "&StartTime=2024-01-01T00%3A00%3A00&EndTime=2024-01-01T01%3A00%3A00%2B01%3A00")
    parsed = parse(cloudwatch, form_request(body))[1]
    assert parsed["StartTime"] == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    assert parsed["EndTime"] == dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


# ---- refusing bad input -------------------------------------------------------------------------------------------

def test_a_request_without_action(iam: QueryProtocol) -> None:
    for body in ("", "Version=2010-05-08", "Action=&Version=2010-05-08"):
        error = refused(iam, form_request(body))
        assert isinstance(error, MissingAction)
        assert error.message == "The request is missing an action or a required parameter."
    # A body that is not a form is not read for parameters.
    json_body = form_request(b'{"Action": "ListUsers"}', content_type="application/json")
    assert isinstance(refused(iam, json_body), MissingAction)


def test_an_unknown_action_or_version(iam: QueryProtocol) -> None:
    unknown = refused(iam, form_request("Action=ListUnicorns&Version=2010-05-08"))
    assert isinstance(unknown, InvalidAction)
    assert unknown.message == "Could not find operation ListUnicorns for version 2010-05-08"
    wrong_version = refused(iam, form_request("Action=ListUsers&Version=2099-01-01"))
    assert isinstance(wrong_version, InvalidAction)
    assert wrong_version.message == "Could not find operation ListUsers for version 2099-01-01"
    missing_version = refused(iam, form_request("Action=ListUsers"))
    assert isinstance(missing_version, MissingParameter)
    assert missing_version.message == "The request must contain the parameter Version."


@pytest.mark.parametrize("body", [
    "Action=ListUsers&Version=2010-05-08&PathPrefix=%zz",
    "Action=ListUsers&Version=2010-05-08&PathPrefix=%4",
    "Action=ListUsers&Version=2010-05-08&PathPrefix=%",
    "Action%=ListUsers&Version=2010-05-08",
])
def test_bad_percent_encoding(iam: QueryProtocol, body: str) -> None:
    error = refused(iam, form_request(body))
    assert isinstance(error, InvalidQueryParameter)
    assert "does not begin a percent-encoded byte" in error.message
    assert isinstance(refused(iam, form_request("", query_string=body, method="GET")), InvalidQueryParameter)


@pytest.mark.parametrize("body", [b"Action=ListUsers&Version=2010-05-08&PathPrefix=%FF%FE",
                                  b"Action=ListUsers&Version=2010-05-08&PathPrefix=\xff\xfe",
                                  b"Action=ListUsers&Version=2010-05-08&PathPrefix=%C3"])
def test_bytes_that_are_not_utf8(iam: QueryProtocol, body: bytes) -> None:
    assert isinstance(refused(iam, form_request(body)), InvalidQueryParameter)


def test_a_parameter_given_twice(iam: QueryProtocol) -> None:
    twice = refused(iam, form_request("Action=GetUser&Version=2010-05-08&UserName=a&UserName=b"))
    assert twice.message == "The parameter UserName is given more than once"
    across = form_request("Action=DeleteUser&Version=2010-05-08&UserName=a",
                          query_string="Action=GetUser&Version=2010-05-08")
    assert isinstance(refused(iam, across), InvalidQueryParameter)


@pytest.mark.parametrize(("member", "value", "expected"), [
    ("MaxItems", "ten", "Could not parse query value 'ten' as integer (parameter MaxItems)"),
    ("MaxItems", "1.5", "Could not parse query value '1.5' as integer (parameter MaxItems)"),
    ("MaxItems", "", "Could not parse query value '' as integer (parameter MaxItems)"),
    ("MaxItems", "2147483648", "Could not parse query value '2147483648' as integer: Numeric value (2147483648) "
                               "out of range of int (-2147483648 - 2147483647) (parameter MaxItems)"),
    ("MaxItems", "-2147483649", "out of range of int"),
])
def test_values_the_member_type_cannot_hold(iam: QueryProtocol, member: str, value: str, expected: str) -> None:
    error = refused(iam, form_request(f"Action=ListUsers&Version=2010-05-08&{member}={value}"))
    assert isinstance(error, InvalidParameterValue)
    assert expected in error.message


@pytest.mark.parametrize(("parameter", "kind"), [
    ("Counts.Count.1=9223372036854775808", "long"),
    ("Ratio=NaN", "double"),
    ("Ratio=1e999", "double"),
    ("Ratio=abc", "double"),
    ("When=yesterday", "timestamp"),
    ("Raw=not*base64", "blob"),
    ("FlatMap.1.K=a&FlatMap.1.V=x", "long"),
])
def test_longs_doubles_timestamps_and_blobs_that_do_not_parse(echo: QueryProtocol, parameter: str,
                                                             kind: str) -> None:
    error = refused(echo, form_request(f"Action=Echo&Version=2026-01-01&{parameter}"))
    assert isinstance(error, InvalidParameterValue)
    assert f"as {kind}" in error.message


def test_booleans_are_true_or_false(iam: QueryProtocol) -> None:
    error = refused(iam, form_request("Action=UpdateAccountPasswordPolicy&Version=2010-05-08&RequireSymbols=yes"))
    assert error.message == "Could not parse query value 'yes' as boolean (parameter RequireSymbols)"


def test_constraint_failures_read_as_aws_words_them(iam: QueryProtocol) -> None:
    error = refused(iam, form_request("Action=ListUsers&Version=2010-05-08&MaxItems=0"))
    assert isinstance(error, ValidationError) and error.code == "ValidationError"
    assert error.message == ("1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
                             "Member must have value greater than or equal to 1")
    missing = refused(iam, form_request("Action=CreateUser&Version=2010-05-08&Path=nope"))
    assert missing.message == (
        "2 validation errors detected: Value null at 'userName' failed to satisfy constraint: Member must not be "
        "null; Value 'nope' at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: "
        "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)")
    tags = refused(iam, form_request("Action=CreateUser&Version=2010-05-08&UserName=a&Tags.member.1.Key=k"))
    assert "Value null at 'tags.value' failed to satisfy constraint: Member must not be null" in tags.message


def test_the_protocol_names_the_validation_error_its_service_gives() -> None:
    protocol = QueryProtocol(_model("sns"))  # not told otherwise: ValidationException
    assert refused(protocol, form_request("Action=CreateTopic&Version=2010-03-31")).code == "ValidationException"


@pytest.mark.parametrize(("parameter", "error_class"), [
    ("ActionNames=s3:GetObject", InvalidParameterValue),     # a list given as a single value
    ("ActionNames.member.0=a", InvalidQueryParameter),       # items are numbered from 1
    ("ActionNames.member.x=a", InvalidQueryParameter),
    ("ActionNames.member.01=a", InvalidQueryParameter),
    ("ActionNames.member.99999999999=a", InvalidQueryParameter),
    ("ContextEntries.member.1=x", InvalidParameterValue),   # a structure given as a single value
])
def test_malformed_lists(iam: QueryProtocol, parameter: str, error_class: type[EmberError]) -> None:
    body = f"Action=SimulatePrincipalPolicy&Version=2010-05-08&PolicySourceArn=arn%3Aa%3Ab%3Ac&{parameter}"
    assert isinstance(refused(iam, form_request(body)), error_class)


def test_map_entries_without_a_key(sns: QueryProtocol, echo: QueryProtocol) -> None:
    body = "Action=CreateTopic&Version=2010-03-31&Name=t&Attributes.entry.1.value=v"
    assert refused(sns, form_request(body)).message == "The map entry Attributes.entry.1 has no key"
    assert isinstance(refused(echo, form_request("Action=Echo&Version=2026-01-01&FlatMap.1.V=1")),
                      InvalidParameterValue)
    # A key without a value is a null value, which the shape refuses.
    assert "Map values must satisfy constraint" in refused(
        sns, form_request("Action=CreateTopic&Version=2010-03-31&Name=t&Attributes.entry.1.key=k")).message


def test_unknown_and_over_deep_parameters_are_ignored(iam: QueryProtocol) -> None:
    body = "Action=GetUser&Version=2010-05-08&UserName=a&Unknown=1&UserName" + ".x" * 100_000 + "=deep"
    assert parse(iam, form_request(body)) == ("GetUser", {"UserName": "a"})


def test_a_recursive_shape_is_not_followed_past_the_depth_limit(echo: QueryProtocol) -> None:
    within = "Node" + ".Child" * (MAX_DEPTH - 2) + ".Name=x"
    assert parse(echo, form_request(f"Action=Echo&Version=2026-01-01&{within}"))[0] == "Echo"
    past = "Node" + ".Child" * 10_000 + ".Name=x"
    error = refused(echo, form_request(f"Action=Echo&Version=2026-01-01&{past}"))
    assert isinstance(error, InvalidQueryParameter) and f"more than {MAX_DEPTH} levels" in error.message


def test_too_many_parameters(iam: QueryProtocol) -> None:
    body = "Action=ListUsers&Version=2010-05-08" + "&x=1" * MAX_PARAMETERS
    assert isinstance(refused(iam, form_request(body)), InvalidQueryParameter)


def test_random_form_bodies_get_a_client_error_never_an_exception(iam: QueryProtocol, echo: QueryProtocol) -> None:
    pieces = ["Action=", "SimulatePrincipalPolicy", "Echo", "&Version=2010-05-08", "&Version=2026-01-01", "&", "=",
              ".", "member", "entry", "1", "0", "%", "%4", "%41", "%ff", "+", "ActionNames", "ContextEntries",
              "FlatMap", "K", "V", "Node", "Child", "Ratio", "key", "value", "\udcff", "é", "MaxItems", "-", "9" * 30]
    generator = random.Random(20260101)
    for _ in range(3000):
        body = "".join(generator.choice(pieces) for _ in range(generator.randrange(1, 14)))
        for protocol in (iam, echo):
            try:
                parse(protocol, form_request(body.encode("utf-8", "surrogateescape")))
            except EmberError as error:
                assert error.status_code == 400, (body, error)
                protocol.serialize_error(error, request_id=REQUEST_ID)


# ---- serializing results -------------------------------------------------------------------------------------------

def test_results_in_their_wrapper_with_the_request_id(iam: QueryProtocol) -> None:
    created = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    user = {"Path": "/", "UserName": "ana", "UserId": "AIDAEXAMPLE000000001", "Arn": "arn:aws:iam::1:user/ana",
            "CreateDate": created, "Tags": [{"Key": "k", "Value": "<&>\"'"}]}
    response = iam.serialize(iam.service_model.operation_model("GetUser"), {"User": user}, request_id=REQUEST_ID)
    assert response.status == 200 and ("content-type", "text/xml") in response.headers
    text = response.body.decode()
    assert text.startswith(f'<GetUserResponse xmlns="{IAM_XMLNS}"><GetUserResult><User>')
    assert "<CreateDate>2024-01-02T03:04:05Z</CreateDate>" in text
    assert text.endswith(f"<ResponseMetadata><RequestId>{REQUEST_ID}</RequestId></ResponseMetadata>"
                         "</GetUserResponse>")
    parsed = read_as_client(iam, "GetUser", response)
    assert parsed["User"] == user
    assert parsed["ResponseMetadata"]["RequestId"] == REQUEST_ID


def test_lists_empty_lists_booleans_and_escaped_text(iam: QueryProtocol) -> None:
    users = [{"Path": "/", "UserName": f"u{i}", "UserId": f"AIDAEXAMPLE00000000{i}", "Arn": f"arn:aws:iam::1:user/u{i}",
              "CreateDate": dt.datetime(2024, 1, 1, 0, 0, 0, 123000, tzinfo=dt.UTC)} for i in range(2)]
    users[0]["PasswordLastUsed"] = dt.datetime(2025, 5, 5, tzinfo=dt.UTC)
    users[1]["UserName"] = "a\r\nb\tc & <d> ]]>"
    operation = iam.service_model.operation_model("ListUsers")
    parsed = read_as_client(iam, "ListUsers",
                            iam.serialize(operation, {"Users": users, "IsTruncated": True, "Marker": "m"},
                                          request_id=REQUEST_ID))
    assert parsed["Users"] == users and parsed["IsTruncated"] is True and parsed["Marker"] == "m"
    empty = iam.serialize(operation, {"Users": [], "IsTruncated": False}, request_id=REQUEST_ID)
    assert b"<Users></Users>" in empty.body
    assert read_as_client(iam, "ListUsers", empty)["Users"] == []


def test_text_xml_cannot_carry_is_replaced_so_the_answer_still_parses(iam: QueryProtocol) -> None:
    user = {"Path": "/", "UserName": "nul\x00 bell\x07 \ud800 \ufffe ok", "UserId": "AIDAEXAMPLE000000001",
            "Arn": "arn:aws:iam::1:user/x", "CreateDate": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}
    response = iam.serialize(iam.service_model.operation_model("GetUser"), {"User": user}, request_id=REQUEST_ID)
    assert read_as_client(iam, "GetUser", response)["User"]["UserName"] == "nul\ufffd bell\ufffd \ufffd \ufffd ok"


def test_maps_nested_structures_timestamps_and_blobs(iam: QueryProtocol, sts: QueryProtocol) -> None:
    summary = {"Users": 3, "UsersQuota": 5000, "Policies": 0}
    parsed = read_as_client(iam, "GetAccountSummary", iam.serialize(
        iam.service_model.operation_model("GetAccountSummary"), {"SummaryMap": summary}, request_id=REQUEST_ID))
    assert parsed["SummaryMap"] == summary

    expiration = dt.datetime(2026, 12, 2, 14, 0, tzinfo=dt.UTC)
    assumed = {"Credentials": {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "s/+=", "SessionToken": "t" * 400,
                               "Expiration": expiration},
               "AssumedRoleUser": {"AssumedRoleId": "AROAEXAMPLE:s", "Arn": "arn:aws:sts::1:assumed-role/r/s"},
               "PackedPolicySize": 6}
    response = sts.serialize(sts.service_model.operation_model("AssumeRole"), assumed, request_id=REQUEST_ID)
    assert b"<Expiration>2026-12-02T14:00:00Z</Expiration>" in response.body
    parsed = read_as_client(sts, "AssumeRole", response)
    assert {key: parsed[key] for key in assumed} == assumed

    device = {"SerialNumber": "arn:aws:iam::1:mfa/d", "Base32StringSeed": b"JBSWY3DPEHPK3PXP",
              "QRCodePNG": b"\x89PNG\r\n\x1a\n\x00", "EnableDate": expiration}
    parsed = read_as_client(iam, "CreateVirtualMFADevice", iam.serialize(
        iam.service_model.operation_model("CreateVirtualMFADevice"), {"VirtualMFADevice": device},
        request_id=REQUEST_ID))
    assert parsed["VirtualMFADevice"] == device


def test_flattened_lists_and_maps_renamed_items_longs_and_doubles(sdb: QueryProtocol, echo: QueryProtocol) -> None:
    items = [{"Name": "i1", "Attributes": [{"Name": "a", "Value": "1"}, {"Name": "b", "Value": "2"}]},
             {"Name": "i2", "Attributes": [{"Name": "c", "Value": "3"}]}]
    response = sdb.serialize(sdb.service_model.operation_model("Select"), {"Items": items, "NextToken": "n"},
                             request_id=REQUEST_ID)
    assert b"<SelectResult><Item><Name>i1</Name><Attribute><Name>a</Name>" in response.body
    parsed = read_as_client(sdb, "Select", response)
    assert (parsed["Items"], parsed["NextToken"]) == (items, "n")

    things = {"FlatMap": {"a": 1, "b": -(2**63)}, "NamedMap": {"x": "y"}, "Counts": [2**63 - 1],
              "Flat": ["one"], "Ratio": 0.1, "When": dt.datetime(2030, 6, 1, 12, 0, 0, 5000, tzinfo=dt.UTC),
              "Raw": b"\xff", "Node": {"Name": "root", "Child": {"Name": "leaf"}}}
    response = echo.serialize(echo.service_model.operation_model("Echo"), things, request_id=REQUEST_ID)
    text = response.body.decode()
    assert "<FlatMap><K>a</K><V>1</V></FlatMap><FlatMap><K>b</K>" in text
    assert "<Named><entry><Name>x</Name><Text>y</Text></entry></Named>" in text
    assert "<Counts><Count>9223372036854775807</Count></Counts>" in text
    assert "<When>2030-06-01T12:00:00.005Z</When>" in text
    parsed = read_as_client(echo, "Echo", response)
    del parsed["ResponseMetadata"]
    assert parsed == things


def test_non_finite_doubles_are_written_as_botocore_reads_them(echo: QueryProtocol) -> None:
    for value, text in ((float("inf"), "Infinity"), (float("-inf"), "-Infinity")):
        response = echo.serialize(echo.service_model.operation_model("Echo"), {"Ratio": value}, request_id=REQUEST_ID)
        assert f"<Ratio>{text}</Ratio>".encode() in response.body
        assert read_as_client(echo, "Echo", response)["Ratio"] == value


def test_an_operation_without_output_answers_its_response_metadata(iam: QueryProtocol) -> None:
    operation = iam.service_model.operation_model("DeleteUser")
    assert operation.output_shape is None
    response = iam.serialize(operation, {}, request_id=REQUEST_ID)
    assert response.body.decode() == (f'<DeleteUserResponse xmlns="{IAM_XMLNS}"><ResponseMetadata><RequestId>'
                                      f"{REQUEST_ID}</RequestId></ResponseMetadata></DeleteUserResponse>")
    assert read_as_client(iam, "DeleteUser", response)["ResponseMetadata"]["RequestId"] == REQUEST_ID


# ---- serializing errors --------------------------------------------------------------------------------------------

class NoSuchEntityException(EmberError):
    """As an IAM service would raise it: the model's shape name; the model gives the wire code and status."""

    code = "NoSuchEntityException"
    status_code = 400
    sender_fault = True


class EntityAlreadyExists(EmberError):
    code = "EntityAlreadyExists"  # the wire code itself
    sender_fault = True


class ServiceFailureException(EmberError):
    code = "ServiceFailureException"
    sender_fault = True  # the model says otherwise: no senderFault


@pytest.mark.parametrize(("error", "status", "code", "fault"), [
    (NoSuchEntityException("The user with name ana cannot be found."), 404, "NoSuchEntity", "Sender"),
    (EntityAlreadyExists("User with name ana already exists."), 409, "EntityAlreadyExists", "Sender"),
    (ServiceFailureException("Ember hit an internal error"), 500, "ServiceFailure", "Receiver"),
    (ValidationError("1 validation error detected: ..."), 400, "ValidationError", "Sender"),
    (ServiceException("Ember hit an internal error"), 500, "ServiceException", "Receiver"),
    (NotImplementedOperation("Ember does not implement the IAM operation X yet."), 501, "NotImplementedException",
     "Receiver"),
])
def test_errors_as_botocore_reads_them(iam: QueryProtocol, error: EmberError, status: int, code: str,
                                       fault: str) -> None:
    response = iam.serialize_error(error, request_id=REQUEST_ID)
    assert response.status == status
    assert response.body.decode().startswith(f'<ErrorResponse xmlns="{IAM_XMLNS}"><Error><Type>{fault}</Type>'
                                             f"<Code>{code}</Code>")
    parsed = read_as_client(iam, "GetUser", response)
    assert parsed["Error"] == {"Type": fault, "Code": code, "Message": error.message}
    assert parsed["ResponseMetadata"] == {"RequestId": REQUEST_ID, "HTTPStatusCode": status,
                                          "HTTPHeaders": {"content-type": "text/xml"}}
    # boto3 raises the model's exception class for the code.
    client = botocore.session.get_session().create_client("iam", region_name="us-east-1",
                                                          aws_access_key_id="a", aws_secret_access_key="b")
    if code in ("NoSuchEntity", "EntityAlreadyExists", "ServiceFailure"):
        assert client.exceptions.from_code(code).__name__ == f"{code}Exception"


def test_error_fields_and_escaped_messages(iam: QueryProtocol) -> None:
    error = ValidationError("Value '<script>&' at 'userName' failed", Reason="too long", Type="ignored")
    response = iam.serialize_error(error, request_id=REQUEST_ID)
    assert b"<Reason>too long</Reason>" in response.body and b"ignored" not in response.body
    parsed = read_as_client(iam, "GetUser", response)
    assert parsed["Error"]["Message"] == error.message and parsed["Error"]["Reason"] == "too long"


def test_blobs_in_requests_are_base64(sns: QueryProtocol) -> None:
    request = client_request(sns, "Publish", {"Message": "m", "MessageAttributes": {
        "b": {"DataType": "Binary", "BinaryValue": b"\xfb\xff"}}})
    assert urllib.parse.quote(base64.b64encode(b"\xfb\xff").decode(), safe="").encode() in request.body
