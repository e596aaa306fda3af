"""Deciding a request against its policies, as the IAM User Guide's "Policy evaluation logic" says.

1. An explicit `Deny` in any applicable statement (identity-based or resource-based) decides: the
   request is denied, whatever allows it elsewhere and in whatever order the policies come.
2. Otherwise the request is allowed when:
   - the caller and the resource are in the same account, and an identity-based policy allows,
     or the resource's policy allows naming the caller itself (its user, role, session, service,
     or `*`). A resource policy that names only the caller's account delegates to the account:
     its identity-based policies must then allow;
   - the resource is in another account: an identity-based policy allows and the resource's
     policy allows the caller (itself or its account);
   - the caller is a service or anonymous: the resource's policy allows it.
   A role's trust policy (and any policy passed `resource_policy_required=True`) must allow in
   every case: an identity-based allow alone does not let a caller assume a role.
3. Otherwise it is implicitly denied.

A statement applies when its action, resource, principal (resource-based policies) and condition
all match. A policy variable with no value in the request makes a condition (or a `NotResource`)
unable to match: its statement does not apply.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ember.iam.conditions import UnresolvedVariable
from ember.iam.policy_document import Effect, PolicyDocument, PolicyKind, Statement
from ember.iam.principals import PrincipalMatch
from ember.iam.request import AuthorizationRequest


class PolicyType(StrEnum):
    """The kind of policy a decision names, in the words of AWS's access denied messages."""

    IDENTITY = "identity-based"
    RESOURCE = "resource-based"
    TRUST = "role trust"


class Outcome(StrEnum):
    #: an applicable statement allowed, and none denied
    ALLOWED = "Allowed"
    #: an applicable statement denied
    EXPLICIT_DENY = "ExplicitDeny"
    #: nothing allowed (IAM's default)
    IMPLICIT_DENY = "ImplicitDeny"


@dataclass(frozen=True, slots=True)
class StatementRef:
    """Which statement of which policy, for audit records and messages."""

    policy_type: PolicyType
    policy_name: str | None
    index: int
    sid: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    #: the deny that decided; or the allows that granted (identity-based first)
    statements: tuple[StatementRef, ...] = ()
    #: the type of policy a denial message names: the one that denied, or the one with no allow
    policy_type: PolicyType | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOWED

    @property
    def explicit_deny(self) -> bool:
        return self.outcome is Outcome.EXPLICIT_DENY

    @property
    def statement(self) -> StatementRef | None:
        """The statement that decided: the deny, or the first allow."""
        return self.statements[0] if self.statements else None


def evaluate(request: AuthorizationRequest, identity_policies: Sequence[PolicyDocument] = (),
             resource_policy: PolicyDocument | None = None, *,
             resource_policy_required: bool | None = None) -> Decision:
    """Decide `request` against the caller's identity-based policies and the resource's policy."""
    resource_type = PolicyType.TRUST if resource_policy is not None and resource_policy.kind is PolicyKind.TRUST \
        else PolicyType.RESOURCE
    if resource_policy_required is None:
        resource_policy_required = resource_type is PolicyType.TRUST

    identity_allow: StatementRef | None = None
    for policy in identity_policies:
        for statement in _applicable(request, policy):
            ref = StatementRef(PolicyType.IDENTITY, policy.name, statement.index, statement.sid)
            if statement.effect is Effect.DENY:
                return Decision(Outcome.EXPLICIT_DENY, (ref,), PolicyType.IDENTITY)
            identity_allow = identity_allow or ref

    resource_allow: StatementRef | None = None
    resource_level = PrincipalMatch.NONE
    if resource_policy is not None:
        for statement in _applicable(request, resource_policy):
            level = _principal_match(statement, request)
            if level is PrincipalMatch.NONE:
                continue
            ref = StatementRef(resource_type, resource_policy.name, statement.index, statement.sid)
            if statement.effect is Effect.DENY:
                return Decision(Outcome.EXPLICIT_DENY, (ref,), resource_type)
            if level.value > resource_level.value:
                resource_allow, resource_level = ref, level

    caller_account = request.caller.account_id
    same_account = caller_account is not None and caller_account == request.owner_account
    if caller_account is None:
        granted = resource_level is PrincipalMatch.DIRECT
        missing = resource_type
    elif same_account:
        resource_ok = resource_level is not PrincipalMatch.NONE or not resource_policy_required
        granted = resource_level is PrincipalMatch.DIRECT or (identity_allow is not None and resource_ok)
        missing = resource_type if resource_policy_required and resource_level is PrincipalMatch.NONE \
            else PolicyType.IDENTITY
    else:
        granted = identity_allow is not None and resource_level is not PrincipalMatch.NONE
        missing = PolicyType.IDENTITY if identity_allow is None else resource_type
    if granted:
        refs = tuple(ref for ref in (identity_allow, resource_allow) if ref is not None)
        return Decision(Outcome.ALLOWED, refs)
    return Decision(Outcome.IMPLICIT_DENY, (), missing)


def _applicable(request: AuthorizationRequest, policy: PolicyDocument) -> Iterator[Statement]:
    """The policy's statements whose action, resource and condition match the request."""
    action, resource, lookup = request.action, request.resource_text, request.lookup
    for statement in policy.statements:
        if not statement.actions.matches(action):
            continue
        try:
            if statement.resources is not None and not statement.resources.matches(resource, lookup):
                continue
            if statement.condition.clauses and not statement.condition.matches(request.context, lookup):
                continue
        except UnresolvedVariable:
            continue
        yield statement


def _principal_match(statement: Statement, request: AuthorizationRequest) -> PrincipalMatch:
    principals = statement.principals
    if principals is None:
        return PrincipalMatch.NONE
    if statement.is_not_principal:
        return PrincipalMatch.NONE if principals.excludes(request.caller) else PrincipalMatch.DIRECT
    return principals.match(request.caller)
