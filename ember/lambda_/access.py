"""What each Lambda operation acts on, for the policy check: the function (or version, alias,
layer) its parameters name, guarded by the resource policy AddPermission wrote there; creating or
reconfiguring a function also passes its execution role (iam:PassRole), as on AWS."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ember.errors import EmberError
from ember.lambda_.backend import LambdaBackend
from ember.services.base import RequestContext, Target, Targets

#: operations that hand a function its role: the caller must be allowed to pass it
_PASSES_ROLE = frozenset({"CreateFunction", "UpdateFunctionConfiguration"})


def lambda_targets(backend: LambdaBackend) -> Targets:
    async def targets(operation: str, params: dict[str, Any], ctx: RequestContext) -> Sequence[Target]:
        found: list[Target] = []
        name = params.get("FunctionName")
        if isinstance(name, str):
            found.append(await function_target(backend, name, params.get("Qualifier")))
        elif isinstance(params.get("LayerName"), str):
            number = params.get("VersionNumber")
            found.append(Target(resource=backend.home.layer_arn(params["LayerName"].rsplit(":", 1)[-1], number)))
        role = params.get("Role")
        if operation in _PASSES_ROLE and isinstance(role, str):
            found.append(Target(action="iam:PassRole", resource=role))
        return found

    return targets


async def function_target(backend: LambdaBackend, name: str, qualifier: str | None) -> Target:
    """The function (version, alias) a request names, with its resource-based policy."""
    try:
        ref = backend.resolve(name, qualifier)
    except EmberError:
        return Target(resource=None)  # a name Lambda refuses anyway: its handler says why
    shown = ref.qualifier if ref.qualifier not in (None, "$LATEST") else None
    statements: tuple[dict[str, Any], ...] = ()
    if shown is None:
        function = await backend.store.get_function(ref.name)
        statements = function.policy_statements if function is not None else ()
    elif shown.isdigit():
        version = await backend.store.get_version(ref.name, shown)
        statements = version.policy_statements if version is not None else ()
    else:
        alias = await backend.store.get_alias(ref.name, shown)
        statements = alias.policy_statements if alias is not None else ()
    policy = json.dumps({"Version": "2012-10-17", "Id": "default", "Statement": list(statements)}) \
        if statements else None
    return Target(resource=backend.arn(ref.name, shown), resource_policy=policy,
                  keys={"lambda:FunctionArn": backend.arn(ref.name)})
