"""May the caller do it: every operation checked against IAM's policies before its handler runs.

An operation needs the IAM action AWS's catalogue names for it (Invoke needs lambda:InvokeFunction)
on the resource its parameters name; a service says which resource (and which resource-based
policy guards it) through its `targets` hook, else the action is checked on "*". The caller's
identity-based policies are its own inline and attached policies, and its groups' (a user), or
its role's (a role session); a session policy narrows a session further. The account's root may
do anything in its account, as on AWS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

from ember.clock import Clock
from ember.errors import AccessDeniedError, AccessDeniedException, ClientError
from ember.iam.catalog import Catalog
from ember.iam.denial import denial_message
from ember.iam.evaluation import Decision, evaluate
from ember.iam.policy_document import PolicyDocument, PolicyKind, parse_policy
from ember.iam.principals import Caller as Principal
from ember.iam.request import AuthorizationRequest, ContextValue
from ember.iam_store.base import IamStore, OwnerKind
from ember.services.base import Caller, CallerKind, RequestContext, Target

#: every decision: denials as warnings, allows at debug level (`--log-level debug` shows them)
audit = logging.getLogger("ember.audit")
#: services whose API answers a denial with AccessDenied (query); the others AccessDeniedException
_QUERY_SERVICES = frozenset({"iam", "sts"})
#: operations AWS never refuses on policy: any signed caller may ask who it is
_ALWAYS_ALLOWED = frozenset({("sts", "GetCallerIdentity"), ("sts", "GetSessionToken")})
#: callers whose policies are kept between requests (past it the cache starts over)
_CACHED_CALLERS = 10_000
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
        #: (caller kind, its source or name, its user id) → (the IAM store's generation when read, its policies)
        self._policies: dict[tuple[CallerKind, str, str], tuple[int, list[PolicyDocument]]] = {}

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
        """Raise the service's access denied error unless every target is allowed. Every decision
        goes to the `ember.audit` log: denials as warnings (always shown), allows at debug level."""
        if not self.enforce or caller.kind is CallerKind.ROOT or (signing_name, operation) in _ALWAYS_ALLOWED:
            return
        own_action = self.action_of(signing_name, operation_names, operation)
        policies = await self.identity_policies(caller)
        for target in targets or (Target(),):
            request, decision = self.decide(caller, policies, target, own_action, ctx.region)
            if not decision.allowed:
                message = denial_message(request, decision)
                audit.warning("DENY %s %s on %s (%s) request %s", caller.arn, request.action, request.resource,
                              decision.outcome, ctx.request_id)
                raise _denied(signing_name, message)
            audit.debug("ALLOW %s %s on %s request %s", caller.arn, request.action, request.resource,
                        ctx.request_id)

    def decide(self, caller: Caller, policies: Sequence[PolicyDocument], target: Target, default_action: str,
               region: str, keys: Mapping[str, ContextValue] | None = None) -> tuple[AuthorizationRequest, Decision]:
        """The decision on one target for `caller`, whose identity-based policies are `policies`; a
        session policy narrows it further. `keys` adds context keys (SimulatePrincipalPolicy's)."""
        # An action on no particular resource is asked of "*", which is what AWS names in its denial.
        request = AuthorizationRequest.build(principal_of(caller), target.action or default_action,
                                             target.resource or "*", clock=self.clock, region=region,
                                             secure_transport=False, keys={**target.keys, **(keys or {})})
        resource_policy = None
        if target.resource_policy:
            kind = PolicyKind.TRUST if target.is_trust_policy else PolicyKind.RESOURCE
            resource_policy = _parsed(target.resource_policy, kind, None)
        # A trust policy must allow on its own, even where there is none (a role that does not exist).
        decision = evaluate(request, policies, resource_policy,
                            resource_policy_required=True if target.is_trust_policy else None)
        if decision.allowed and caller.session_policy:
            session_policy = _parsed(caller.session_policy, PolicyKind.INLINE, "session policy")
            decision = evaluate(request, (session_policy,), resource_policy)
        return request, decision

    def allows_anyone(self, target: Target, region: str) -> bool:
        """Whether the target's resource-based policy allows its action to anyone at all (an
        unsigned request: a function URL of AuthType NONE). Open mode allows everything."""
        if not self.enforce:
            return True
        assert target.action is not None and target.resource is not None
        request = AuthorizationRequest.build(Principal.anonymous(), target.action, target.resource, clock=self.clock,
                                             region=region, secure_transport=False, keys=dict(target.keys))
        policy = _parsed(target.resource_policy, PolicyKind.RESOURCE, None) if target.resource_policy else None
        decision = evaluate(request, (), policy)
        outcome = "ALLOW" if decision.allowed else "DENY"
        audit.log(logging.DEBUG if decision.allowed else logging.WARNING, "%s anonymous %s on %s (%s)", outcome,
                  target.action, target.resource, decision.outcome)
        return decision.allowed

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
        """The identity-based policies in force for the caller, parsed; read from the IAM store once
        per change of it (its generation), not on every request."""
        key = (caller.kind, (caller.source_arn or caller.name).lower(), caller.user_id)
        cached = self._policies.get(key)
        if cached is not None and cached[0] == self.iam.generation:
            return cached[1]
        generation = self.iam.generation  # before reading: a write meanwhile makes the entry stale
        documents = await self._read_identity_policies(caller)
        if len(self._policies) >= _CACHED_CALLERS:
            self._policies.clear()
        self._policies[key] = (generation, documents)
        return documents

    async def _read_identity_policies(self, caller: Caller) -> list[PolicyDocument]:
        owners: list[tuple[OwnerKind, str]] = []
        if caller.kind in (CallerKind.USER, CallerKind.USER_SESSION):
            owners.append((OwnerKind.USER, caller.name))
            owners += [(OwnerKind.GROUP, group.name) for group in await self.iam.groups_of_user(caller.name)]
        elif caller.kind is CallerKind.ROLE_SESSION:
            role = await self.iam.get_role(caller.name)
            # Only the role the session was issued for: its ARN (account, path) and its id, so neither
            # another account's role of that name nor one deleted and made again lends its policies.
            if role is not None and role.arn == caller.source_arn and caller.user_id.split(":", 1)[0] == role.role_id:
                owners.append((OwnerKind.ROLE, role.name))
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
