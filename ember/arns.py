"""Function ARNs and names: parsing and formatting, pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ember.errors import ValidationException

# FunctionName accepts a name, a partial ARN (ACCOUNT:function:NAME) or a full ARN,
# each optionally followed by :QUALIFIER.
_FUNCTION_REF = re.compile(
    r"^(?:arn:(?P<partition>aws[a-zA-Z-]*):lambda:(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?:function:)?"
    r"(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$"
)


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """What a FunctionName parameter names: the function, and a qualifier if it carried one."""

    name: str
    qualifier: str | None = None
    region: str | None = None
    account_id: str | None = None


def parse_function_ref(value: str) -> FunctionRef:
    """Split a function name, partial ARN or ARN into its parts."""
    match = _FUNCTION_REF.match(value)
    if not match:
        raise ValidationException(
            f"1 validation error detected: Value '{value}' at 'functionName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?"
            r"([a-zA-Z0-9-_\.]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
        )
    return FunctionRef(
        name=match["name"], qualifier=match["qualifier"], region=match["region"], account_id=match["account"]
    )


def function_arn(region: str, account_id: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


@dataclass(frozen=True, slots=True)
class Home:
    """The account and region one Ember serves: every ARN it writes is in them."""

    region: str
    account_id: str

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        return function_arn(self.region, self.account_id, name, qualifier)

    def layer_arn(self, name: str, version: int | None = None) -> str:
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:layer:{name}"
        return f"{arn}:{version}" if version is not None else arn


_ROLE_ARN = re.compile(r"^arn:[a-z-]+:iam::(?P<account>\d{12}):role(?P<path>/(?:[^/]+/)*)(?P<name>[^/]+)$")


@dataclass(frozen=True)
class RoleName:
    """A role ARN's parts: `arn:aws:iam::ACCOUNT:role/PATH/NAME`."""

    account_id: str
    path: str  #: "/" or "/service-role/"...
    name: str


def parse_role_arn(role_arn: str) -> RoleName | None:
    match = _ROLE_ARN.match(role_arn)
    return RoleName(match["account"], match["path"], match["name"]) if match else None
