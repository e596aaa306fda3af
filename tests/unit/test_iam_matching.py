"""IAM's wildcards and policy variables: what `*` and `?` span, what ARN operators split, what a
variable brings in and when it cannot."""

from __future__ import annotations

import pytest

from ember.iam.resources import ActionMatcher, ResourceMatcher
from ember.iam.variables import Lookup, Template
from ember.iam.wildcards import ArnGlob, Glob, glob_match

FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:orders"


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("*", "", True),
    ("*", "anything:at/all", True),
    ("arn:aws:lambda:*", FUNCTION, True),  # * spans the colons
    ("arn:aws:lambda:*:function:orders", FUNCTION, True),
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b/c.txt", True),  # ... and the slashes
    ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket", False),
    ("arn:aws:s3:::bucket*", "arn:aws:s3:::bucket", True),  # * may be empty
    ("arn:aws:lambda:us-east-1:123456789012:function:orders*", FUNCTION + ":prod", True),
    ("arn:aws:lambda:us-east-?:123456789012:function:orders", FUNCTION, True),
    ("arn:aws:lambda:us-east-?:123456789012:function:orders", FUNCTION.replace("us-east-1", "us-east-10"), False),
    ("a?c", "abc", True),
    ("a?c", "ac", False),  # ? is exactly one character
    ("a?c", "a:c", True),
    ("a.c", "abc", False),  # regular-expression characters are literal
    ("a+", "aa", False),
    ("[ab]", "a", False),
    ("Orders", "orders", False),  # resources are case-sensitive
    ("*orders*", "my-orders-table", True),
    ("a*b*c", "aXXbYYc", True),
    ("a*b*c", "aXXcYYb", False),
    ("line*", "line1\nline2", True),  # * spans newlines too
])
def test_glob(pattern: str, value: str, expected: bool) -> None:
    assert glob_match(pattern, value) is expected


def test_glob_ignoring_case() -> None:
    assert Glob("lambda:Get*", ignore_case=True).matches("LAMBDA:getfunction")
    assert Glob("lambda:GetFunction", ignore_case=True).matches("lambda:getfunction")
    assert not Glob("lambda:Get*", ignore_case=False).matches("lambda:getfunction")


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    (FUNCTION, FUNCTION, True),
    ("arn:aws:lambda:*:123456789012:function:orders", FUNCTION, True),
    ("arn:aws:lambda:*:*:function:*", FUNCTION, True),
    ("arn:aws:lambda:*:*:function:*", FUNCTION + ":prod", True),  # the resource part keeps its colons
    ("arn:aws:lambda:us-east-1:123456789012:function:orders", FUNCTION + ":prod", False),
    # the IAM User Guide's example: with ArnLike the first * matches only the region
    ("arn:aws:someservice:*:111122223333:finance/*",
     "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt", False),
    ("arn:aws:sns:*:123456789012:*", "arn:aws:sns:us-east-1:123456789012:topic", True),
    ("arn:aws:sns:*", "arn:aws:sns:us-east-1:123456789012:topic", True),  # a short pattern's last part takes the rest
    ("*", "arn:aws:sns:us-east-1:123456789012:topic", True),
    ("arn:aws:sns:us-east-1:123456789012:topic", "not-an-arn", False),
    ("arn:aws:SNS:us-east-1:123456789012:topic", "arn:aws:sns:us-east-1:123456789012:topic", False),
])
def test_arn_like_matches_each_part_on_its_own(pattern: str, value: str, expected: bool) -> None:
    assert ArnGlob(pattern).matches(value) is expected


def test_string_like_spans_what_arn_like_does_not() -> None:
    pattern = "arn:aws:someservice:*:111122223333:finance/*"
    value = "arn:aws:someservice:us-east-2:999999999999:store/abc:111122223333:finance/document.txt"
    assert glob_match(pattern, value)
    assert not ArnGlob(pattern).matches(value)


@pytest.mark.parametrize(("patterns", "action", "expected"), [
    (["lambda:InvokeFunction"], "lambda:InvokeFunction", True),
    (["lambda:invokefunction"], "lambda:InvokeFunction", True),  # actions ignore case
    (["LAMBDA:INVOKE*"], "lambda:InvokeFunction", True),
    (["lambda:Get*"], "lambda:InvokeFunction", False),
    (["*"], "sts:AssumeRole", True),
    (["lambda:*"], "lambdax:Get", False),
    (["lambda:*Function"], "lambda:GetFunction", True),
    (["lambda:?etFunction"], "lambda:GetFunction", True),
    (["s3:*", "lambda:Get?unction"], "lambda:GetFunction", True),
])
def test_actions(patterns: list[str], action: str, expected: bool) -> None:
    assert ActionMatcher(patterns).matches(action) is expected
    assert ActionMatcher(patterns, negated=True).matches(action) is not expected


def lookup_from(values: dict[str, str]) -> Lookup:
    return values.get


@pytest.mark.parametrize(("template", "values", "expected"), [
    ("home/${aws:username}/*", {"aws:username": "alice"}, "home/alice/*"),
    ("${aws:username}", {}, None),  # no value: cannot resolve
    ("${aws:userid, 'anonymous'}", {}, "anonymous"),  # the default when there is none
    ("${aws:userid, 'anonymous'}", {"aws:userid": "AIDA1"}, "AIDA1"),
    ("${AWS:UserName}", {"aws:username": "alice"}, "alice"),  # key names ignore case
    ("a${*}b${?}c${$}", {}, "a*b?c$"),  # the escapes
    ("${aws:PrincipalTag/team}-x", {"aws:principaltag/team": "blue"}, "blue-x"),
    ("plain", {}, "plain"),
    ("${not a variable}", {}, "${not a variable}"),  # not IAM's form: literal
    ("$", {}, "$"),
    ("", {}, ""),
])
def test_templates(template: str, values: dict[str, str], expected: str | None) -> None:
    assert Template(template).resolve_text(lookup_from(values)) == expected


def test_a_2008_document_has_no_variables() -> None:
    template = Template("home/${aws:username}", variables=False)
    assert not template.has_variables
    assert template.resolve_text(lookup_from({"aws:username": "alice"})) == "home/${aws:username}"


def test_what_a_variable_brings_is_literal() -> None:
    # a user named "*" must not become a wildcard
    matcher = ResourceMatcher(["arn:aws:s3:::bucket/home/${aws:username}/*"])
    star = lookup_from({"aws:username": "*"})
    assert matcher.matches("arn:aws:s3:::bucket/home/*/notes.txt", star)
    assert not matcher.matches("arn:aws:s3:::bucket/home/bob/notes.txt", star)
    # ${*} is a literal * too
    literal = ResourceMatcher(["arn:aws:s3:::bucket/${*}"])
    assert literal.matches("arn:aws:s3:::bucket/*", star)
    assert not literal.matches("arn:aws:s3:::bucket/anything", star)


def test_resources_with_variables() -> None:
    matcher = ResourceMatcher(["arn:aws:s3:::bucket/home/${aws:username}/*", "arn:aws:s3:::public/*"])
    alice = lookup_from({"aws:username": "alice"})
    nobody = lookup_from({})
    assert matcher.matches("arn:aws:s3:::bucket/home/alice/a.txt", alice)
    assert not matcher.matches("arn:aws:s3:::bucket/home/bob/a.txt", alice)
    # an entry whose variable has no value matches nothing; the others still do
    assert not matcher.matches("arn:aws:s3:::bucket/home//a.txt", nobody)
    assert matcher.matches("arn:aws:s3:::public/x", nobody)
