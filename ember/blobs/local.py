"""A content-addressed folder: each blob is a file named by its SHA-256."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ember.blobs.base import BlobNotFoundError, BlobStore

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
#: names of files a put is still writing (or a crash cut off): `.incoming-<random>`
_STAGING_PREFIX = ".incoming-"


class LocalBlobStore(BlobStore):
    """Blobs under `root/ab/abcdef...`: written to a staging file in the same folder, fsynced,
    renamed into place and the folder fsynced, before `put` returns."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256_hex: str) -> Path:
        return self.root / sha256_hex[:2] / sha256_hex

    def exists(self, sha256_hex: str) -> bool:
        return self.path(sha256_hex).is_file()

    def put(self, data: bytes, sha256_hex: str | None = None) -> str:
        digest = sha256_hex or hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.is_file():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=_STAGING_PREFIX)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must survive a crash
        finally:
            os.close(directory)
        return digest

    def read(self, sha256_hex: str) -> bytes:
        try:
            return self.path(sha256_hex).read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(f"no blob {sha256_hex}") from None

    def delete(self, sha256_hex: str) -> int:
        target = self.path(sha256_hex)
        try:
            size_bytes = target.stat().st_size
            target.unlink()
        except FileNotFoundError:
            return 0
        return size_bytes

    def digests(self) -> Iterator[str]:
        for folder in self._folders():
            yield from (entry.name for entry in folder.iterdir() if _DIGEST.match(entry.name))

    def remove_incomplete(self) -> None:
        for folder in self._folders():
            for entry in folder.iterdir():
                if entry.name.startswith(_STAGING_PREFIX):
                    entry.unlink(missing_ok=True)

    def _folders(self) -> Iterator[Path]:
        if self.root.is_dir():
            yield from (folder for folder in self.root.iterdir() if folder.is_dir() and len(folder.name) == 2)
