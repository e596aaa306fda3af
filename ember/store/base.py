"""The Store contract: metadata about functions, durable once a method returns."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ember.models import FunctionConfig


class Store(ABC):
    """Durable function metadata. Every write is committed before the method returns."""

    @abstractmethod
    async def create_function(self, function: FunctionConfig) -> None:
        """Insert `function`; raise ResourceConflictException if the name is taken."""

    @abstractmethod
    async def get_function(self, name: str) -> FunctionConfig | None:
        """The function called `name`, or None."""

    @abstractmethod
    async def list_functions(self, after_name: str | None, limit: int) -> list[FunctionConfig]:
        """Up to `limit` functions ordered by name, starting after `after_name`."""

    @abstractmethod
    async def replace_function(self, function: FunctionConfig, expected_revision_id: str) -> bool:
        """Atomically swap in `function` if the stored one still has `expected_revision_id`.

        Returns False (and changes nothing) when the function is gone or was changed meanwhile.
        """

    @abstractmethod
    async def delete_function(self, name: str) -> bool:
        """Remove the function; False if there was none."""

    @abstractmethod
    async def count_functions(self) -> tuple[int, int]:
        """(number of functions, total size in bytes of their zips)."""

    @abstractmethod
    async def close(self) -> None:
        """Flush and release the backend."""
