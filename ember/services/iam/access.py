"""What IAM operations act on, for the policy check: the user, group, role or policy their
parameters name, by its ARN with its path (`arn:aws:iam::ACCOUNT:user/division/alice`), as AWS
checks it; one that does not exist (yet: CreateUser) by the ARN its parameters would give it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ember.iam_store.base import Group, IamStore, Role, User
from ember.services.base import CallerKind, RequestContext, Target, Targets

#: operations whose UserName, when left out, means the caller's own user
_OWN_USER_BY_DEFAULT = frozenset({"GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey",
                                  "DeleteAccessKey"})


def iam_targets(store: IamStore) -> Targets:
    #: parameter → the ARN resource type it names and how the store finds one
    named: tuple[tuple[str, str, Callable[[str], Awaitable[User | Group | Role | None]]], ...] = (
        ("UserName", "user", store.get_user), ("GroupName", "group", store.get_group),
        ("RoleName", "role", store.get_role))

    async def arn_of(kind: str, name: str, find: Callable[[str], Awaitable[User | Group | Role | None]],
                     params: dict[str, Any], ctx: RequestContext) -> str:
        found = await find(name)
        if found is not None:
            return found.arn
        return f"arn:aws:iam::{ctx.account_id}:{kind}{params.get('Path', '/')}{name}"

    async def targets(operation: str, params: dict[str, Any], ctx: RequestContext) -> Sequence[Target]:
        found = [Target(resource=await arn_of(kind, params[parameter], find, params, ctx))
                 for parameter, kind, find in named if isinstance(params.get(parameter), str)]
        caller = ctx.caller
        if operation in _OWN_USER_BY_DEFAULT and "UserName" not in params and caller is not None \
                and caller.kind in (CallerKind.USER, CallerKind.USER_SESSION):
            found.append(Target(resource=caller.arn if caller.kind is CallerKind.USER
                                else await arn_of("user", caller.name, store.get_user, {}, ctx)))
        if isinstance(params.get("PolicyArn"), str):
            found.append(Target(resource=params["PolicyArn"]))
        return found

    return targets
