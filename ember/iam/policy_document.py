"""Policy documents: parsed and checked as IAM checks them, compiled for evaluation.

`parse_policy(text, kind)` accepts what IAM accepts and refuses the rest with IAM's
`MalformedPolicyDocument` and its words. The checks run in the order IAM's answers show (the
first failing one is the answer):

1. JSON and grammar ("Syntax errors in policy."): an object of `Version`, `Id`, `Statement`; a
   statement, or a non-empty list of them, each an object of `Sid`, `Effect` (Allow/Deny in any
   case), `Action`|`NotAction`, `Resource`|`NotResource`, `Principal`|`NotPrincipal`, `Condition`;
   strings or lists of strings; a `Version` of 2012-10-17 or 2008-10-17.
2. A managed policy must be 2012-10-17 ("Policy document must be version 2012-10-17 or greater.").
3. Legacy parsing ("The policy failed legacy parsing"): `Effect` spelled exactly, date condition
   values in range, resource ARNs with their colons.
4. Unique `Sid`s; where a principal may or must be; actions; resources; then the first malformed
   resource ARN; then actions' service prefixes; a trust policy's `sts:` actions; principals.

Sizes are `quotas.py`'s job. A 2008-10-17 document has no policy variables: `${aws:username}` in
it is literal text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ember.errors import MalformedPolicyDocumentException
from ember.iam.conditions import ConditionBlock, Operator, parse_condition, policy_values
from ember.iam.dates import parse_date
from ember.iam.principals import PrincipalSet, parse_principal
from ember.iam.resources import ActionMatcher, ResourceMatcher

#: the policy language's versions; only the first has policy variables
CURRENT_VERSION = "2012-10-17"
LEGACY_VERSION = "2008-10-17"
VERSIONS = (CURRENT_VERSION, LEGACY_VERSION)

_TOP_LEVEL = frozenset({"Version", "Id", "Statement"})
_STATEMENT = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal",
                        "NotPrincipal", "Condition"})
_EXCLUSIVE = (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal"))
_LISTS = ("Action", "NotAction", "Resource", "NotResource")
_VENDOR = re.compile(r"[^a-zA-Z0-9\-.]")
#: the resource paths an IAM ARN may have, in the order IAM's message lists them
IAM_RESOURCE_PATHS = ("user/", "federated-user/", "role/", "group/", "instance-profile/", "mfa/",
                      "server-certificate/", "policy/", "sms-mfa/", "saml-provider/", "oidc-provider/", "report/",
                      "access-report/")


class PolicyKind(StrEnum):
    """Where a document is used, which decides what it may and must hold."""

    #: CreatePolicy, CreatePolicyVersion: identity-based, Version 2012-10-17 required
    MANAGED = "managed"
    #: PutUserPolicy, PutRolePolicy, PutGroupPolicy: identity-based
    INLINE = "inline"
    #: a resource's policy (a function's, a bucket's, a queue's): names its principals
    RESOURCE = "resource"
    #: a role's trust policy (AssumeRolePolicyDocument): principals and sts: actions, no resources
    TRUST = "trust"

    @property
    def is_identity_based(self) -> bool:
        return self in (PolicyKind.MANAGED, PolicyKind.INLINE)


class Effect(StrEnum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class Statement:
    """One compiled statement."""

    #: its position in the document, from 0
    index: int
    sid: str | None
    effect: Effect
    actions: ActionMatcher
    #: None in a trust policy: its statements are about the role itself
    resources: ResourceMatcher | None
    #: the Principal or NotPrincipal element (None in an identity-based policy)
    principals: PrincipalSet | None
    is_not_principal: bool
    condition: ConditionBlock


@dataclass(frozen=True, slots=True)
class PolicyDocument:
    kind: PolicyKind
    version: str
    statements: tuple[Statement, ...]
    #: what the policy is called where it is kept (a managed policy's ARN, an inline policy's name),
    #: for audit records and decisions
    name: str | None = None
    id: str | None = None

    @property
    def has_variables(self) -> bool:
        return self.version == CURRENT_VERSION


def parse_policy(text: str, kind: PolicyKind, *, name: str | None = None) -> PolicyDocument:
    """Parse and check a policy document; MalformedPolicyDocumentException with IAM's message."""
    document = _load(text)
    raw_statements = _grammar(document)
    version = document.get("Version", LEGACY_VERSION)
    if kind is PolicyKind.MANAGED and version != CURRENT_VERSION:
        raise MalformedPolicyDocumentException("Policy document must be version 2012-10-17 or greater.")
    resource_error = _legacy(raw_statements)
    _check_sids(raw_statements)
    for check in (_check_principal, _check_actions, _check_resources):
        for statement in raw_statements:
            check(statement, kind)
    if resource_error is not None:
        raise MalformedPolicyDocumentException(resource_error)
    for key in ("Action", "NotAction"):
        for statement in raw_statements:
            for action in _entries(statement.get(key)):
                _check_action(action)
    if kind is PolicyKind.TRUST:
        for statement in raw_statements:
            actions = _entries(statement.get("Action", statement.get("NotAction")))
            if not all(action.lower().startswith("sts:") for action in actions):
                raise MalformedPolicyDocumentException("AssumeRole policy may only specify STS AssumeRole actions.")
    has_variables = version == CURRENT_VERSION
    statements = tuple(_compile(index, statement, kind, has_variables)
                       for index, statement in enumerate(raw_statements))
    return PolicyDocument(kind, version, statements, name, document.get("Id"))


def _load(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        raise MalformedPolicyDocumentException("Syntax errors in policy.") from None
    if not isinstance(document, dict):
        raise MalformedPolicyDocumentException("Syntax errors in policy.")
    return document


def _grammar(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements, once the document's shape is one IAM's grammar allows."""
    syntax = MalformedPolicyDocumentException("Syntax errors in policy.")
    if not document.keys() <= _TOP_LEVEL or "Statement" not in document:
        raise syntax
    if "Version" in document and document["Version"] not in VERSIONS:
        raise syntax
    if "Id" in document and not isinstance(document["Id"], str):
        raise syntax
    raw = document["Statement"]
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements:
        raise syntax
    for statement in statements:
        if not isinstance(statement, dict) or not statement.keys() <= _STATEMENT:
            raise syntax
        if any(first in statement and second in statement for first, second in _EXCLUSIVE):
            raise syntax
        effect = statement.get("Effect")
        if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
            raise syntax
        if "Sid" in statement and not isinstance(statement["Sid"], str):
            raise syntax
        for key in _LISTS:
            if key in statement and not _is_strings(statement[key]):
                raise syntax
        if "Condition" in statement:
            parse_condition(statement["Condition"], variables=False)  # its grammar only
    return statements


def _is_strings(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(item, str) for item in value))


def _entries(value: object) -> list[str]:
    """An element's strings (the grammar has made sure they are strings)."""
    if isinstance(value, str):
        return [value]
    return [str(item) for item in value] if isinstance(value, list) else []


def _legacy(statements: list[dict[str, Any]]) -> str | None:
    """Legacy parsing; returns the resource error to answer later, as IAM does."""
    legacy = MalformedPolicyDocumentException("The policy failed legacy parsing")
    for statement in statements:
        if statement["Effect"] not in (Effect.ALLOW, Effect.DENY):  # exactly, here
            raise legacy
        for value in _date_values(statement.get("Condition", {})):
            try:
                parse_date(value)
            except ValueError:
                raise legacy from None
    resource_error: str | None = None
    for key in ("Resource", "NotResource"):
        for statement in statements:
            if key not in statement:
                continue
            value = statement[key]
            for resource in [value] if isinstance(value, str) else sorted(value, reverse=True):
                resource_error = resource_format_error(resource) or resource_error
            if resource_error is None and not all(_legacy_resource(resource) for resource in _entries(value)):
                raise legacy
    return resource_error


def _date_values(condition: dict[str, Any]) -> Iterator[str]:
    for name, block in condition.items():
        operator = Operator.parse(name)
        if operator is not None and operator.base.startswith("Date"):
            for raw in block.values():
                yield from policy_values(raw) or []


def _legacy_resource(resource: str) -> bool:
    if resource == "*":
        return True
    parts = resource.split(":")
    return (resource.count(":") >= 5 or "::" not in resource) and len(parts) > 2 and parts[2] != ""


def resource_format_error(resource: str) -> str | None:
    """IAM's complaint about a `Resource` entry that is not an ARN it takes, or None."""
    if resource == "*":
        return None
    _, has_colon, rest = resource.partition(":")
    if not has_colon:
        return f'Resource {resource} must be in ARN format or "*".'
    partition, has_service, rest = rest.partition(":")
    if partition not in ("aws", "*"):
        parts = rest.split(":")
        service = parts[0] if parts[0] != "" or len(parts) > 1 else "*"
        region = parts[1] if len(parts) > 1 else "*"
        account = parts[2] if len(parts) > 2 else "*"
        name = ":".join(parts[3:]) if len(parts) > 3 else "*"
        arn = f"arn:{partition}:{service}:{region}:{account}:{name}"
        return f'Partition "{partition}" is not valid for resource "{arn}".'
    if not has_service:
        return "Resource vendor must be fully qualified and cannot contain regexes."
    service, _, rest = rest.partition(":")
    if service == "iam" and not rest.startswith(":"):
        return f"IAM resource {resource} cannot contain region information."
    if service == "s3" and not rest.startswith(":"):
        return f"Resource {resource} can not contain region information."
    name = rest.partition(":")[2].partition(":")[2]
    if service == "iam" and name != "*" and not name.startswith(IAM_RESOURCE_PATHS):
        return f'IAM resource path must either be "*" or start with {", ".join(IAM_RESOURCE_PATHS)}.'
    return None


def _check_sids(statements: list[dict[str, Any]]) -> None:
    sids = [statement["Sid"] for statement in statements if statement.get("Sid")]
    if len(sids) != len(set(sids)):
        raise MalformedPolicyDocumentException("Statement IDs (SID) in a single policy must be unique.")


def _check_principal(statement: dict[str, Any], kind: PolicyKind) -> None:
    has_principal = "Principal" in statement or "NotPrincipal" in statement
    if kind.is_identity_based and has_principal:
        raise MalformedPolicyDocumentException("Policy document should not specify a principal.")
    if not kind.is_identity_based and not has_principal:
        raise MalformedPolicyDocumentException("Missing required field Principal")


def _check_actions(statement: dict[str, Any], kind: PolicyKind) -> None:
    if not _entries(statement.get("Action", statement.get("NotAction"))):
        raise MalformedPolicyDocumentException("Policy statement must contain actions.")


def _check_resources(statement: dict[str, Any], kind: PolicyKind) -> None:
    if kind is PolicyKind.TRUST:
        for key in ("Resource", "NotResource"):
            if key in statement:
                raise MalformedPolicyDocumentException(f"Has prohibited field {key}")
    elif not _entries(statement.get("Resource", statement.get("NotResource"))):
        raise MalformedPolicyDocumentException("Policy statement must contain resources.")


def _check_action(action: str) -> None:
    parts = action.split(":")
    if len(parts) == 1 and parts[0] != "*":
        raise MalformedPolicyDocumentException(
            "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
    if len(parts) > 2:
        raise MalformedPolicyDocumentException("Actions/Condition can contain only one colon.")
    if parts[0] != "*" and _VENDOR.search(parts[0]):
        raise MalformedPolicyDocumentException(f"Vendor {parts[0]} is not valid")


def _compile(index: int, statement: dict[str, Any], kind: PolicyKind, has_variables: bool) -> Statement:
    is_not_action = "NotAction" in statement
    actions = ActionMatcher(_entries(statement["NotAction" if is_not_action else "Action"]), negated=is_not_action)
    resources = None
    if kind is not PolicyKind.TRUST:
        is_not_resource = "NotResource" in statement
        entries: Sequence[str] = _entries(statement["NotResource" if is_not_resource else "Resource"])
        resources = ResourceMatcher(entries, negated=is_not_resource, variables=has_variables)
    is_not_principal = "NotPrincipal" in statement
    principals = None
    if not kind.is_identity_based:
        principals = parse_principal(statement["NotPrincipal" if is_not_principal else "Principal"])
    condition = parse_condition(statement.get("Condition", {}), variables=has_variables)
    return Statement(index, statement.get("Sid") or None, Effect(statement["Effect"]), actions, resources,
                     principals, is_not_principal, condition)
