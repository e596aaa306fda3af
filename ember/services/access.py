"""Who is calling: the caller behind a request's signature, in Ember's two auth modes.

In `iam` mode every request to an AWS API is signed with a key Ember knows (the account's root
key, an IAM user's access key, or temporary credentials it issued) and the signature is checked
with botocore's own signer; anything else is refused as AWS refuses it. In `open` mode, for
development on a loopback address, any credentials are accepted unchecked, as before: a key Ember
knows still names its caller (so GetCallerIdentity and a function's role read true), any other
request acts as the account's root.
"""

from __future__ import annotations

import hmac
from enum import StrEnum
from typing import Any

from ember.clock import Clock
from ember.iam.access_keys import AccessKey, is_temporary
from ember.iam.session_tokens import Session, SessionTokenExpired, SessionTokenRefused, SessionTokens
from ember.iam.sigv4 import RequestView, Unsigned, read_signature, verify_signature
from ember.iam.sigv4_failures import SignatureError, SignatureFailure, refusal
from ember.iam_store.base import IamStore
from ember.protocol import HttpRequest
from ember.services.authorization import Authorizer, audit
from ember.services.base import Caller, CallerKind, RequestContext, Service

#: access keys whose callers are kept between requests (past it the cache starts over)
_CACHED_KEYS = 10_000


class AuthMode(StrEnum):
    OPEN = "open"
    IAM = "iam"


def request_view(request: HttpRequest) -> RequestView:
    """The request as a signature covers it."""
    return RequestView(request.method, request.path, request.query_string, tuple(request.headers.items()),
                       request.body)


class Authenticator:
    """Turns a request into its Caller, or the error its service answers a refused signature with."""

    def __init__(self, mode: AuthMode, account_id: str, root_key: AccessKey, iam: IamStore,
                 sessions: SessionTokens, clock: Clock) -> None:
        self.mode = mode
        self.account_id = account_id
        self.root_key = root_key
        self.iam = iam
        self.sessions = sessions
        self.clock = clock
        #: access key id → (the IAM store's generation when read, its caller and secret or None)
        self._keys: dict[str, tuple[int, tuple[Caller, str] | None]] = {}
        self.root = Caller(CallerKind.ROOT, f"arn:aws:iam::{account_id}:root", account_id, account_id,
                           access_key_id=root_key.access_key_id)

    async def caller(self, request: HttpRequest, signing_name: str) -> Caller:
        """The request's caller. Raises the service's EmberError for a refused signature (iam mode)."""
        try:
            return await self._caller(request_view(request))
        except SignatureError as error:
            if self.mode is AuthMode.OPEN:
                return self.root
            audit.warning("REFUSED %s %s: %s", signing_name, request.path, error)
            raise refusal(signing_name, error) from None

    async def _caller(self, view: RequestView) -> Caller:
        signature = read_signature(view)
        if isinstance(signature, Unsigned):
            if self.mode is AuthMode.OPEN:
                return self.root
            raise SignatureError(SignatureFailure.MISSING_AUTHENTICATION)
        known = await self._identity(signature.access_key_id, signature.session_token)
        if self.mode is AuthMode.OPEN:
            return known[0] if known else self.root
        if known is None:
            raise SignatureError(SignatureFailure.UNKNOWN_ACCESS_KEY)
        caller, secret = known
        verify_signature(view, signature, secret, self.clock)  # with its time: the 15-minute window
        return caller

    async def check_secret(self, access_key_id: str, secret_access_key: str) -> Caller | None:
        """The caller a long-term key (the root's or an IAM user's active key) stands for, if
        `secret_access_key` is its secret; else None. How the dashboard signs in: temporary keys
        are not taken (their secret alone, without the session token, proves nothing)."""
        known = await self.long_term_identity(access_key_id)
        # Compared even for an unknown key, so the time taken does not tell which keys exist.
        expected = known[1] if known else "0" * 40
        is_match = hmac.compare_digest(expected.encode(), secret_access_key.encode("utf-8", "replace"))
        return known[0] if known and is_match else None

    async def long_term_identity(self, access_key_id: str) -> tuple[Caller, str] | None:
        """The caller a long-term key stands for and its secret; None for a temporary key, or a
        key Ember does not know (or that is no longer active)."""
        if is_temporary(access_key_id):
            return None
        return await self._identity(access_key_id, None)

    async def _identity(self, access_key_id: str, session_token: str | None) -> tuple[Caller, str] | None:
        """The caller a key stands for and its secret; None for a key Ember does not know.
        Raises SignatureError for a temporary key whose token is missing, forged or expired."""
        if access_key_id == self.root_key.access_key_id:
            return self.root, self.root_key.secret_access_key
        if is_temporary(access_key_id):
            if not session_token:
                raise SignatureError(SignatureFailure.INVALID_TOKEN)
            try:
                session, secret = self.sessions.open(access_key_id, session_token)
            except SessionTokenRefused:
                raise SignatureError(SignatureFailure.INVALID_TOKEN) from None
            except SessionTokenExpired:
                raise SignatureError(SignatureFailure.EXPIRED_TOKEN) from None
            return self._session_caller(session), secret
        cached = self._keys.get(access_key_id)
        if cached is not None and cached[0] == self.iam.generation:
            return cached[1]
        generation = self.iam.generation  # before reading: a write meanwhile makes the entry stale
        key = await self.iam.get_access_key(access_key_id)
        user = await self.iam.get_user(key.user_name) if key is not None and key.status == "Active" else None
        known = None if key is None or user is None else (
            Caller(CallerKind.USER, user.arn, self.account_id, user.user_id, user.name, access_key_id),
            key.secret_access_key)
        if len(self._keys) >= _CACHED_KEYS:
            self._keys.clear()
        self._keys[access_key_id] = (generation, known)
        return known

    def _session_caller(self, session: Session) -> Caller:
        if session.source_arn == self.root.arn:  # the root's GetSessionToken: still the root
            return Caller(CallerKind.ROOT, self.root.arn, self.account_id, self.account_id,
                          access_key_id=session.access_key_id, source_arn=session.source_arn)
        is_role = ":assumed-role/" in session.principal_arn
        name = session.source_arn.rsplit("/", 1)[-1]
        return Caller(CallerKind.ROLE_SESSION if is_role else CallerKind.USER_SESSION, session.principal_arn,
                      self.account_id, session.user_id, name, session.access_key_id, session.source_arn,
                      session.session_policy)


class Gate:
    """The edge's door: who each request is from, and whether its policies allow what it asks."""

    def __init__(self, authenticator: Authenticator, authorizer: Authorizer) -> None:
        self.authenticator = authenticator
        self.authorizer = authorizer

    @property
    def mode(self) -> AuthMode:
        return self.authenticator.mode

    async def caller(self, request: HttpRequest, service: Service) -> Caller:
        return await self.authenticator.caller(request, service.signing_name)

    async def check(self, caller: Caller, service: Service, operation: str, params: dict[str, Any],
                    ctx: RequestContext) -> None:
        """Raise the service's access denied error unless the caller may run `operation`."""
        if not self.authorizer.enforce:
            return
        targets = await service.targets(operation, params, ctx) if service.targets is not None else ()
        await self.authorizer.authorize(caller, service.signing_name, service.model.operation_names, operation,
                                        targets, ctx)
