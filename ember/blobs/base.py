"""The BlobStore contract: immutable bytes named by their SHA-256 (code and layer zips).

A blob's name is its content's digest, so a blob never changes once stored: storing the same
bytes again is a no-op, and readers never see a blob half-written. Methods block (disk or
network): the event loop calls them through a worker thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator


class BlobNotFoundError(FileNotFoundError):
    """No blob has that digest (never stored, or deleted)."""


class BlobStore(ABC):
    """Content-addressed blobs, each named by the lowercase hex SHA-256 of its bytes."""

    @abstractmethod
    def put(self, data: bytes, sha256_hex: str | None = None) -> str:
        """Store `data` and return its digest; pass `sha256_hex` when already computed (it is
        trusted, not checked). Atomic and durable: once `put` returns, the whole blob survives a
        crash of Ember and of the machine; before, no reader sees any of it. Putting bytes that
        are already stored (concurrently too) leaves one copy and returns the same digest."""

    @abstractmethod
    def exists(self, sha256_hex: str) -> bool:
        """Whether a blob with this digest is stored (False for a digest never put or deleted)."""

    @abstractmethod
    def read(self, sha256_hex: str) -> bytes:
        """The blob's bytes; BlobNotFoundError if there is none."""

    @abstractmethod
    def delete(self, sha256_hex: str) -> int:
        """Remove a blob (callers make sure nothing uses it); the bytes freed, 0 if there was none."""

    @abstractmethod
    def digests(self) -> Iterator[str]:
        """The digest of every stored blob (never a put still under way or one that was cut off)."""

    @abstractmethod
    def remove_incomplete(self) -> None:
        """Remove what puts cut off by a crash left behind. Only while no put is under way (at
        start-up): a put in progress may look the same."""
