"""Put/GetFunctionRecursionConfig: whether Lambda stops a request chain that keeps invoking the function
(RecursiveLoop=Terminate, the default) or lets it run (Allow). Enforced in ember/lambda_/invoke.py and the
dispatcher; the lineage it counts is ember/invoke/lineage.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ember.lambda_.backend import LambdaBackend
from ember.lambda_.functions import FunctionOperations
from ember.services.base import RequestContext


class RecursionOperations:
    def __init__(self, backend: LambdaBackend, functions: FunctionOperations) -> None:
        self.backend = backend
        self.functions = functions

    async def put_function_recursion_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        ref = self.backend.resolve(p["FunctionName"])
        value = p["RecursiveLoop"]  # Allow or Terminate: the model's enum, checked by the protocol layer
        await self.backend.get(ref)
        await self.functions.apply_update(ref.name, None, lambda f: replace(f, recursive_loop=value))
        return {"RecursiveLoop": value}

    async def get_function_recursion_config(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        function = await self.backend.get(self.backend.resolve(p["FunctionName"]))
        return {"RecursiveLoop": function.recursive_loop}
