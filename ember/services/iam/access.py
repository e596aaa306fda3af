"""What IAM operations act on, for the policy check: the user, group, role or policy their
parameters name (its ARN without a path: a policy naming `user/*` matches, one naming the path
of a user does not)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ember.services.base import CallerKind, RequestContext, Target, Targets

#: operations whose UserName, when left out, means the caller's own user
_OWN_USER_BY_DEFAULT = frozenset({"GetUser", "CreateAccessKey", "ListAccessKeys", "UpdateAccessKey",
                                  "DeleteAccessKey"})
#: parameter → the ARN resource type it names
_NAMED = (("UserName", "user"), ("GroupName", "group"), ("RoleName", "role"))


def iam_targets() -> Targets:
    async def targets(operation: str, params: dict[str, Any], ctx: RequestContext) -> Sequence[Target]:
        found = [Target(resource=f"arn:aws:iam::{ctx.account_id}:{kind}/{params[parameter]}")
                 for parameter, kind in _NAMED if isinstance(params.get(parameter), str)]
        caller = ctx.caller
        if operation in _OWN_USER_BY_DEFAULT and "UserName" not in params and caller is not None \
                and caller.kind in (CallerKind.USER, CallerKind.USER_SESSION):
            found.append(Target(resource=f"arn:aws:iam::{ctx.account_id}:user/{caller.name}"))
        if isinstance(params.get("PolicyArn"), str):
            found.append(Target(resource=params["PolicyArn"]))
        return found

    return targets
