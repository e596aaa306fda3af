"""What the backend contract suites share: running an async scenario on a fresh backend that it may
reopen (a restart), closing everything it opened afterwards."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar


class Closable(Protocol):
    async def close(self) -> None: ...


Backend = TypeVar("Backend", bound=Closable)


def scenario_runner(open_backend: Callable[..., Backend], kind: str,
                    options: dict[str, Any]) -> Callable[[Callable[[Backend, Callable[[], Backend]], Awaitable[None]]],
                                                          None]:
    """run(scenario): `scenario(backend, reopen)` on a fresh `kind` backend opened with `options`."""

    def run(scenario: Callable[[Backend, Callable[[], Backend]], Awaitable[None]]) -> None:
        async def main() -> None:
            opened: list[Backend] = []

            def reopen() -> Backend:
                backend = open_backend(kind, **options)
                opened.append(backend)
                return backend

            try:
                await scenario(reopen(), reopen)
            finally:
                for backend in opened:
                    with contextlib.suppress(Exception):  # closed by the scenario already
                        await backend.close()

        asyncio.run(main())

    return run
