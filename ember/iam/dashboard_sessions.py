"""The dashboard's signed-in sessions (iam mode): a cookie value nobody without the server's key
can make or change, and the CSRF token that goes with it.

A session is a Fernet token (AES-128-CBC and HMAC-SHA256, under the key derived for dashboard
sessions alone) over its facts: a random session id, the access key id it was opened with and
when it ends. Never the secret: the key id is looked up again on every request, so deleting or
deactivating the key ends every session opened with it. Sealed rather than only signed, so a
logged or copied cookie does not even name the key.

The CSRF token is an HMAC of the session id under a second derived key: the page reads it from
`/_ember/session` (same origin only) and sends it in a header with every request that changes
something; a forged request from another site carries the cookie but cannot know the token.
Stateless, as session tokens are: any node sharing the master key checks a session another issued.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

from ember.clock import Clock
from ember.iam.keyring import Keyring, KeyUse

#: how long a dashboard session lasts after signing in (a working day, as the AWS console's)
SESSION_LIFETIME_S = 12 * 3600


@dataclass(frozen=True)
class DashboardSession:
    """One signed-in session."""

    session_id: str
    access_key_id: str  #: the long-term key signed in with (root's or an IAM user's)
    expires_at_s: int  #: Unix time


class SessionRefused(Exception):
    """A cookie that is not a session this server opened, was altered, or has ended."""


class DashboardSessions:
    """Opens sessions (the cookie's value) and checks the ones presented, with their CSRF tokens."""

    def __init__(self, keyring: Keyring, clock: Clock, lifetime_s: int = SESSION_LIFETIME_S) -> None:
        self._fernet = Fernet(keyring.fernet_key(KeyUse.DASHBOARD_SESSIONS))
        self._csrf_key = keyring.key(KeyUse.DASHBOARD_SESSIONS, 64)[32:]  # a second key, not the Fernet one
        self._clock = clock
        self.lifetime_s = lifetime_s

    def open(self, access_key_id: str) -> tuple[DashboardSession, str]:
        """A new session for the key, and the cookie value that stands for it."""
        now_s = int(self._clock.time_s())
        session = DashboardSession(secrets.token_hex(16), access_key_id, now_s + self.lifetime_s)
        payload = json.dumps({"sid": session.session_id, "key": session.access_key_id,
                              "exp": session.expires_at_s}, separators=(",", ":")).encode()
        return session, self._fernet.encrypt_at_time(payload, now_s).decode()

    def read(self, cookie_value: str) -> DashboardSession:
        """The session a cookie value stands for. SessionRefused unless genuine and not ended."""
        try:
            payload = json.loads(self._fernet.decrypt(cookie_value.encode()))
            session = DashboardSession(str(payload["sid"]), str(payload["key"]), int(payload["exp"]))
        except (InvalidToken, ValueError, TypeError, KeyError, UnicodeEncodeError):
            raise SessionRefused("not a dashboard session this server opened") from None
        if self._clock.time_s() >= session.expires_at_s:
            raise SessionRefused("the dashboard session has ended")
        return session

    def csrf_token(self, session: DashboardSession) -> str:
        """The token a state-changing request of this session must carry."""
        return hmac.new(self._csrf_key, f"csrf\n{session.session_id}".encode(), hashlib.sha256).hexdigest()

    def is_csrf_token(self, session: DashboardSession, token: str | None) -> bool:
        """Whether `token` is this session's CSRF token (compared in constant time)."""
        return token is not None and hmac.compare_digest(self.csrf_token(session).encode(),
                                                         token.encode("utf-8", "replace"))
