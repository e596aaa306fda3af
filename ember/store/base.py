"""The Store contract: metadata about functions, durable once a method returns."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ember.models import Alias, EventInvokeConfig, FunctionConfig, FunctionUrlConfig, LayerVersion, ProvisionedConfig


@dataclass(frozen=True)
class CodeReferences:
    """What the stored records use of the blob store, as `Store.code_references` reads it."""

    #: content addresses (SHA-256 hex) of every zip a function, version or layer version uses
    digests: frozenset[str]
    #: every ordered list of layer zips a function or version runs with (their merged /opt)
    layer_lists: frozenset[tuple[str, ...]]


class Sealer(Protocol):
    """Encrypts what a store must not keep in the clear (functions' environment variables), so a
    copy of the database alone reveals no secret. Implemented above the store, where the keys are."""

    def seal(self, plaintext: bytes) -> bytes:
        """Authenticated ciphertext of `plaintext`."""

    def unseal(self, sealed: bytes) -> bytes:
        """The plaintext back; raises if `sealed` was not sealed with this key or was altered."""


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
        """Remove the function with its versions, aliases and event invoke configs, atomically;
        False if there was none."""

    # Versions: immutable snapshots of $LATEST, numbered 1, 2, ... per function.

    @abstractmethod
    async def add_version(self, version: FunctionConfig) -> bool:
        """Insert a published version (its `version` is its number); False if that number is taken."""

    @abstractmethod
    async def get_version(self, function_name: str, version: str) -> FunctionConfig | None:
        """One published version, or None."""

    @abstractmethod
    async def list_versions(self, function_name: str) -> list[FunctionConfig]:
        """Every published version of the function, in number order."""

    @abstractmethod
    async def replace_version(self, version: FunctionConfig, expected_revision_id: str) -> bool:
        """Swap in a version record (its policy changes) if unchanged since read; False otherwise."""

    @abstractmethod
    async def delete_version(self, function_name: str, version: str) -> bool:
        """Remove one published version and its event invoke config, atomically; False if there was none."""

    # Aliases

    @abstractmethod
    async def create_alias(self, alias: Alias) -> None:
        """Insert `alias`; raise ResourceConflictException if the function already has one by that name."""

    @abstractmethod
    async def get_alias(self, function_name: str, name: str) -> Alias | None:
        """The alias, or None."""

    @abstractmethod
    async def list_aliases(self, function_name: str) -> list[Alias]:
        """The function's aliases, ordered by name."""

    @abstractmethod
    async def replace_alias(self, alias: Alias, expected_revision_id: str) -> bool:
        """Swap in `alias` if the stored one still has `expected_revision_id`; False otherwise."""

    @abstractmethod
    async def delete_alias(self, function_name: str, name: str) -> bool:
        """Remove the alias and its event invoke config, atomically; False if there was none."""

    # Layers: versions numbered from 1 per layer name; deleting one never renumbers.

    @abstractmethod
    async def add_layer_version(self, layer_name: str, make: Callable[[int], LayerVersion]) -> LayerVersion:
        """Store `make(n)` as `layer_name`'s next number n (never reused), atomically; return it."""

    @abstractmethod
    async def get_layer_version(self, layer_name: str, version: int) -> LayerVersion | None:
        """One layer version, or None."""

    @abstractmethod
    async def list_layer_versions(self, layer_name: str | None = None) -> list[LayerVersion]:
        """Versions of one layer (or of all), by layer name and then newest first."""

    @abstractmethod
    async def replace_layer_version(self, layer: LayerVersion, expected_revision_id: str) -> bool:
        """Swap in a layer version record (its policy) if unchanged since read; False otherwise."""

    @abstractmethod
    async def delete_layer_version(self, layer_name: str, version: int) -> bool:
        """Remove one layer version; False if there was none."""

    # Provisioned concurrency configurations, by function and qualifier.

    @abstractmethod
    async def put_provisioned(self, config: ProvisionedConfig) -> None:
        """Insert or replace the configuration for its function and qualifier."""

    @abstractmethod
    async def list_provisioned(self, function_name: str | None = None) -> list[ProvisionedConfig]:
        """The configurations of one function (or all), by function and qualifier."""

    @abstractmethod
    async def delete_provisioned(self, function_name: str, qualifier: str | None = None) -> bool:
        """Remove one configuration (or all of a function's); False if there was none."""

    # Event invoke configs (async invocation settings), by function and qualifier.

    @abstractmethod
    async def put_event_invoke_config(self, config: EventInvokeConfig) -> None:
        """Insert or replace the configuration for its function and qualifier."""

    @abstractmethod
    async def get_event_invoke_config(self, function_name: str, qualifier: str) -> EventInvokeConfig | None:
        """The configuration of one qualifier ("$LATEST", a version, an alias), or None."""

    @abstractmethod
    async def list_event_invoke_configs(self, function_name: str) -> list[EventInvokeConfig]:
        """A function's configurations, ordered by qualifier."""

    @abstractmethod
    async def delete_event_invoke_config(self, function_name: str, qualifier: str) -> bool:
        """Remove one configuration; False if there was none."""

    # Function URLs, by function and qualifier, and by their URL id (one per qualifier).

    @abstractmethod
    async def create_function_url(self, config: FunctionUrlConfig) -> bool:
        """Add a function URL; False if its function and qualifier have one already."""

    @abstractmethod
    async def replace_function_url(self, config: FunctionUrlConfig) -> bool:
        """Replace the function URL of its function and qualifier; False if there is none."""

    @abstractmethod
    async def get_function_url(self, function_name: str, qualifier: str) -> FunctionUrlConfig | None:
        """The function URL of one qualifier ("$LATEST" or an alias), or None."""

    @abstractmethod
    async def find_function_url(self, url_id: str) -> FunctionUrlConfig | None:
        """The function URL whose host name starts with `url_id`, or None (each request to one asks)."""

    @abstractmethod
    async def list_function_urls(self, function_name: str) -> list[FunctionUrlConfig]:
        """A function's URLs, ordered by qualifier."""

    @abstractmethod
    async def delete_function_url(self, function_name: str, qualifier: str) -> bool:
        """Remove one function URL; False if there was none. Deleting a function or an alias
        deletes its URLs with it."""

    @abstractmethod
    async def code_references(self) -> CodeReferences:
        """Every zip the records use now: $LATEST and published versions (their code and their
        layers, which they keep even once the layer version is deleted) and layer versions. Read
        in one transaction, so a record committed before the call is always counted."""

    @abstractmethod
    async def count_functions(self) -> tuple[int, int]:
        """(number of functions, total size in bytes of their zips)."""

    @abstractmethod
    async def close(self) -> None:
        """Flush and release the backend."""
