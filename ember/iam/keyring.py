"""The server's secret keys: one master key in the data dir, one key derived from it per use.

The master key is 32 random bytes in `<data-dir>/master.key`, created readable by this user
alone and kept outside every database, so a copied database alone reveals no secret. Each use
(session tokens, environment variables at rest...) gets its own key, derived with HKDF and the
use's name, so no two uses ever share a key and one may be rotated without the others.
"""

from __future__ import annotations

import base64
import os
import secrets
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MASTER_KEY_FILE = "master.key"
MASTER_KEY_BYTES = 32


class KeyUse(StrEnum):
    """What a derived key is for; its value is the HKDF info, never to be changed."""

    SESSION_TOKENS = "ember session tokens v1"
    ENVIRONMENT_VARIABLES = "ember environment variables at rest v1"
    PRESIGNED_URLS = "ember presigned urls v1"
    DASHBOARD_SESSIONS = "ember dashboard sessions v1"


class KeyringError(Exception):
    """The master key file exists but cannot be used (wrong size, unreadable)."""


class Keyring:
    """Derived keys for each KeyUse from one master key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != MASTER_KEY_BYTES:
            raise KeyringError(f"a master key is {MASTER_KEY_BYTES} bytes, not {len(master_key)}")
        self._master_key = master_key

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> Keyring:
        """The data dir's keyring, its master key made on first use (mode 0600, written whole
        and synced before it is used, so a crash never leaves a half key behind)."""
        path = data_dir / MASTER_KEY_FILE
        try:
            return cls(path.read_bytes())
        except FileNotFoundError:
            pass
        fresh = secrets.token_bytes(MASTER_KEY_BYTES)
        staging = path.with_name(f".{MASTER_KEY_FILE}.{os.getpid()}")
        descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.write(descriptor, fresh)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        try:
            os.link(staging, path)  # fails if another start made one meanwhile: use that one
        except FileExistsError:
            pass
        finally:
            staging.unlink()
        return cls(path.read_bytes())

    def key(self, use: KeyUse, length_bytes: int = 32) -> bytes:
        """The key for `use`: always the same for the same master key."""
        return HKDF(algorithm=hashes.SHA256(), length=length_bytes, salt=None,
                    info=use.value.encode()).derive(self._master_key)

    def fernet_key(self, use: KeyUse) -> bytes:
        """The key for `use` in the form cryptography's Fernet takes (url-safe base64 of 32 bytes)."""
        return base64.urlsafe_b64encode(self.key(use))
