"""Binding a service's operation handlers to its model by name (DescribeLogGroups → describe_log_groups)."""

from __future__ import annotations

import re
from typing import Any

from botocore.model import ServiceModel

from ember.errors import NotImplementedOperation
from ember.services.base import Handler, RequestContext


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def bind_handlers(model: ServiceModel, groups: list[Any], service_label: str) -> dict[str, Handler]:
    """A handler for every operation of `model`: the first group's method of that name, else one
    answering NotImplementedException that names the operation."""
    handlers: dict[str, Handler] = {}
    for operation_name in model.operation_names:
        method_name = _camel_to_snake(operation_name)
        for group in groups:
            handler = getattr(group, method_name, None)
            if handler is not None:
                handlers[operation_name] = handler
                break
        else:
            handlers[operation_name] = _not_implemented(service_label, operation_name)
    return handlers


def _not_implemented(service_label: str, operation_name: str) -> Handler:
    async def handler(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedOperation(f"Ember does not implement the {service_label} operation {operation_name} yet.")

    return handler
