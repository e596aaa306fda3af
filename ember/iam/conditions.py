"""The `Condition` element: operators, set qualifiers and `...IfExists`, compiled once per policy.

The rules, from the IAM User Guide (Condition operators; Creating a condition with multiple keys
or values):
- every operator of a block, and every key of an operator, must match (AND); the values of one
  key are alternatives (OR);
- a negated operator (`StringNotEquals`, `ArnNotLike`, `NotIpAddress`...) matches when the
  request's value matches none of the values (NOR);
- a key absent from the request: the condition is false, except that a negated operator is then
  true, `...IfExists` is true, `ForAllValues:` is true and `ForAnyValue:` is false (the same
  holds for an empty set of values); `Null` tests exactly that presence;
- `ForAllValues:` every one of the request's values must match; `ForAnyValue:` any one;
- condition key names are case-insensitive; values are compared as their operator says;
- policy variables may appear in the values of the String, ARN and Bool operators.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from ember.errors import MalformedPolicyDocumentException
from ember.iam.dates import parse_date
from ember.iam.variables import Lookup, Template
from ember.iam.wildcards import ArnGlob, Glob

#: a request's context: lower-cased key → its values (one for a single-valued key)
Context = Mapping[str, Sequence[str]]


class UnresolvedVariable(Exception):
    """A policy variable in a value had no value in the request: the statement cannot match."""


class _Kind(StrEnum):
    STRING = "String"
    STRING_IGNORE_CASE = "StringIgnoreCase"
    STRING_LIKE = "StringLike"
    NUMERIC = "Numeric"
    DATE = "Date"
    BOOL = "Bool"
    BINARY = "Binary"
    IP = "Ip"
    ARN = "Arn"
    NULL = "Null"


_LESS, _LESS_EQUAL, _GREATER, _GREATER_EQUAL, _EQUAL = "<", "<=", ">", ">=", "=="
_ORDERED = {
    "Equals": _EQUAL, "NotEquals": _EQUAL, "LessThan": _LESS, "LessThanEquals": _LESS_EQUAL,
    "GreaterThan": _GREATER, "GreaterThanEquals": _GREATER_EQUAL,
}


def _operators() -> dict[str, tuple[_Kind, bool, str]]:
    """Every base operator IAM knows → its kind, whether it is negated, and its comparison."""
    table: dict[str, tuple[_Kind, bool, str]] = {
        "StringEquals": (_Kind.STRING, False, _EQUAL),
        "StringNotEquals": (_Kind.STRING, True, _EQUAL),
        "StringEqualsIgnoreCase": (_Kind.STRING_IGNORE_CASE, False, _EQUAL),
        "StringNotEqualsIgnoreCase": (_Kind.STRING_IGNORE_CASE, True, _EQUAL),
        "StringLike": (_Kind.STRING_LIKE, False, _EQUAL),
        "StringNotLike": (_Kind.STRING_LIKE, True, _EQUAL),
        "Bool": (_Kind.BOOL, False, _EQUAL),
        "BinaryEquals": (_Kind.BINARY, False, _EQUAL),
        "IpAddress": (_Kind.IP, False, _EQUAL),
        "NotIpAddress": (_Kind.IP, True, _EQUAL),
        # ArnEquals and ArnLike behave identically, as do their negations
        "ArnEquals": (_Kind.ARN, False, _EQUAL),
        "ArnLike": (_Kind.ARN, False, _EQUAL),
        "ArnNotEquals": (_Kind.ARN, True, _EQUAL),
        "ArnNotLike": (_Kind.ARN, True, _EQUAL),
        "Null": (_Kind.NULL, False, _EQUAL),
    }
    for kind in (_Kind.NUMERIC, _Kind.DATE):
        for suffix, comparison in _ORDERED.items():
            table[f"{kind}{suffix}"] = (kind, suffix == "NotEquals", comparison)
    return table


OPERATORS = _operators()
SET_QUALIFIERS = ("ForAnyValue:", "ForAllValues:")
IF_EXISTS = "IfExists"


@dataclass(frozen=True, slots=True)
class Operator:
    """A parsed operator name such as `ForAnyValue:StringLikeIfExists`."""

    name: str
    base: str
    qualifier: str | None  # "ForAnyValue:" or "ForAllValues:"
    if_exists: bool

    @classmethod
    def parse(cls, name: str) -> Operator | None:
        """The operator, or None when IAM does not know it."""
        rest, qualifier = name, None
        for prefix in SET_QUALIFIERS:
            if rest.startswith(prefix):
                rest, qualifier = rest[len(prefix):], prefix
                break
        if_exists = rest.endswith(IF_EXISTS) and rest[: -len(IF_EXISTS)] in OPERATORS
        base = rest[: -len(IF_EXISTS)] if if_exists else rest
        return cls(name, base, qualifier, if_exists) if base in OPERATORS else None


def policy_values(raw: object) -> list[str] | None:
    """A condition's values as strings (IAM's grammar takes strings, numbers and booleans, alone or
    in a list); None when they are of another shape."""
    items = raw if isinstance(raw, list) else [raw]
    values: list[str] = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, str):
            values.append(item)
        elif isinstance(item, int | float):
            values.append(repr(item))
        else:
            return None
    return values


class Clause:
    """One key of one operator: `"StringLike": {"s3:prefix": ["home/", "home/${aws:username}/*"]}`."""

    __slots__ = ("operator", "key", "_kind", "_negated", "_comparison", "_values", "_test")

    def __init__(self, operator: Operator, key: str, values: Sequence[str], *, variables: bool) -> None:
        self.operator = operator
        self.key = key.lower()
        kind, negated, comparison = OPERATORS[operator.base]
        self._kind, self._negated, self._comparison = kind, negated, comparison
        uses_variables = variables and kind in (_Kind.STRING, _Kind.STRING_IGNORE_CASE, _Kind.STRING_LIKE,
                                               _Kind.ARN, _Kind.BOOL)
        self._values = [Template(value, variables=uses_variables) for value in values]
        self._test = self._compile(values)

    def _compile(self, values: Sequence[str]) -> Callable[[str, Lookup], bool]:
        kind = self._kind
        if kind in (_Kind.STRING, _Kind.STRING_IGNORE_CASE, _Kind.STRING_LIKE, _Kind.ARN, _Kind.BOOL):
            return self._string_test()
        if kind is _Kind.NUMERIC:
            numbers = [number for number in map(_number, values) if number is not None]
            return lambda value, _: _compare_any(_number(value), numbers, self._comparison)
        if kind is _Kind.DATE:
            dates = [date for date in map(_date, values) if date is not None]
            return lambda value, _: _compare_any(_date(value), dates, self._comparison)
        if kind is _Kind.IP:
            networks = [network for network in map(_network, values) if network is not None]
            return lambda value, _: _in_networks(value, networks)
        if kind is _Kind.BINARY:
            blobs = [blob for blob in map(_binary, values) if blob is not None]
            return lambda value, _: _binary(value) in blobs
        return lambda value, _: False  # Null: `matches` tests presence itself

    def _string_test(self) -> Callable[[str, Lookup], bool]:
        kind = self._kind
        fixed = [template for template in self._values if not template.has_variables]
        globs = [Glob(template.text) for template in fixed] if kind is _Kind.STRING_LIKE else []
        arn_globs = [ArnGlob(template.text) for template in fixed] if kind is _Kind.ARN else []
        texts = {_normal(kind, template.text) for template in fixed}
        varying = [template for template in self._values if template.has_variables]

        def test(value: str, lookup: Lookup) -> bool:
            if kind is _Kind.STRING_LIKE:
                if any(glob.matches(value) for glob in globs):
                    return True
            elif kind is _Kind.ARN:
                if any(glob.matches(value) for glob in arn_globs):
                    return True
            elif _normal(kind, value) in texts:
                return True
            for template in varying:
                pieces = template.resolve(lookup)
                if pieces is None:
                    raise UnresolvedVariable(template.text)
                if kind is _Kind.STRING_LIKE:
                    if Glob(pieces).matches(value):
                        return True
                elif kind is _Kind.ARN:
                    if ArnGlob(pieces).matches(value):
                        return True
                elif _normal(kind, "".join(piece.text for piece in pieces)) == _normal(kind, value):
                    return True
            return False

        return test

    def matches(self, context: Context, lookup: Lookup) -> bool:
        present = context.get(self.key) or ()
        if self._kind is _Kind.NULL:
            return any((value.lower() == "true") == (not present) for value in self._value_texts())
        if not present:
            if self.operator.if_exists or self.operator.qualifier == "ForAllValues:":
                return True
            if self.operator.qualifier == "ForAnyValue:":
                return False
            return self._negated

        def positive(value: str) -> bool:
            return self._test(value, lookup)

        if self.operator.qualifier == "ForAllValues:":
            return all(positive(value) != self._negated for value in present)
        if self.operator.qualifier == "ForAnyValue:":
            return any(positive(value) != self._negated for value in present)
        return any(positive(value) for value in present) != self._negated

    def _value_texts(self) -> list[str]:
        return [template.text for template in self._values]

    def __repr__(self) -> str:
        return f"Clause({self.operator.name}, {self.key!r}, {self._value_texts()!r})"


class ConditionBlock:
    """A statement's whole `Condition` element: every clause must match."""

    __slots__ = ("clauses",)

    def __init__(self, clauses: Sequence[Clause] = ()) -> None:
        self.clauses = tuple(clauses)

    def matches(self, context: Context, lookup: Lookup) -> bool:
        """Raises UnresolvedVariable when a value's variable has no value in the request."""
        return all(clause.matches(context, lookup) for clause in self.clauses)


def parse_condition(raw: object, *, variables: bool) -> ConditionBlock:
    """Parse a `Condition` element; MalformedPolicyDocument for what IAM's grammar refuses."""
    syntax = MalformedPolicyDocumentException("Syntax errors in policy.")
    if not isinstance(raw, dict):
        raise syntax
    clauses: list[Clause] = []
    for name, block in raw.items():
        if not isinstance(block, dict):
            raise syntax
        parsed = [(key, policy_values(value)) for key, value in block.items()]
        if any(values is None for _, values in parsed):
            raise syntax
        operator = Operator.parse(name)
        if operator is None:
            if block:  # IAM lets an unknown operator through only when it names no key
                raise syntax
            continue
        for key, values in parsed:
            assert values is not None
            if operator.base.startswith("Date"):
                for value in values:
                    _legacy_date(value)
            clauses.append(Clause(operator, key, values, variables=variables))
    return ConditionBlock(clauses)


def _legacy_date(value: str) -> None:
    try:
        parse_date(value)
    except ValueError:
        raise MalformedPolicyDocumentException("The policy failed legacy parsing") from None


def _normal(kind: _Kind, text: str) -> str:
    return text.casefold() if kind in (_Kind.STRING_IGNORE_CASE, _Kind.BOOL) else text


@lru_cache(maxsize=4096)
def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) else number


def _date(text: str) -> float | None:
    try:
        return parse_date(text)
    except ValueError:
        return None


def _compare_any(value: float | None, bounds: Sequence[float], comparison: str) -> bool:
    if value is None:
        return False
    for bound in bounds:
        if comparison == _EQUAL and value == bound:
            return True
        if comparison == _LESS and value < bound:
            return True
        if comparison == _LESS_EQUAL and value <= bound:
            return True
        if comparison == _GREATER and value > bound:
            return True
        if comparison == _GREATER_EQUAL and value >= bound:
            return True
    return False


IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _network(text: str) -> IpNetwork | None:
    try:
        # an address without a prefix is /32 (or /128): "IAM uses the default prefix value of /32"
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _in_networks(value: str, networks: Sequence[IpNetwork]) -> bool:
    address = _address(value)
    return address is not None and any(address.version == network.version and address in network
                                       for network in networks)


def _binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
