"""IAM's inline policies, managed policies with their versions, and attachments."""

from __future__ import annotations

from typing import Any

from ember.clock import Clock
from ember.errors import NoSuchEntityException
from ember.iam.evaluation import Outcome
from ember.iam.policy_document import PolicyKind, parse_policy
from ember.iam.quotas import InlineOwner, check_inline_policies_size, check_managed_policy_size
from ember.iam_store.base import IamStore, ManagedPolicy, OwnerKind, PolicyVersion
from ember.services.authorization import Authorizer
from ember.services.base import Caller, CallerKind, RequestContext, Target
from ember.services.iam import wire
from ember.services.iam.identities import iso_now, unique_id

#: the model's parameter naming each kind of owner, and the quota its inline policies share
_OWNERS = {
    OwnerKind.USER: ("UserName", InlineOwner.USER),
    OwnerKind.GROUP: ("GroupName", InlineOwner.GROUP),
    OwnerKind.ROLE: ("RoleName", InlineOwner.ROLE),
}


def _check_managed_policy(text: str) -> None:
    parse_policy(text, PolicyKind.MANAGED)
    check_managed_policy_size(text)


class PolicyOperations:
    """Put/Get/List/Delete{User,Group,Role}Policy, the managed policy operations and
    Attach/Detach/ListAttached: bound by name to the IAM model's operations."""

    def __init__(self, store: IamStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    # Inline policies, one implementation per verb over the three kinds of owner -----------

    async def _owner_name(self, kind: OwnerKind, name: str) -> str:
        found = await {OwnerKind.USER: self.store.get_user, OwnerKind.GROUP: self.store.get_group,
                       OwnerKind.ROLE: self.store.get_role}[kind](name)
        if found is None:
            raise wire.no_such_entity(str(kind), name)
        return found.name

    async def _put_inline(self, kind: OwnerKind, p: dict[str, Any]) -> dict[str, Any]:
        parameter, quota = _OWNERS[kind]
        parse_policy(p["PolicyDocument"], PolicyKind.INLINE, name=p["PolicyName"])
        owner = await self._owner_name(kind, p[parameter])
        # The quota is on all of the owner's inline policies together, this one as it will be.
        others = [await self.store.get_inline_policy(kind, owner, name)
                  for name in await self.store.list_inline_policies(kind, owner) if name != p["PolicyName"]]
        check_inline_policies_size(quota, owner, [p["PolicyDocument"], *(text for text in others if text)])
        await self.store.put_inline_policy(kind, owner, p["PolicyName"], p["PolicyDocument"])
        return {}

    async def _get_inline(self, kind: OwnerKind, p: dict[str, Any]) -> dict[str, Any]:
        parameter, _ = _OWNERS[kind]
        owner = await self._owner_name(kind, p[parameter])
        document = await self.store.get_inline_policy(kind, owner, p["PolicyName"])
        if document is None:
            raise NoSuchEntityException(f"The {kind} policy with name {p['PolicyName']} cannot be found.")
        return {parameter: owner, "PolicyName": p["PolicyName"], "PolicyDocument": wire.policy_text(document)}

    async def _list_inline(self, kind: OwnerKind, p: dict[str, Any]) -> dict[str, Any]:
        parameter, _ = _OWNERS[kind]
        names = await self.store.list_inline_policies(kind, await self._owner_name(kind, p[parameter]))
        return wire.page_by_position(names, p, "PolicyNames", str)

    async def _delete_inline(self, kind: OwnerKind, p: dict[str, Any]) -> dict[str, Any]:
        parameter, _ = _OWNERS[kind]
        owner = await self._owner_name(kind, p[parameter])
        if not await self.store.delete_inline_policy(kind, owner, p["PolicyName"]):
            raise NoSuchEntityException(f"The {kind} policy with name {p['PolicyName']} cannot be found.")
        return {}

    async def put_user_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._put_inline(OwnerKind.USER, p)

    async def put_group_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._put_inline(OwnerKind.GROUP, p)

    async def put_role_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._put_inline(OwnerKind.ROLE, p)

    async def get_user_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._get_inline(OwnerKind.USER, p)

    async def get_group_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._get_inline(OwnerKind.GROUP, p)

    async def get_role_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._get_inline(OwnerKind.ROLE, p)

    async def list_user_policies(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._list_inline(OwnerKind.USER, p)

    async def list_group_policies(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._list_inline(OwnerKind.GROUP, p)

    async def list_role_policies(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._list_inline(OwnerKind.ROLE, p)

    async def delete_user_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._delete_inline(OwnerKind.USER, p)

    async def delete_group_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._delete_inline(OwnerKind.GROUP, p)

    async def delete_role_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._delete_inline(OwnerKind.ROLE, p)

    # Managed policies ---------------------------------------------------------------------

    async def _managed(self, arn: str) -> ManagedPolicy:
        found = await self.store.get_managed_policy(arn)
        if found is None:
            raise NoSuchEntityException(f"Policy {arn} does not exist or is not attachable.")
        return found

    async def create_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        _check_managed_policy(p["PolicyDocument"])
        path, now = p.get("Path", "/"), iso_now(self.clock)
        created = ManagedPolicy(p["PolicyName"], unique_id("ANPA"), path,
                                f"arn:aws:iam::{ctx.account_id}:policy{path}{p['PolicyName']}", "v1", now, now,
                                p.get("Description", ""))
        await self.store.create_managed_policy(created, PolicyVersion("v1", p["PolicyDocument"], now))
        return {"Policy": wire.managed_policy(created)}

    async def get_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return {"Policy": wire.managed_policy(await self._managed(p["PolicyArn"]))}

    async def list_policies(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        limit = wire.max_items(p)
        if p.get("Scope") == "AWS":
            policies: list[ManagedPolicy] = []  # Ember holds no AWS-managed policies
        else:
            policies = await self.store.list_managed_policies(p.get("PathPrefix", "/"), bool(p.get("OnlyAttached")),
                                                              wire.after_marker(p.get("Marker")), limit + 1)
        return wire.page(policies, limit, lambda policy: policy.name, "Policies", wire.managed_policy)

    async def delete_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.delete_managed_policy(p["PolicyArn"]):
            raise NoSuchEntityException(f"Policy {p['PolicyArn']} does not exist or is not attachable.")
        return {}

    async def create_policy_version(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        _check_managed_policy(p["PolicyDocument"])
        now = iso_now(self.clock)
        is_default = bool(p.get("SetAsDefault", False))
        version_id = await self.store.add_policy_version(p["PolicyArn"], PolicyVersion("", p["PolicyDocument"], now),
                                                         is_default)
        return {"PolicyVersion": wire.policy_version(PolicyVersion(version_id, p["PolicyDocument"], now, is_default),
                                                     with_document=False)}

    async def get_policy_version(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self._managed(p["PolicyArn"])
        version = await self.store.get_policy_version(p["PolicyArn"], p["VersionId"])
        if version is None:
            raise NoSuchEntityException(f"Policy {p['PolicyArn']} version {p['VersionId']} does not exist or is "
                                        "not attachable.")
        return {"PolicyVersion": wire.policy_version(version)}

    async def list_policy_versions(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self._managed(p["PolicyArn"])
        versions = await self.store.list_policy_versions(p["PolicyArn"])
        return wire.page_by_position(versions, p, "Versions", lambda v: wire.policy_version(v, with_document=False))

    async def set_default_policy_version(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.set_default_policy_version(p["PolicyArn"], p["VersionId"]):
            raise NoSuchEntityException(f"Policy {p['PolicyArn']} version {p['VersionId']} does not exist or is "
                                        "not attachable.")
        return {}

    async def delete_policy_version(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self._managed(p["PolicyArn"])
        if not await self.store.delete_policy_version(p["PolicyArn"], p["VersionId"]):
            raise NoSuchEntityException(f"Policy {p['PolicyArn']} version {p['VersionId']} does not exist or is "
                                        "not attachable.")
        return {}

    # Attachments --------------------------------------------------------------------------

    async def _attach(self, kind: OwnerKind, p: dict[str, Any]) -> dict[str, Any]:
        parameter, _ = _OWNERS[kind]
        await self.store.attach_policy(kind, p[parameter], p["PolicyArn"])
        return {}

    async def _detach(self, kind: OwnerKind, p: dict[str, Any]) -> dict[str, Any]:
        parameter, _ = _OWNERS[kind]
        owner = await self._owner_name(kind, p[parameter])
        if not await self.store.detach_policy(kind, owner, p["PolicyArn"]):
            raise NoSuchEntityException(f"Policy {p['PolicyArn']} was not found.")
        return {}

    async def _list_attached(self, kind: OwnerKind, p: dict[str, Any]) -> dict[str, Any]:
        parameter, _ = _OWNERS[kind]
        prefix = p.get("PathPrefix", "/")
        owner = await self._owner_name(kind, p[parameter])
        attached = [policy for policy in await self.store.attached_policies(kind, owner)
                    if policy.path.startswith(prefix)]
        return wire.page_by_position(attached, p, "AttachedPolicies", lambda policy: {"PolicyName": policy.name,
                                                                         "PolicyArn": policy.arn})

    async def attach_user_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._attach(OwnerKind.USER, p)

    async def attach_group_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._attach(OwnerKind.GROUP, p)

    async def attach_role_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._attach(OwnerKind.ROLE, p)

    async def detach_user_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._detach(OwnerKind.USER, p)

    async def detach_group_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._detach(OwnerKind.GROUP, p)

    async def detach_role_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._detach(OwnerKind.ROLE, p)

    async def list_attached_user_policies(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._list_attached(OwnerKind.USER, p)

    async def list_attached_group_policies(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._list_attached(OwnerKind.GROUP, p)

    async def list_attached_role_policies(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return await self._list_attached(OwnerKind.ROLE, p)

    async def list_entities_for_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        await self._managed(p["PolicyArn"])
        entity_filter = p.get("EntityFilter")
        result: dict[str, Any] = {"PolicyGroups": [], "PolicyUsers": [], "PolicyRoles": [], "IsTruncated": False}
        for kind, owner in await self.store.policy_attachments(p["PolicyArn"]):
            if entity_filter not in (None, "LocalManagedPolicy", "AWSManagedPolicy") and \
                    entity_filter.lower() != str(kind):
                continue
            if kind is OwnerKind.USER and (found_user := await self.store.get_user(owner)):
                result["PolicyUsers"].append({"UserName": found_user.name, "UserId": found_user.user_id})
            elif kind is OwnerKind.GROUP and (found_group := await self.store.get_group(owner)):
                result["PolicyGroups"].append({"GroupName": found_group.name, "GroupId": found_group.group_id})
            elif kind is OwnerKind.ROLE and (found_role := await self.store.get_role(owner)):
                result["PolicyRoles"].append({"RoleName": found_role.name, "RoleId": found_role.role_id})
        return result


class SimulationOperations:
    """SimulatePrincipalPolicy: what a user's or role's policies decide, for debugging them."""

    def __init__(self, store: IamStore, authorizer: Authorizer) -> None:
        self.store = store
        self.authorizer = authorizer

    async def _simulated(self, arn: str, account_id: str) -> tuple[Caller, dict[str, str]]:
        """The caller `arn` names (a user, or a session of a role) and the type of each of its policies."""
        kind, _, name = arn.partition(f"arn:aws:iam::{account_id}:")[2].partition("/")
        name = name.rsplit("/", 1)[-1]
        if kind == "user" and (user := await self.store.get_user(name)) is not None:
            caller = Caller(CallerKind.USER, user.arn, account_id, user.user_id, user.name)
            owners = [(OwnerKind.USER, user.name)] + [(OwnerKind.GROUP, g.name)
                                                      for g in await self.store.groups_of_user(user.name)]
        elif kind == "role" and (role := await self.store.get_role(name)) is not None:
            caller = Caller(CallerKind.ROLE_SESSION, f"arn:aws:sts::{account_id}:assumed-role/{role.name}/simulation",
                            account_id, f"{role.role_id}:simulation", role.name, source_arn=role.arn)
            owners = [(OwnerKind.ROLE, role.name)]
        else:
            raise NoSuchEntityException(f"The user or role {arn} cannot be found: Ember simulates the policies of "
                                        "its users and roles.")
        sources: dict[str, str] = {}
        for owner_kind, owner in owners:
            for policy_name in await self.store.list_inline_policies(owner_kind, owner):
                sources[policy_name] = str(owner_kind)
            for attached in await self.store.attached_policies(owner_kind, owner):
                sources[attached.name] = "user-managed"
        return caller, sources

    async def simulate_principal_policy(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        caller, sources = await self._simulated(p["PolicySourceArn"], ctx.account_id)
        policies = list(await self.authorizer.identity_policies(caller))
        for number, text in enumerate(p.get("PolicyInputList", []), start=1):
            name = f"PolicyInputList.{number}"
            policies.append(parse_policy(text, PolicyKind.INLINE, name=name))
            sources[name] = "none"
        keys = {entry["ContextKeyName"]: tuple(entry.get("ContextKeyValues", []))
                for entry in p.get("ContextEntries", [])}
        results = []
        for action in p["ActionNames"]:
            for resource in p.get("ResourceArns") or ["*"]:
                _, decision = self.authorizer.decide(
                    caller, policies, Target(action=action, resource=resource, resource_policy=p.get("ResourcePolicy")),
                    action, ctx.region, keys)
                results.append({
                    "EvalActionName": action, "EvalResourceName": resource,
                    "EvalDecision": _DECISIONS[decision.outcome],
                    "MatchedStatements": [{"SourcePolicyId": ref.policy_name or "ResourcePolicy",
                                           "SourcePolicyType": sources.get(ref.policy_name or "", "resource")}
                                          for ref in decision.statements],
                    "MissingContextValues": [],
                })
        return wire.page_by_position(results, p, "EvaluationResults", lambda result: result)


#: the evaluation's outcome as SimulatePrincipalPolicy writes it
_DECISIONS = {Outcome.ALLOWED: "allowed", Outcome.EXPLICIT_DENY: "explicitDeny", Outcome.IMPLICIT_DENY: "implicitDeny"}
