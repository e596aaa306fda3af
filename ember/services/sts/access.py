"""What STS operations act on, for the policy check: AssumeRole acts on the role, guarded by its
trust policy, which must allow the caller on its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ember.iam_store.base import IamStore
from ember.services.base import RequestContext, Target, Targets


def sts_targets(iam: IamStore) -> Targets:
    async def targets(operation: str, params: dict[str, Any], ctx: RequestContext) -> Sequence[Target]:
        if operation != "AssumeRole":
            return ()
        role_arn = str(params["RoleArn"])
        account_id, _, resource = role_arn.removeprefix("arn:aws:iam::").partition(":role/")
        role = await iam.get_role(resource.rsplit("/", 1)[-1]) if account_id == ctx.account_id and resource else None
        return (Target(resource=role_arn, resource_policy=role.trust_policy if role else None, is_trust_policy=True),)

    return targets
