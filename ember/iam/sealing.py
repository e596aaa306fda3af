"""Sealing secrets at rest (functions' environment variables) under a key derived for that use."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from ember.iam.keyring import Keyring, KeyUse


class SealBroken(Exception):
    """Sealed bytes that were not sealed with this server's key, or were altered."""


class FernetSealer:
    """AES-128-CBC with HMAC-SHA256 (Fernet) under the environment-variables key: the Store's
    Sealer."""

    def __init__(self, keyring: Keyring) -> None:
        self._fernet = Fernet(keyring.fernet_key(KeyUse.ENVIRONMENT_VARIABLES))

    def seal(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def unseal(self, sealed: bytes) -> bytes:
        try:
            return self._fernet.decrypt(sealed)
        except InvalidToken:
            raise SealBroken("sealed data that this server's master key did not seal, or that was altered; "
                             "is master.key the one this data dir was made with?") from None
