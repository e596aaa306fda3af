"""CloudWatch Logs filter patterns: parse once, then match log event messages.

Two kinds, as AWS documents them:

- Term patterns, for unstructured text. ``ERROR`` (the message contains ERROR; case matters),
  ``ERROR Exiting`` (both), ``"Task timed out"`` (a quoted phrase), ``?ERROR ?WARN`` (either),
  ``ERROR -Exiting`` (ERROR but not Exiting), ``%ERR[0-9]+%`` (a regular expression). An
  unquoted term is letters, digits and underscores; anything else must be quoted.
- JSON patterns, for messages that are JSON objects: ``{ $.level = "ERROR" }``,
  ``{ $.latency > 500 && $.path != "/health" }``, ``{ ($.a = 1) || ($.b = "x*") }``. Selectors
  are ``$.a.b`` and ``$.list[0]``; comparisons are ``= != < > <= >=`` (numbers) and ``= !=``
  (strings, with ``*`` as a wildcard), plus ``IS NULL``, ``IS TRUE``, ``IS FALSE``, ``NOT EXISTS``.

The empty pattern matches everything. A pattern that cannot be parsed raises
InvalidParameterException saying what is wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ember.errors import InvalidParameterException

Matcher = Callable[[str], bool]
_MISSING = object()
_UNQUOTED_TERM = re.compile(r"[A-Za-z0-9_]+")


def compile_pattern(pattern: str | None) -> Matcher:
    """A function telling whether a message matches `pattern`."""
    text = (pattern or "").strip()
    if not text:
        return lambda message: True
    if text.startswith("{"):
        return _JsonPatternParser(text).parse()
    if text.startswith("["):
        raise InvalidParameterException(
            f"Invalid filter pattern '{pattern}': Ember does not support space-delimited ([...]) patterns yet; "
            "use terms or a JSON pattern ({ $.field = value })")
    return _compile_terms(text, pattern or "")


# ---- term patterns ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Term:
    test: Matcher
    is_optional: bool  #: a `?` term: at least one of these must match
    is_excluded: bool  #: a `-` term: must not match


def _compile_terms(text: str, pattern: str) -> Matcher:
    terms: list[_Term] = []
    position = 0
    while position < len(text):
        if text[position].isspace():
            position += 1
            continue
        is_optional = is_excluded = False
        if text[position] == "?":
            is_optional, position = True, position + 1
        if position < len(text) and text[position] == "-":
            is_excluded, position = True, position + 1
        if position >= len(text) or text[position].isspace():
            raise InvalidParameterException(f"Invalid filter pattern '{pattern}': '?' or '-' must come right "
                                            "before a term")
        test, position = _read_term(text, position, pattern)
        terms.append(_Term(test, is_optional, is_excluded))
    required = [t.test for t in terms if not t.is_optional and not t.is_excluded]
    optional = [t.test for t in terms if t.is_optional and not t.is_excluded]
    excluded = [t.test for t in terms if t.is_excluded]

    def matches(message: str) -> bool:
        return (all(test(message) for test in required)
                and (not optional or any(test(message) for test in optional))
                and not any(test(message) for test in excluded))

    return matches


def _read_term(text: str, position: int, pattern: str) -> tuple[Matcher, int]:
    first = text[position]
    if first == '"':
        end = position + 1
        phrase = []
        while end < len(text) and text[end] != '"':
            if text[end] == "\\" and end + 1 < len(text):
                end += 1
            phrase.append(text[end])
            end += 1
        if end >= len(text):
            raise InvalidParameterException(f"Invalid filter pattern '{pattern}': a quoted term is not closed")
        needle = "".join(phrase)
        return (lambda message: needle in message), end + 1
    if first == "%":
        end = text.find("%", position + 1)
        if end < 0:
            raise InvalidParameterException(f"Invalid filter pattern '{pattern}': a %regex% term is not closed")
        try:
            regex = re.compile(text[position + 1 : end])
        except re.error as exc:
            raise InvalidParameterException(f"Invalid filter pattern '{pattern}': bad regular expression: {exc}"
                                            ) from None
        return (lambda message: regex.search(message) is not None), end + 1
    end = position
    while end < len(text) and not text[end].isspace():
        end += 1
    word = text[position:end]
    if not _UNQUOTED_TERM.fullmatch(word):
        raise InvalidParameterException(
            f"Invalid filter pattern '{pattern}': Invalid character(s) in term '{word}'; put terms with characters "
            'other than letters, digits and _ in double quotes ("...")')
    return (lambda message: word in message), end


# ---- JSON patterns ------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<op>&&|\|\||!=|<=|>=|=|<|>|\(|\)|\{|\})
    | (?P<selector>\$(?:\.[A-Za-z0-9_@-]+|\[\d+\])*)
    | (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![A-Za-z0-9_]))
    | (?P<word>[A-Za-z0-9_.*:/@-]+)
    )""", re.VERBOSE)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


class _JsonPatternParser:
    """Recursive descent: expr := and ('||' and)* ; and := primary ('&&' primary)* ;
    primary := '(' expr ')' | selector comparison."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.tokens = self._tokenize(pattern)
        self.index = 0

    def _error(self, what: str) -> InvalidParameterException:
        return InvalidParameterException(f"Invalid filter pattern '{self.pattern}': {what}")

    def _tokenize(self, pattern: str) -> list[_Token]:
        tokens: list[_Token] = []
        position = 0
        while position < len(pattern):
            if pattern[position:].strip() == "":
                break
            match = _TOKEN.match(pattern, position)
            if match is None or match.end() == position:
                raise self._error(f"unexpected text at '{pattern[position:].strip()[:20]}'")
            kind = match.lastgroup
            assert kind is not None
            tokens.append(_Token(kind, match.group(kind)))
            position = match.end()
        return tokens

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> _Token:
        token = self._peek()
        if token is None:
            raise self._error(f"it ends where {expected or 'more'} was expected")
        if expected is not None and token.text != expected:
            raise self._error(f"expected '{expected}' but found '{token.text}'")
        self.index += 1
        return token

    def parse(self) -> Matcher:
        self._take("{")
        test = self._or()
        self._take("}")
        if self._peek() is not None:
            raise self._error(f"unexpected '{self._peek().text}' after the closing brace")  # type: ignore[union-attr]

        def matches(message: str) -> bool:
            try:
                document = json.loads(message)
            except ValueError:
                return False  # not JSON: a JSON pattern never matches it
            return isinstance(document, dict) and test(document)  # log events are JSON objects

        return matches

    def _or(self) -> Callable[[Any], bool]:
        parts = [self._and()]
        while (token := self._peek()) is not None and token.text == "||":
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda document: any(part(document) for part in parts))

    def _and(self) -> Callable[[Any], bool]:
        parts = [self._primary()]
        while (token := self._peek()) is not None and token.text == "&&":
            self._take()
            parts.append(self._primary())
        return parts[0] if len(parts) == 1 else (lambda document: all(part(document) for part in parts))

    def _primary(self) -> Callable[[Any], bool]:
        token = self._peek()
        if token is not None and token.text == "(":
            self._take()
            inner = self._or()
            self._take(")")
            return inner
        if token is None or token.kind != "selector":
            raise self._error(f"expected a selector such as $.level, found '{token.text if token else 'the end'}'")
        path = _selector_path(self._take().text)
        operator = self._take()
        if operator.kind == "word" and operator.text in ("IS", "NOT"):
            return self._keyword_test(operator.text, path)
        if operator.kind != "op" or operator.text not in ("=", "!=", "<", ">", "<=", ">="):
            raise self._error(f"expected a comparison (=, !=, <, >, <=, >=) after the selector, found "
                              f"'{operator.text}'")
        value = self._take()
        return self._comparison(path, operator.text, value)

    def _keyword_test(self, first: str, path: list[str | int]) -> Callable[[Any], bool]:
        second = self._take().text
        if first == "NOT" and second == "EXISTS":
            return lambda document: _select(document, path) is _MISSING
        if first == "IS" and second in ("NULL", "TRUE", "FALSE"):
            wanted = {"NULL": None, "TRUE": True, "FALSE": False}[second]
            return lambda document: _select(document, path) is wanted
        raise self._error(f"expected IS NULL, IS TRUE, IS FALSE or NOT EXISTS, found '{first} {second}'")

    def _comparison(self, path: list[str | int], operator: str, value: _Token) -> Callable[[Any], bool]:
        if value.kind == "number":
            number = float(value.text)
            compare = _NUMERIC[operator]

            def numeric(document: Any) -> bool:
                found = _select(document, path)
                return isinstance(found, (int, float)) and not isinstance(found, bool) and compare(found, number)

            return numeric
        if value.kind == "string":
            text = json.loads(value.text)
        elif value.kind == "word":
            text = value.text
        else:
            raise self._error(f"expected a value after '{operator}', found '{value.text}'")
        if operator not in ("=", "!="):
            raise self._error(f"'{operator}' compares numbers; strings take = or !=")
        regex = re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", text)),
                           re.DOTALL)
        is_equal = operator == "="

        def textual(document: Any) -> bool:
            found = _select(document, path)
            if found is _MISSING or isinstance(found, (dict, list)):
                return False
            rendered = _as_text(found)
            return (regex.fullmatch(rendered) is not None) == is_equal

        return textual


_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
}


def _selector_path(selector: str) -> list[str | int]:
    return [int(index) if index else name for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", selector)]


def _select(document: Any, path: list[str | int]) -> Any:
    for step in path:
        if isinstance(step, int) and isinstance(document, list) and step < len(document):
            document = document[step]
        elif isinstance(step, str) and isinstance(document, dict) and step in document:
            document = document[step]
        else:
            return _MISSING
    return document


def _as_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
