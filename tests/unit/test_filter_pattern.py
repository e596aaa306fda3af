"""Tests for the CloudWatch Logs filter-pattern parser and matcher."""

from __future__ import annotations

import json

import pytest

from ember.errors import InvalidParameterException
from ember.telemetry.filter_pattern import compile_pattern

LINES = [
    "[ERROR] A fatal exception has occurred\n",
    "[ERROR] Exiting with ErrorCode: 5\n",
    "[WARN] A terminal failure has occurred\n",
    "[INFO] Task timed out after 3.00 seconds\n",
    "START RequestId: 1 Version: $LATEST\n",
]


def matching(pattern: str, lines: list[str] = LINES) -> list[int]:
    matches = compile_pattern(pattern)
    return [index for index, line in enumerate(lines) if matches(line)]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("", [0, 1, 2, 3, 4]),
    ("   ", [0, 1, 2, 3, 4]),
    ("ERROR", [0, 1]),
    ("error", []),  # terms are case-sensitive
    ("ERROR Exiting", [1]),  # every term
    ('"timed out"', [3]),  # a quoted phrase
    ('"[WARN]"', [2]),  # quoting lets other characters in
    ("?ERROR ?WARN", [0, 1, 2]),  # any of the ? terms
    ("ERROR -Exiting", [0]),  # - excludes
    ('-"[ERROR]"', [2, 3, 4]),
    ("?WARN ?INFO -terminal", [3]),
    ("%ErrorCode: [0-9]+%", [1]),  # a regular expression
    ("occurred fatal", [0]),
])
def test_term_patterns(pattern: str, expected: list[int]) -> None:
    assert matching(pattern) == expected


DOCUMENTS = [
    {"level": "ERROR", "latency": 750, "user": {"id": 7, "name": "ann"}, "tags": ["a", "b"], "ok": False},
    {"level": "INFO", "latency": 20, "user": {"id": 8, "name": "bob"}, "tags": ["b"], "ok": True, "gone": None},
    {"level": "WARN", "latency": 500.5, "path": "/health", "user": {"id": 9}},
]
JSON_LINES = [json.dumps(document) + "\n" for document in DOCUMENTS] + ["not json at all\n", "[1, 2]\n"]


@pytest.mark.parametrize(("pattern", "expected"), [
    ('{ $.level = "ERROR" }', [0]),
    ("{ $.level = ERROR }", [0]),  # an unquoted word value
    ('{ $.level != "ERROR" }', [1, 2]),
    ('{ $.level = "W*" }', [2]),  # * is a wildcard in strings
    ("{ $.latency > 500 }", [0, 2]),
    ("{ $.latency >= 750 }", [0]),
    ("{ $.latency < 500 }", [1]),
    ("{ $.latency <= 500.5 }", [1, 2]),
    ("{ $.latency = 20 }", [1]),
    ("{ $.latency != 20 }", [0, 2]),
    ("{ $.user.id = 8 }", [1]),  # nested selectors
    ('{ $.tags[1] = "b" }', [0]),  # list indexes
    ('{ $.level = "ERROR" && $.latency > 100 }', [0]),
    ('{ $.level = "INFO" || $.latency > 600 }', [0, 1]),
    ('{ ($.level = "INFO" || $.level = "WARN") && $.latency > 100 }', [2]),
    ('{ $.user.name = "ann" || ($.user.id = 9 && $.path = "/health") }', [0, 2]),
    ("{ $.gone IS NULL }", [1]),
    ("{ $.ok IS TRUE }", [1]),
    ("{ $.ok IS FALSE }", [0]),
    ("{ $.path NOT EXISTS }", [0, 1]),
    ('{ $.missing = "x" }', []),
])
def test_json_patterns(pattern: str, expected: list[int]) -> None:
    assert matching(pattern, JSON_LINES) == expected


@pytest.mark.parametrize(("pattern", "complaint"), [
    ("foo:bar", "Invalid character(s) in term 'foo:bar'"),
    ('"unclosed', "quoted term is not closed"),
    ("%[unclosed%", "bad regular expression"),
    ("ERROR ?", "'?' or '-' must come right before a term"),
    ("{ $.level = ", "it ends where"),
    ('{ $.level = "x" ', "it ends where }"),
    ('{ level = "x" }', "expected a selector"),
    ('{ $.level ~ "x" }', "unexpected text"),
    ('{ $.level > "x" }', "strings take = or !="),
    ('{ $.a = 1 } extra', "after the closing brace"),
    ("{ $.a IS MAYBE }", "IS NULL, IS TRUE"),
    ("[ip, user]", "space-delimited"),
])
def test_bad_patterns_say_what_is_wrong(pattern: str, complaint: str) -> None:
    with pytest.raises(InvalidParameterException) as caught:
        compile_pattern(pattern)
    assert complaint in caught.value.message
    assert pattern.strip()[:5] in caught.value.message
