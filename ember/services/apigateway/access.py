"""What API Gateway operations act on, for the policy check. API Gateway's own IAM model: the
action is the request's HTTP verb (`apigateway:GET`, `apigateway:POST`...) and the resource is
the request's path in an ARN with no account, `arn:aws:apigateway:REGION::/restapis/ID/...`; a
policy granting `apigateway:GET` on `.../restapis/*` lets its holder read every REST API."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from botocore.model import ServiceModel

from ember.services.base import RequestContext, Target, Targets

_LABEL = re.compile(r"\{([A-Za-z0-9_]+)\+?\}")


def apigateway_targets(model: ServiceModel) -> Targets:
    #: operation → (HTTP verb, its requestUri's path, URI label → the parameter it carries)
    routes: dict[str, tuple[str, str, dict[str, str]]] = {}
    for name in model.operation_names:
        operation = model.operation_model(name)
        members = operation.input_shape.members if operation.input_shape is not None else {}
        labels = {member.serialization.get("name", member_name): member_name for member_name, member in members.items()
                  if member.serialization.get("location") == "uri"}
        routes[name] = (operation.http["method"], operation.http["requestUri"].partition("?")[0], labels)

    async def targets(operation: str, params: dict[str, Any], ctx: RequestContext) -> Sequence[Target]:
        verb, path, labels = routes[operation]
        # A label the request lacks cannot happen once parsed (they are required); "*" keeps it safe.
        resource = _LABEL.sub(lambda label: str(params.get(labels.get(label.group(1), ""), "*")), path)
        return [Target(action=f"apigateway:{verb}", resource=f"arn:aws:apigateway:{ctx.region}::{resource}")]

    return targets
