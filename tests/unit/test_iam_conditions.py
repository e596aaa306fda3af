"""The Condition element: every operator family, IfExists, the set qualifiers, Null, absent keys,
AND across keys and OR across values (NOR for negated operators), and policy variables."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pytest

from ember.errors import MalformedPolicyDocumentException
from ember.iam.conditions import Operator, UnresolvedVariable, parse_condition
from ember.iam.dates import format_date, parse_date

ContextInput = Mapping[str, str | Sequence[str]]


def matches(condition: dict[str, object], context: ContextInput, *, variables: bool = True) -> bool:
    normal = {key.lower(): (value,) if isinstance(value, str) else tuple(value) for key, value in context.items()}

    def lookup(key: str) -> str | None:
        values = normal.get(key)
        return values[0] if values and len(values) == 1 else None

    return parse_condition(condition, variables=variables).matches(normal, lookup)


# (operator, policy values, request value, matches?) for one key, "k"
OPERATOR_CASES = [
    ("StringEquals", "prod", "prod", True),
    ("StringEquals", "prod", "Prod", False),
    ("StringEquals", ["dev", "prod"], "prod", True),  # values: OR
    ("StringNotEquals", "prod", "dev", True),
    ("StringNotEquals", "prod", "prod", False),
    ("StringNotEquals", ["dev", "prod"], "prod", False),  # negated: NOR
    ("StringNotEquals", ["dev", "prod"], "test", True),
    ("StringEqualsIgnoreCase", "PROD", "prod", True),
    ("StringEqualsIgnoreCase", "PROD", "dev", False),
    ("StringNotEqualsIgnoreCase", "PROD", "prod", False),
    ("StringNotEqualsIgnoreCase", "PROD", "dev", True),
    ("StringLike", "home/*", "home/alice/x", True),
    ("StringLike", "home/?", "home/ab", False),
    ("StringLike", "Home/*", "home/alice", False),  # case-sensitive
    ("StringLike", ["", "home/"], "", True),
    ("StringNotLike", "home/*", "etc/passwd", True),
    ("StringNotLike", ["home/*", "etc/*"], "etc/passwd", False),
    ("NumericEquals", "10", "10", True),
    ("NumericEquals", "10", "10.0", True),
    ("NumericEquals", 10, "10", True),  # a JSON number
    ("NumericEquals", "10", "11", False),
    ("NumericEquals", "10", "ten", False),
    ("NumericNotEquals", "10", "11", True),
    ("NumericNotEquals", "10", "10", False),
    ("NumericLessThan", "10", "9.5", True),
    ("NumericLessThan", "10", "10", False),
    ("NumericLessThanEquals", "10", "10", True),
    ("NumericLessThanEquals", "10", "11", False),
    ("NumericGreaterThan", "10", "11", True),
    ("NumericGreaterThan", "10", "10", False),
    ("NumericGreaterThanEquals", "10", "10", True),
    ("NumericGreaterThanEquals", "10", "-1", False),
    ("NumericLessThan", ["1", "100"], "50", True),  # any value
    ("DateEquals", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", True),
    ("DateEquals", "2024-01-01T00:00:00Z", "1704067200", True),  # epoch and ISO 8601 compare as times
    ("DateEquals", "2024-01-01T01:00:00+01:00", "2024-01-01T00:00:00Z", True),
    ("DateEquals", "2024-01-01", "2024-01-01T00:00:01Z", False),
    ("DateNotEquals", "2024-01-01", "2024-01-02", True),
    ("DateNotEquals", "2024-01-01", "2024-01-01T00:00:00Z", False),
    ("DateLessThan", "2024-01-01T00:00:00Z", "2023-12-31T23:59:59Z", True),
    ("DateLessThan", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", False),
    ("DateLessThanEquals", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", True),
    ("DateLessThanEquals", "2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", False),
    ("DateGreaterThan", "2024-01-01T00:00:00Z", "2024-06-01T00:00:00.5Z", True),
    ("DateGreaterThan", "2024-01-01T00:00:00Z", "not a date", False),
    ("DateGreaterThanEquals", "1704067200", "2024-01-01T00:00:00Z", True),
    ("DateGreaterThanEquals", "1704067200", "1704067199", False),
    ("Bool", "true", "true", True),
    ("Bool", "true", "TRUE", True),
    ("Bool", True, "true", True),  # a JSON boolean
    ("Bool", "false", "true", False),
    ("BinaryEquals", "QmluYXJ5VmFsdWU=", "QmluYXJ5VmFsdWU=", True),
    ("BinaryEquals", "QmluYXJ5VmFsdWU=", "T3RoZXI=", False),
    ("IpAddress", "203.0.113.0/24", "203.0.113.7", True),
    ("IpAddress", "203.0.113.0/24", "203.0.114.7", False),
    ("IpAddress", "203.0.113.7", "203.0.113.7", True),  # no prefix: /32
    ("IpAddress", "203.0.113.7", "203.0.113.8", False),
    ("IpAddress", "2001:DB8:1234:5678::/64", "2001:db8:1234:5678::1", True),
    ("IpAddress", "2001:DB8:1234:5678::/64", "2001:db8:1234:5679::1", False),
    ("IpAddress", ["203.0.113.0/24", "2001:DB8::/32"], "2001:db8::9", True),
    ("IpAddress", "0.0.0.0/0", "::1", False),  # an IPv6 address is in no IPv4 range
    ("IpAddress", "203.0.113.0/24", "not an address", False),
    ("NotIpAddress", "203.0.113.0/24", "198.51.100.1", True),
    ("NotIpAddress", "203.0.113.0/24", "203.0.113.1", False),
    ("ArnEquals", "arn:aws:sns:us-east-1:123456789012:topic", "arn:aws:sns:us-east-1:123456789012:topic", True),
    ("ArnEquals", "arn:aws:sns:*:123456789012:*", "arn:aws:sns:us-east-1:123456789012:topic", True),  # as ArnLike
    ("ArnLike", "arn:aws:sns:*:123456789012:*", "arn:aws:sns:us-east-1:999999999999:topic", False),
    ("ArnLike", "arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/key", True),
    ("ArnNotEquals", "arn:aws:sns:*:123456789012:*", "arn:aws:sns:us-east-1:999999999999:topic", True),
    ("ArnNotLike", "arn:aws:sns:*:123456789012:*", "arn:aws:sns:us-east-1:123456789012:topic", False),
]


@pytest.mark.parametrize(("operator", "values", "value", "expected"), OPERATOR_CASES)
def test_operators(operator: str, values: object, value: str, expected: bool) -> None:
    assert matches({operator: {"k": values}}, {"k": value}) is expected


@pytest.mark.parametrize(("operator", "expected"), [
    ("StringEquals", False), ("StringNotEquals", True),  # a negated operator is true without its key
    ("StringEqualsIgnoreCase", False), ("StringNotEqualsIgnoreCase", True),
    ("StringLike", False), ("StringNotLike", True),
    ("NumericEquals", False), ("NumericNotEquals", True), ("NumericLessThan", False),
    ("DateEquals", False), ("DateNotEquals", True), ("DateGreaterThan", False),
    ("Bool", False), ("BinaryEquals", False),
    ("IpAddress", False), ("NotIpAddress", True),
    ("ArnEquals", False), ("ArnLike", False), ("ArnNotEquals", True), ("ArnNotLike", True),
    ("StringEqualsIfExists", True), ("StringNotEqualsIfExists", True), ("NumericLessThanIfExists", True),
    ("DateLessThanIfExists", True), ("BoolIfExists", True), ("IpAddressIfExists", True), ("ArnLikeIfExists", True),
    ("ForAllValues:StringEquals", True), ("ForAnyValue:StringEquals", False),
    ("ForAllValues:StringNotEquals", True), ("ForAnyValue:StringNotEquals", False),
])
def test_a_key_absent_from_the_request(operator: str, expected: bool) -> None:
    value = {"Date": "2024-01-01", "Bool": "true", "Ip": "10.0.0.0/8", "Num": "1", "Arn": "arn:aws:s3:::b",
             "Bin": "QQ=="}
    policy_value = next((text for prefix, text in value.items() if prefix in operator.replace("NotIp", "Ip")), "x")
    assert matches({operator: {"k": policy_value}}, {"other": "x"}) is expected


def test_if_exists_still_tests_a_present_key() -> None:
    assert matches({"StringEqualsIfExists": {"k": "a"}}, {"k": "a"})
    assert not matches({"StringEqualsIfExists": {"k": "a"}}, {"k": "b"})
    assert not matches({"NumericLessThanIfExists": {"k": "5"}}, {"k": "7"})
    assert matches({"StringNotEqualsIfExists": {"k": "a"}}, {"k": "b"})
    assert not matches({"StringNotEqualsIfExists": {"k": "a"}}, {"k": "a"})


@pytest.mark.parametrize(("value", "context", "expected"), [
    ("true", {}, True),  # "true": the key must be absent
    ("true", {"k": "x"}, False),
    ("false", {"k": "x"}, True),  # "false": present
    ("false", {}, False),
    ("TRUE", {}, True),
    (["true", "false"], {"k": "x"}, True),  # either
    ("true", {"k": []}, True),  # an empty set of values is no value
])
def test_null(value: object, context: ContextInput, expected: bool) -> None:
    assert matches({"Null": {"k": value}}, context) is expected


TAG_KEYS = ["Department", "Project"]


@pytest.mark.parametrize(("operator", "values", "request_values", "expected"), [
    # ForAllValues: every request value must match one of the policy's
    ("ForAllValues:StringEquals", ["Department", "Project", "Owner"], TAG_KEYS, True),
    ("ForAllValues:StringEquals", ["Department"], TAG_KEYS, False),
    ("ForAllValues:StringEquals", ["Department"], [], True),  # an empty set: true
    ("ForAllValues:StringLike", ["Dep*", "Proj*"], TAG_KEYS, True),
    # ForAnyValue: one is enough
    ("ForAnyValue:StringEquals", ["Project"], TAG_KEYS, True),
    ("ForAnyValue:StringEquals", ["Owner"], TAG_KEYS, False),
    ("ForAnyValue:StringEquals", ["Owner"], [], False),  # an empty set: false
    # negated: each request value must match none (ForAllValues) / one must match none (ForAnyValue)
    ("ForAllValues:StringNotEquals", ["Owner"], TAG_KEYS, True),
    ("ForAllValues:StringNotEquals", ["Project"], TAG_KEYS, False),
    ("ForAnyValue:StringNotEquals", ["Project"], TAG_KEYS, True),
    ("ForAnyValue:StringNotEquals", ["Project", "Department"], TAG_KEYS, False),
    ("ForAllValues:StringEqualsIfExists", ["Department"], TAG_KEYS, False),
    ("ForAnyValue:StringLikeIfExists", ["Proj*"], TAG_KEYS, True),
    # a multivalued key without a qualifier: any value matching is a match
    ("StringEquals", ["Project"], TAG_KEYS, True),
    ("StringNotEquals", ["Project"], TAG_KEYS, False),
])
def test_set_qualifiers(operator: str, values: list[str], request_values: list[str], expected: bool) -> None:
    assert matches({operator: {"aws:TagKeys": values}}, {"aws:TagKeys": request_values}) is expected


def test_keys_and_operators_are_anded() -> None:
    condition = {
        "StringEquals": {"aws:RequestedRegion": "us-east-1", "aws:PrincipalAccount": "123456789012"},
        "Bool": {"aws:SecureTransport": "true"},
    }
    request = {"aws:RequestedRegion": "us-east-1", "aws:PrincipalAccount": "123456789012",
               "aws:SecureTransport": "true"}
    assert matches(condition, request)
    assert not matches(condition, {**request, "aws:RequestedRegion": "eu-west-1"})
    assert not matches(condition, {**request, "aws:SecureTransport": "false"})
    assert matches({}, {})  # no condition: matches


def test_key_names_ignore_case() -> None:
    assert matches({"StringEquals": {"AWS:REQUESTEDREGION": "us-east-1"}}, {"aws:RequestedRegion": "us-east-1"})
    assert matches({"StringEquals": {"aws:requestedregion": "us-east-1"}}, {"Aws:RequestedRegion": "us-east-1"})


def test_policy_variables_in_values() -> None:
    context = {"s3:prefix": "home/alice/notes", "aws:username": "alice",
               "aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:alice-topic"}
    assert matches({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}, context)
    assert not matches({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}, {**context, "aws:username": "bob"})
    assert matches({"StringEquals": {"aws:username": "${aws:username}"}}, context)
    assert matches({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:*:${aws:username}-*"}}, context)
    assert matches({"StringLike": {"s3:prefix": "home/${aws:userid, 'alice'}/*"}}, context)  # the default
    # a 2008-10-17 policy: no variables
    assert not matches({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}, context, variables=False)
    # the Numeric operators take no variables: the text stays literal
    assert not matches({"NumericEquals": {"n": "${aws:username}"}}, {"n": "1", "aws:username": "1"})


def test_a_variable_without_a_value_cannot_match() -> None:
    with pytest.raises(UnresolvedVariable):
        matches({"StringLike": {"s3:prefix": "home/${aws:username}/*"}}, {"s3:prefix": "home/x/y"})
    with pytest.raises(UnresolvedVariable):  # negated operators too: nothing to compare with
        matches({"StringNotEquals": {"s3:prefix": "${aws:username}"}}, {"s3:prefix": "home/x/y"})


@pytest.mark.parametrize(("name", "base", "qualifier", "if_exists"), [
    ("StringEquals", "StringEquals", None, False),
    ("StringEqualsIfExists", "StringEquals", None, True),
    ("ForAnyValue:StringLikeIfExists", "StringLike", "ForAnyValue:", True),
    ("ForAllValues:ArnNotLike", "ArnNotLike", "ForAllValues:", False),
    ("NotIpAddressIfExists", "NotIpAddress", None, True),
])
def test_operator_names(name: str, base: str, qualifier: str | None, if_exists: bool) -> None:
    assert Operator.parse(name) == Operator(name, base, qualifier, if_exists)


@pytest.mark.parametrize("name", ["stringequals", "StringEqual", "ForAnyValue::StringEquals",
                                  "ForSomeValues:StringEquals", "StringEqualsIfExistsIfExists", "IfExists", ""])
def test_unknown_operator_names(name: str) -> None:
    assert Operator.parse(name) is None


@pytest.mark.parametrize("condition", [
    [],
    "a",
    {"a": "b"},
    {"x": {"a": "1"}},  # an unknown operator naming a key
    {"ForAnyValue::StringEqualsIfExists": {"a": "asf"}},
    {"DateGreaterThan": "b"},
    {"DateGreaterThan": []},
    {"DateGreaterThan": {"a": {}}},
    {"StringEquals": {"a": None}},
    {"StringEquals": {"a": [["x"]]}},
])
def test_condition_syntax_errors(condition: object) -> None:
    with pytest.raises(MalformedPolicyDocumentException, match=r"^Syntax errors in policy\.$"):
        parse_condition(condition, variables=True)


def test_an_unknown_operator_without_keys_is_let_through() -> None:
    assert parse_condition({"a": {}, "x": {}}, variables=True).clauses == ()


@pytest.mark.parametrize(("text", "epoch"), [
    ("2024-01-01T00:00:00Z", 1704067200.0),
    ("2024-01-01", 1704067200.0),
    ("2024-01", 1704067200.0),
    ("2024", 2024.0),  # digits alone are epoch seconds
    ("2024-01-01T01:00:00+01:00", 1704067200.0),
    ("2023-12-31T19:00:00-05:00", 1704067200.0),
    ("2024-01-01t00:00:00z", 1704067200.0),
    ("2024-01-01T00:00:00.25Z", 1704067200.25),
    ("2016-12-13t2:00:00.593194+23", parse_date("2016-12-12T03:00:00.593194Z")),
    ("1704067200", 1704067200.0),
    ("01T", parse_date("0001-01-01T00:00:00Z")),
    ("-292275054", -math.inf),
])
def test_dates(text: str, epoch: float) -> None:
    assert parse_date(text) == pytest.approx(epoch)


@pytest.mark.parametrize("text", ["sdfdsf", "234-13", "2016-12-13t2:00:00.593194+1",
                                  "2016-12-13t2:00:00.1999999999+10:59", "9223372036854775808", "2024-01-01T24:00:00Z",
                                  "2024-01-32", "", "1_000"])
def test_dates_iam_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_date(text)


def test_current_time_format() -> None:
    assert format_date(1704067200.9) == "2024-01-01T00:00:00Z"
