"""A content-addressed folder: each blob is a file named by its SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


class LocalBlobStore:
    """Blobs under `root/ab/abcdef...`; writes are atomic and fsynced before `put` returns."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256_hex: str) -> Path:
        return self.root / sha256_hex[:2] / sha256_hex

    def exists(self, sha256_hex: str) -> bool:
        return self.path(sha256_hex).is_file()

    def put(self, data: bytes) -> str:
        """Store `data`; return its hex SHA-256. Storing the same bytes twice is free."""
        digest = hashlib.sha256(data).hexdigest()
        target = self.path(digest)
        if target.is_file():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
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
        return self.path(sha256_hex).read_bytes()
