"""What STS operations act on, for the policy check: AssumeRole acts on the role, guarded by its
trust policy, which must allow the caller on its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ember.arns import parse_role_arn
from ember.iam_store.base import IamStore
from ember.services.base import RequestContext, Target, Targets


def sts_targets(iam: IamStore) -> Targets:
    async def targets(operation: str, params: dict[str, Any], ctx: RequestContext) -> Sequence[Target]:
        if operation != "AssumeRole":
            return ()
        role_arn = str(params["RoleArn"])
        parsed = parse_role_arn(role_arn)
        role = await iam.get_role(parsed.name) if parsed is not None and parsed.account_id == ctx.account_id else None
        return (Target(resource=role_arn, resource_policy=role.trust_policy if role else None, is_trust_policy=True),)

    return targets
