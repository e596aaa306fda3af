"""Put/GetFunctionRecursionConfig: whether Lambda stops a request chain that keeps invoking the function
(RecursiveLoop=Terminate, the default) or lets it run (Allow). Enforced in ember/lambda_/invoke.py and the
dispatcher; the lineage it counts is ember/invoke/lineage.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ember.errors import ValidationException
from ember.lambda_.backend import LambdaBackend
from ember.lambda_.functions import FunctionOperations
from ember.services.base import RequestContext

RECURSIVE_LOOP_VALUES = ("Allow", "Terminate")


class RecursionOperations:
    def __init__(self, backend: LambdaBackend, functions: FunctionOperations) -> None:
        self.backend = backend
        self.functions = functions

    async def put_function_recursion_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        value = p["RecursiveLoop"]
        if value not in RECURSIVE_LOOP_VALUES:
            raise ValidationException(
                f"1 validation error detected: Value '{value}' at 'recursiveLoop' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(RECURSIVE_LOOP_VALUES)}]"
            )
        await self.backend.get(ref)
        await self.functions.apply_update(ref.name, None, lambda f: replace(f, recursive_loop=value))
        return {"RecursiveLoop": value}

    async def get_function_recursion_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        function = await self.backend.get(self.backend.resolve(p["FunctionName"]))
        return {"RecursiveLoop": function.recursive_loop}
