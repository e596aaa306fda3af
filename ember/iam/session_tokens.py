"""Temporary credentials (STS sessions and execution roles): issued and checked without storage.

A session token is a Fernet token (AES-128-CBC and HMAC-SHA256 under a key derived for this use
alone) over the session's facts: its access key id, who it acts as, when it expires and any
session policy. Nobody without the server's key can make one, or change one (a later expiry, a
wider policy) without the check failing. The secret access key is an HMAC of the token's random
nonce under a second derived key, so it is never written anywhere: whoever presents a token can
be checked against the secret it was issued with. Stateless, so any node sharing the key can
check a session another node issued.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass

from cryptography.fernet import Fernet, InvalidToken

from ember.clock import Clock
from ember.iam.access_keys import TEMPORARY_PREFIX, new_access_key_id
from ember.iam.keyring import Keyring, KeyUse


@dataclass(frozen=True)
class Session:
    """What a temporary credential acts as."""

    access_key_id: str  #: ASIA…
    #: the principal requests are made as: arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, or the
    #: user's own ARN for GetSessionToken
    principal_arn: str
    #: the identity whose policies apply: the role's ARN, or the user's
    source_arn: str
    #: aws:userid: "AROA…:SESSION" for a role session, the user's id otherwise
    user_id: str
    expires_at_s: int  #: Unix time
    #: a session policy further limiting the session (AssumeRole's Policy), JSON text
    session_policy: str | None = None


@dataclass(frozen=True)
class IssuedCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at_s: int


class SessionTokenRefused(Exception):
    """A token that is not one of ours, was altered, or does not go with the access key id."""


class SessionTokenExpired(Exception):
    """A genuine token whose session has ended."""


class SessionTokens:
    """Issues temporary credentials and checks the ones presented."""

    def __init__(self, keyring: Keyring, clock: Clock) -> None:
        self._fernet = Fernet(keyring.fernet_key(KeyUse.SESSION_TOKENS))
        self._secret_key = keyring.key(KeyUse.SESSION_TOKENS, 64)[32:]  # a second key, not the Fernet one
        self._clock = clock

    def issue(self, principal_arn: str, source_arn: str, user_id: str, duration_s: int,
              session_policy: str | None = None) -> IssuedCredentials:
        access_key_id = new_access_key_id(TEMPORARY_PREFIX)
        expires_at_s = int(self._clock.time_s()) + duration_s
        session = Session(access_key_id, principal_arn, source_arn, user_id, expires_at_s, session_policy)
        nonce = secrets.token_hex(16)
        payload = json.dumps({"session": asdict(session), "nonce": nonce}, separators=(",", ":")).encode()
        token = self._fernet.encrypt_at_time(payload, int(self._clock.time_s())).decode()
        return IssuedCredentials(access_key_id, self._secret_for(nonce), token, expires_at_s)

    def open(self, access_key_id: str, session_token: str) -> tuple[Session, str]:
        """The session a token stands for and the secret it was issued with.

        SessionTokenRefused for a token that is not genuine or belongs to another key id;
        SessionTokenExpired once the session has ended."""
        try:
            payload = json.loads(self._fernet.decrypt(session_token.encode()))
            session = Session(**payload["session"])
            nonce = str(payload["nonce"])
        except (InvalidToken, ValueError, TypeError, KeyError, UnicodeEncodeError):
            raise SessionTokenRefused("the session token is not one this server issued") from None
        if not hmac.compare_digest(session.access_key_id, access_key_id):
            raise SessionTokenRefused("the session token belongs to another access key")
        if self._clock.time_s() >= session.expires_at_s:
            raise SessionTokenExpired("the session has expired")
        return session, self._secret_for(nonce)

    def _secret_for(self, nonce: str) -> str:
        digest = hmac.new(self._secret_key, nonce.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()[:40]  # AWS secrets are 40 characters
