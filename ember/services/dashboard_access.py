"""Who may use Ember's own endpoints under /_ember/ in iam mode: the dashboard's signed-in sessions.

In open mode nothing is asked, as before. In iam mode:

- Signing in takes an access key id and its secret (the root's or an IAM user's long-term key,
  checked by the Authenticator against the same keys a signature is checked with). Who may use
  the dashboard: the root, and callers whose policies allow `lambda:ListFunctions`. The answer
  sets a session cookie (`HttpOnly`, `SameSite=Strict`, `Path=/_ember`, `Secure` over https)
  sealed under the dashboard-sessions key (see iam.dashboard_sessions), never holding the secret.
- Guarded routes (the dashboard page, its JSON endpoints, `/_ember/async`) need that cookie,
  for a key still active and a caller still allowed, or a SigV4 signature by such a caller (how
  the `ember queue` command reads `/_ember/async`).
- `/_ember/aws/...` is the AWS APIs as the dashboard calls them: the request below the prefix,
  made as the session's caller and authorized operation by operation like any signed request.
- Every request through `/_ember/aws/` (GETs too: AWS's query APIs, IAM's and STS's, take an
  `Action` in a GET's query string) and every other request that is not a GET carries the
  session's CSRF token in `x-ember-csrf`, on top of the edge's Origin check and the cookie's
  SameSite=Strict (which does not count ports: a page on another port of the same host is the
  same site).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ember.clock import Clock, SystemClock
from ember.errors import EmberError
from ember.iam.dashboard_sessions import DashboardSession, DashboardSessions, SessionRefused
from ember.iam.sigv4 import Unsigned, read_signature
from ember.iam.sigv4_failures import SignatureError, refusal
from ember.protocol import HttpRequest, HttpResponse
from ember.services.access import AuthMode, Gate, request_view
from ember.services.base import Caller

SESSION_COOKIE = "ember_session"
COOKIE_PATH = "/_ember"
CSRF_HEADER = "x-ember-csrf"
SIGN_IN_PATH = "/_ember/sign-in"
#: what a caller must be allowed to use the dashboard: listing the account's functions
DASHBOARD_ACTION = "lambda:ListFunctions"
#: methods that change nothing, so need no CSRF token
#: wrong secrets allowed per access key id within the window before sign-in refuses it (429)
MAX_FAILED_SIGN_INS = 5
SIGN_IN_WINDOW_S = 60.0
_TRACKED_KEY_IDS = 10_000
_SAFE_METHODS = frozenset({"GET", "HEAD"})
#: the service whose signatures guarded routes accept (and whose refusals they answer with)
_SIGNING_NAME = "lambda"


class DoorRefusal(Exception):
    """A request the door turns away, with the answer to give."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status)
        self.response = response


class SignInRefused(Exception):
    """Credentials that do not sign in: the status and what to tell the person signing in."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class SignedIn:
    """A request's session, and who it acts as."""

    caller: Caller
    session: DashboardSession
    csrf_token: str


class FailedSignIns:
    """Guessing a secret through the sign-in form is slowed: after MAX_FAILED_SIGN_INS wrong
    secrets for one access key id within SIGN_IN_WINDOW_S, that key id is refused (429), right
    secret or not, until the window has passed since the first of them."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        #: access key id → (when its window began, failures in it)
        self._failures: dict[str, tuple[float, int]] = {}

    def is_locked(self, access_key_id: str) -> bool:
        began_s, count = self._failures.get(access_key_id, (0.0, 0))
        if self._clock.monotonic() - began_s >= SIGN_IN_WINDOW_S:
            self._failures.pop(access_key_id, None)
            return False
        return count >= MAX_FAILED_SIGN_INS

    def failed(self, access_key_id: str) -> None:
        now_s = self._clock.monotonic()
        began_s, count = self._failures.get(access_key_id, (now_s, 0))
        if now_s - began_s >= SIGN_IN_WINDOW_S:
            began_s, count = now_s, 0
        if len(self._failures) >= _TRACKED_KEY_IDS:
            self._failures.clear()  # bounded: made-up key ids cannot fill the memory
        self._failures[access_key_id] = (began_s, count + 1)


class DashboardDoor:
    """Signs people in and decides which requests under /_ember/ go on (see the module docstring)."""

    def __init__(self, gate: Gate, sessions: DashboardSessions, region: str, clock: Clock | None = None) -> None:
        self.gate = gate
        self.sessions = sessions
        self.region = region
        self.failed_sign_ins = FailedSignIns(clock or SystemClock())

    @property
    def is_open(self) -> bool:
        """Open mode: no sign-in, every route answered as before."""
        return self.gate.mode is AuthMode.OPEN

    async def sign_in(self, access_key_id: str, secret_access_key: str) -> tuple[SignedIn, str]:
        """A new session and its cookie value. SignInRefused for wrong credentials (401, the same
        words whether the key or the secret is wrong) or a caller who may not use the dashboard (403)."""
        key_id = access_key_id.strip()
        if self.failed_sign_ins.is_locked(key_id):
            raise SignInRefused(429, f"Too many wrong secrets for this access key: try again in a minute "
                                     f"(at most {MAX_FAILED_SIGN_INS} tries in {SIGN_IN_WINDOW_S:.0f} seconds).")
        caller = await self.gate.authenticator.check_secret(key_id, secret_access_key.strip())
        if caller is None:
            self.failed_sign_ins.failed(key_id)
            raise SignInRefused(401, "The access key id or the secret access key is not right. Sign in with the "
                                     "root's key or an IAM user's active access key (not temporary credentials).")
        if not await self.may_use_dashboard(caller):
            raise SignInRefused(403, _not_allowed(caller))
        session, cookie_value = self.sessions.open(caller.access_key_id or access_key_id)
        return SignedIn(caller, session, self.sessions.csrf_token(session)), cookie_value

    async def may_use_dashboard(self, caller: Caller) -> bool:
        return await self.gate.authorizer.allows(caller, DASHBOARD_ACTION, self.region)

    async def signed_in(self, request: HttpRequest) -> SignedIn | None:
        """The request's session: a genuine, unexpired cookie whose key is still active."""
        for value in cookie_values(request.header("cookie"), SESSION_COOKIE):
            try:
                session = self.sessions.read(value)
            except SessionRefused:
                continue
            known = await self.gate.authenticator.long_term_identity(session.access_key_id)
            if known is not None:
                return SignedIn(known[0], session, self.sessions.csrf_token(session))
        return None

    async def admit(self, request: HttpRequest) -> None:
        """Let a guarded route's request on, or raise DoorRefusal: a session (with its CSRF
        token unless a GET) or a SigV4 signature, by a caller who may use the dashboard."""
        if self.is_open:
            return
        if _is_signed(request):
            try:
                caller = await self.gate.authenticator.caller(request, _SIGNING_NAME)
            except EmberError as error:
                raise DoorRefusal(_error(error)) from None
        else:
            caller = (await self._session(request, needs_token=request.method not in _SAFE_METHODS)).caller
        if not await self.may_use_dashboard(caller):
            raise DoorRefusal(json_error(403, "AccessDeniedException", _not_allowed(caller)))

    async def proxied_caller(self, request: HttpRequest) -> Caller | None:
        """Who a request to the AWS APIs through /_ember/aws/ is made as: the session's caller
        (None in open mode: the request is taken as any other). DoorRefusal without a session,
        or without its CSRF token, whatever the method."""
        if self.is_open:
            return None
        return (await self._session(request, needs_token=True)).caller

    async def _session(self, request: HttpRequest, needs_token: bool) -> SignedIn:
        signed_in = await self.signed_in(request)
        if signed_in is None:
            if request.method == "GET" and "text/html" in (request.header("accept") or ""):
                raise DoorRefusal(HttpResponse(303, [("location", SIGN_IN_PATH), ("cache-control", "no-store")]))
            raise DoorRefusal(json_error(401, "SignInRequired",
                                         f"Sign in to Ember first: {SIGN_IN_PATH} (this server runs with --auth iam)"))
        if needs_token and not self.sessions.is_csrf_token(signed_in.session, request.header(CSRF_HEADER)):
            raise DoorRefusal(json_error(403, "InvalidCsrfToken",
                                         f"This request needs the session's {CSRF_HEADER} header (the dashboard "
                                         "reads it from /_ember/session)"))
        return signed_in

    def session_cookie(self, cookie_value: str, is_secure: bool) -> str:
        """The Set-Cookie value that keeps a session in the browser for its lifetime."""
        return _cookie(cookie_value, self.sessions.lifetime_s, is_secure)

    @staticmethod
    def cleared_cookie(is_secure: bool) -> str:
        """The Set-Cookie value that removes the session cookie (signing out)."""
        return _cookie("", 0, is_secure)


def _cookie(value: str, max_age_s: int, is_secure: bool) -> str:
    return f"{SESSION_COOKIE}={value}; Path={COOKIE_PATH}; Max-Age={max_age_s}; HttpOnly; SameSite=Strict" + \
        ("; Secure" if is_secure else "")


def cookie_values(header: str | None, name: str) -> list[str]:
    """Every value of cookie `name` in a Cookie header, in order (a browser may send two of one
    name, set for different paths)."""
    values = []
    for part in (header or "").split(";"):
        key, separator, value = part.strip().partition("=")
        if separator and key == name:
            values.append(value.strip().strip('"'))
    return values


def _is_signed(request: HttpRequest) -> bool:
    try:
        return not isinstance(read_signature(request_view(request)), Unsigned)
    except SignatureError as error:  # a signature that cannot be read is answered as refused
        raise DoorRefusal(_refused_signature(error)) from None


def _refused_signature(error: SignatureError) -> HttpResponse:
    return _error(refusal(_SIGNING_NAME, error))


def _error(error: EmberError) -> HttpResponse:
    return json_error(error.status_code, error.code, error.message)


def _not_allowed(caller: Caller) -> str:
    return (f"User: {caller.arn} is not authorized to use Ember's dashboard: it needs a policy that allows "
            f"{DASHBOARD_ACTION}")


def json_error(status: int, code: str, message: str) -> HttpResponse:
    """An error as every AWS JSON protocol (and the dashboard's api.js) reads it."""
    body = json.dumps({"__type": code, "message": message}).encode()
    return HttpResponse(status, [("x-amzn-errortype", code), ("content-type", "application/json"),
                                 ("cache-control", "no-store")], body)
