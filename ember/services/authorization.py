"""May the caller do it: every operation checked against IAM's policies before its handler runs.

An operation needs the IAM action AWS's catalogue names for it (Invoke needs lambda:InvokeFunction)
on the resource its parameters name; a service says which resource (and which resource-based
policy guards it) through its `targets` hook, else the action is checked on "*". The caller's
identity-based policies are its own inline and attached policies, and its groups' (a user), or
its role's (a role session); a session policy narrows a session further. The account's root may
do anything in its account, as on AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from ember.clock import Clock
from ember.errors import AccessDeniedError, AccessDeniedException, ClientError
from ember.iam.catalog import Catalog
from ember.iam.denial import denial_message
from ember.iam.evaluation import evaluate
from ember.iam.policy_document import PolicyDocument, PolicyKind, parse_policy
from ember.iam.principals import Caller as Principal
from ember.iam.request import AuthorizationRequest
from ember.iam_store.base import IamStore, OwnerKind
from ember.services.base import Caller, CallerKind, RequestContext, Target

#: services whose API answers a denial with AccessDenied (query); the others AccessDeniedException
_QUERY_SERVICES = frozenset({"iam", "sts"})
#: operations AWS never refuses on policy: any signed caller may ask who it is
_ALWAYS_ALLOWED = frozenset({("sts", "GetCallerIdentity"), ("sts", "GetSessionToken")})
#: parsed policy documents kept, by text and kind (the same few documents are read on every request)
_PARSED_POLICIES = 4096


@lru_cache(maxsize=_PARSED_POLICIES)
def _parsed(text: str, kind: PolicyKind, name: str | None) -> PolicyDocument:
    return parse_policy(text, kind, name=name)


def principal_of(caller: Caller) -> Principal:
    """The caller as policies match it."""
    role_arn = caller.source_arn if caller.kind is CallerKind.ROLE_SESSION else None
    return Principal.from_arn(caller.arn, user_id=caller.user_id, role_arn=role_arn)


class Authorizer:
    """Decides each request in iam mode (open mode decides nothing: everything is allowed)."""

    def __init__(self, enforce: bool, iam: IamStore, catalog: Callable[[], Catalog], clock: Clock) -> None:
        self.enforce = enforce
        self.iam = iam
        self._catalog = catalog
        self.clock = clock
        self._prefixes: dict[str, str] = {}

    def action_of(self, signing_name: str, operation_names: Sequence[str], operation: str) -> str:
        """The IAM action an operation needs; `prefix:Operation` where the catalogue names none."""
        catalog = self._catalog()
        prefix = self._prefixes.get(signing_name)
        if prefix is None:
            prefix = catalog.prefix_for(signing_name, operation_names) or signing_name
            self._prefixes[signing_name] = prefix
        return catalog.action_for_operation(prefix, operation) or f"{prefix}:{operation}"

    async def authorize(self, caller: Caller, signing_name: str, operation_names: Sequence[str], operation: str,
                        targets: Sequence[Target], ctx: RequestContext) -> None:
        """Raise the service's access denied error unless every target is allowed."""
        if not self.enforce or caller.kind is CallerKind.ROOT or (signing_name, operation) in _ALWAYS_ALLOWED:
            return
        own_action = self.action_of(signing_name, operation_names, operation)
        policies = await self.identity_policies(caller)
        session_policy = _parsed(caller.session_policy, PolicyKind.INLINE, "session policy") \
            if caller.session_policy else None
        principal = principal_of(caller)
        for target in targets or (Target(),):
            # An action on no particular resource is asked of "*", which is what AWS names in its denial.
            request = AuthorizationRequest.build(principal, target.action or own_action, target.resource or "*",
                                                 clock=self.clock, region=ctx.region, secure_transport=False,
                                                 keys=target.keys)
            resource_policy = None
            if target.resource_policy:
                kind = PolicyKind.TRUST if target.is_trust_policy else PolicyKind.RESOURCE
                resource_policy = _parsed(target.resource_policy, kind, None)
            # A trust policy must allow on its own, even where there is none (a role that does not exist).
            decision = evaluate(request, policies, resource_policy,
                                resource_policy_required=True if target.is_trust_policy else None)
            if decision.allowed and session_policy is not None:
                decision = evaluate(request, (session_policy,), resource_policy)
            if not decision.allowed:
                raise _denied(signing_name, denial_message(request, decision))

    async def allows(self, caller: Caller, action: str, region: str, resource: str = "*") -> bool:
        """Whether the caller's identity-based policies (and session policy) allow `action` on
        `resource`; for Ember's own endpoints, which name the action they stand for."""
        if not self.enforce or caller.kind is CallerKind.ROOT:
            return True
        request = AuthorizationRequest.build(principal_of(caller), action, resource, clock=self.clock, region=region,
                                             secure_transport=False)
        decision = evaluate(request, await self.identity_policies(caller))
        if decision.allowed and caller.session_policy:
            decision = evaluate(request, (_parsed(caller.session_policy, PolicyKind.INLINE, "session policy"),))
        return decision.allowed

    async def identity_policies(self, caller: Caller) -> list[PolicyDocument]:
        """The identity-based policies in force for the caller, parsed."""
        owners: list[tuple[OwnerKind, str]] = []
        if caller.kind in (CallerKind.USER, CallerKind.USER_SESSION):
            owners.append((OwnerKind.USER, caller.name))
            owners += [(OwnerKind.GROUP, group.name) for group in await self.iam.groups_of_user(caller.name)]
        elif caller.kind is CallerKind.ROLE_SESSION:
            owners.append((OwnerKind.ROLE, caller.name))
        documents: list[PolicyDocument] = []
        for kind, owner in owners:
            for name in await self.iam.list_inline_policies(kind, owner):
                text = await self.iam.get_inline_policy(kind, owner, name)
                if text is not None:
                    documents.append(_parsed(text, PolicyKind.INLINE, name))
            for attached in await self.iam.attached_policies(kind, owner):
                version = await self.iam.get_policy_version(attached.arn, attached.default_version_id)
                if version is not None:
                    documents.append(_parsed(version.document, PolicyKind.MANAGED, attached.name))
        return documents


def _denied(signing_name: str, message: str) -> ClientError:
    return AccessDeniedError(message) if signing_name in _QUERY_SERVICES else AccessDeniedException(message)
