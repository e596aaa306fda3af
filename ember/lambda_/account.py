"""GetAccountSettings: the account's limits and what it uses."""

from __future__ import annotations

from typing import Any

from ember.code.package import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES
from ember.lambda_.backend import LambdaBackend
from ember.services.base import RequestContext

#: AWS's default total code storage per region (75 GB)
TOTAL_CODE_SIZE_BYTES = 80_530_636_800


class AccountOperations:
    def __init__(self, backend: LambdaBackend) -> None:
        self.backend = backend

    async def get_account_settings(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        count, code_bytes = await self.backend.store.count_functions()
        concurrency = self.backend.account_concurrency
        return {
            "AccountLimit": {
                "TotalCodeSize": TOTAL_CODE_SIZE_BYTES,
                "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                "CodeSizeZipped": MAX_ZIPPED_BYTES,
                "ConcurrentExecutions": concurrency,
                "UnreservedConcurrentExecutions": await self.backend.unreserved_limit(),
            },
            "AccountUsage": {"TotalCodeSize": code_bytes, "FunctionCount": count},
        }
