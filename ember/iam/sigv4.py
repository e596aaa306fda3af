"""AWS Signature Version 4 on incoming requests: read a request's signature, then check it.

    read_signature(request)               -> RequestSignature | Unsigned   (or SignatureError)
    check_signing_time(signature, clock)  the 15-minute window; a presigned URL's X-Amz-Expires
    verify_signature(request, signature, secret_access_key, clock, rules)
    authenticate(request, secrets, clock, rules)   all three, with the caller's key lookup between

Both forms real clients send are read: the `Authorization: AWS4-HMAC-SHA256 Credential=...,
SignedHeaders=..., Signature=...` header, and a presigned URL's `X-Amz-*` query parameters.
The expected signature is computed by botocore's own signer (`SigV4Auth`; `S3SigV4Auth` where
the path is not encoded a second time) over an `AWSRequest` rebuilt from the incoming one:
exactly the headers the client signed, its signing time and credential scope, the payload hash
it used. Only the canonical forms of the path and query are Ember's to give it: the query is
decoded and encoded again as AWS's signers encode it, so `%3a`, `~` or a bare `+` on the wire
do not change what is signed; where the wire is ambiguous (a `+` that may be a space, a path
character left unencoded) each reading is tried.

Every refusal is a `SignatureError` carrying a `SignatureFailure`; `sigv4_failures.refusal`
turns it into the API error the service answers with.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from itertools import product
from typing import Protocol
from urllib.parse import quote_from_bytes, unquote_to_bytes

from botocore.auth import SIGV4_TIMESTAMP, S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import ReadOnlyCredentials

from ember.clock import Clock
from ember.iam.sigv4_failures import SignatureError, SignatureFailure

ALGORITHM = "AWS4-HMAC-SHA256"
SCOPE_TERMINATOR = "aws4_request"
#: AWS refuses a request signed more than 15 minutes before or after its own clock (every
#: service's Common Errors: RequestExpired; the "Signature expired: ... - 15 min." texts)
MAX_SKEW_S = 15 * 60
#: a presigned URL's X-Amz-Expires is at most a week (S3: AuthorizationQueryParametersError)
MAX_PRESIGNED_EXPIRES_S = 7 * 24 * 3600
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: x-amz-content-sha256 of an aws-chunked body, whose chunks carry their own signatures
STREAMING_PAYLOADS = frozenset({"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
                                "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
_UNSIGNED_STREAMING = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
#: what AWS's signers leave unencoded (RFC 3986's unreserved characters)
_UNRESERVED = "-_.~"
_PRESIGN_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
_PRESIGN_PARAMS = (*_PRESIGN_REQUIRED, "X-Amz-Expires", "X-Amz-Security-Token")


@dataclass(frozen=True, slots=True)
class RequestView:
    """An incoming request as its client signed it: what checking a signature reads."""

    method: str
    path: str  #: the URL path as sent, still percent-encoded
    query_string: str  #: the query as sent, without the "?", still percent-encoded
    headers: tuple[tuple[str, str], ...]  #: (name, value) as sent, repeated names kept, in order
    body: bytes = b""

    @classmethod
    def from_pairs(cls, method: str, path: str, query: Iterable[tuple[str, str]],
                   headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes = b"") -> RequestView:
        """From decoded query pairs (as the edge's HttpRequest holds them), encoded again as AWS's
        signers encode them: the query botocore and the other SDKs send."""
        query_string = "&".join(f"{_encode(key.encode())}={_encode(value.encode())}" for key, value in query)
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        return cls(method, path, query_string, tuple(pairs), body)

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key.lower() == name]

    def header(self, name: str) -> str | None:
        """The header's value (a repeated header's values joined with commas), or None."""
        values = self.header_values(name)
        return ",".join(values) if values else None


class SignatureForm(StrEnum):
    """Where a request carries its signature."""

    #: the Authorization header
    HEADER = "header"
    #: a presigned URL's X-Amz-* query parameters
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class CredentialScope:
    date: str  #: YYYYMMDD
    region: str
    service: str  #: the signing name: lambda, logs, iam, sts, s3...


@dataclass(frozen=True, slots=True)
class RequestSignature:
    """A request's signature as read, not yet checked."""

    form: SignatureForm
    access_key_id: str
    scope: CredentialScope
    signed_headers: tuple[str, ...]  #: lower-case, as the client listed them
    signature: str
    signed_at: datetime  #: x-amz-date (else the Date header, else X-Amz-Date), UTC
    session_token: str | None = field(default=None, repr=False)
    expires_s: int | None = None  #: a presigned URL's X-Amz-Expires

    @property
    def expires_at(self) -> datetime | None:
        return None if self.expires_s is None else self.signed_at + timedelta(seconds=self.expires_s)


@dataclass(frozen=True, slots=True)
class Unsigned:
    """A request with no signature at all: no Authorization header, no X-Amz-Signature."""


UNSIGNED = Unsigned()


@dataclass(frozen=True, slots=True)
class SigningRules:
    """What a service takes beyond plain SigV4."""

    #: sign the path encoded a second time, as every service but S3 does (botocore's S3SigV4Auth
    #: signs it as sent)
    double_encode_path: bool = True
    #: x-amz-content-sha256: UNSIGNED-PAYLOAD is taken, and presigned URLs sign UNSIGNED-PAYLOAD
    allow_unsigned_payload: bool = False
    #: x-amz-content-sha256: STREAMING-* is taken; the chunks' signatures are then the service's
    #: to check
    allow_streaming: bool = False
    max_skew_s: int = MAX_SKEW_S


#: S3's rules: the path signed as sent, unsigned and aws-chunked payloads taken
S3_RULES = SigningRules(double_encode_path=False, allow_unsigned_payload=True, allow_streaming=True)


class SecretLookup(Protocol):
    def secret_access_key(self, access_key_id: str, session_token: str | None) -> str:
        """The key's secret. Raises SignatureError: UNKNOWN_ACCESS_KEY, INVALID_TOKEN (a token that
        is not the key's, or none for a temporary key), EXPIRED_TOKEN."""
        ...


def authenticate(request: RequestView, secrets: SecretLookup, clock: Clock,
                 rules: SigningRules = SigningRules()) -> RequestSignature | Unsigned:
    """The request's checked signature, or UNSIGNED (whether that is accepted is the caller's
    choice). Raises SignatureError, checking in this order: an unreadable signature, its time (a
    stale request is refused before its key is looked up), its key and session token, the
    signature itself, then the body against its declared hash."""
    signature = read_signature(request)
    if isinstance(signature, Unsigned):
        return signature
    check_signing_time(signature, clock, rules.max_skew_s)
    secret = secrets.secret_access_key(signature.access_key_id, signature.session_token)
    verify_signature(request, signature, secret, clock, rules)
    return signature


def read_signature(request: RequestView) -> RequestSignature | Unsigned:
    """The request's signature as it states it, or UNSIGNED. Raises SignatureError when it cannot
    be read (INCOMPLETE_SIGNATURE, MALFORMED_QUERY_AUTH, INVALID_CREDENTIAL_SCOPE)."""
    authorization = request.header("authorization")
    query = _auth_params(request.query_string)
    is_presigned = any(name in query for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature"))
    if authorization is not None and is_presigned:
        raise SignatureError(SignatureFailure.MALFORMED_QUERY_AUTH,
                             "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
                             "query string parameter or the Authorization header should be specified")
    if authorization is not None:
        return _read_authorization(authorization, request)
    if is_presigned:
        return _read_presigned(query)
    return UNSIGNED


def check_signing_time(signature: RequestSignature, clock: Clock, max_skew_s: int = MAX_SKEW_S) -> None:
    """Refuse a signature made more than `max_skew_s` after now, or more than `max_skew_s` before
    it (a presigned URL: after its X-Amz-Expires). Raises SignatureError."""
    now = datetime.fromtimestamp(int(clock.time_s()), UTC)
    skew = timedelta(seconds=max_skew_s)
    signed = signature.signed_at
    if signed - now > skew:
        raise SignatureError(SignatureFailure.SIGNATURE_NOT_YET_CURRENT,
                             f"Signature not yet current: {_stamp(signed)} is still later than "
                             f"{_stamp(now + skew)} ({_stamp(now)} + {max_skew_s // 60} min.)")
    if signature.expires_at is not None:
        if now > signature.expires_at:
            raise SignatureError(SignatureFailure.PRESIGNED_EXPIRED, "Request has expired")
    elif now - signed > skew:
        raise SignatureError(SignatureFailure.SIGNATURE_EXPIRED,
                             f"Signature expired: {_stamp(signed)} is now earlier than "
                             f"{_stamp(now - skew)} ({_stamp(now)} - {max_skew_s // 60} min.)")


def verify_signature(request: RequestView, signature: RequestSignature, secret_access_key: str, clock: Clock,
                     rules: SigningRules = SigningRules()) -> str:
    """Check `signature` against the one `secret_access_key` gives for `request`, its time, and
    the body against x-amz-content-sha256. Returns the payload hash signed: the body's SHA-256,
    UNSIGNED-PAYLOAD, or a STREAMING-* value (the chunks are then the caller's to check).
    Raises SignatureError."""
    check_signing_time(signature, clock, rules.max_skew_s)
    payload_hash = _payload_hash(request, signature, rules)
    if not request.path.startswith("/"):
        raise SignatureError(SignatureFailure.SIGNATURE_MISMATCH)
    signer_class = _IncomingSigner if rules.double_encode_path else _IncomingPathAsSentSigner
    signer = signer_class(secret_access_key, signature.scope, _signed_headers(request, signature.signed_headers),
                          payload_hash)
    provided = signature.signature.encode()
    is_presigned = signature.form is SignatureForm.QUERY
    readings = product(_path_readings(request.path), _query_readings(request.query_string, is_presigned))
    if not any(hmac.compare_digest(signer.expected(request.method, path, query, signature.signed_at).encode(), provided)
               for path, query in readings):
        raise SignatureError(SignatureFailure.SIGNATURE_MISMATCH)
    if _SHA256_HEX.fullmatch(payload_hash) and payload_hash.lower() != hashlib.sha256(request.body).hexdigest():
        raise SignatureError(SignatureFailure.PAYLOAD_HASH_MISMATCH,
                             "The provided 'x-amz-content-sha256' header does not match what was computed.")
    return payload_hash


class _IncomingSigner(SigV4Auth):
    """botocore's signer, told what the client signed rather than choosing it: exactly its signed
    headers and its payload hash, at its signing time."""

    def __init__(self, secret_access_key: str, scope: CredentialScope, signed_headers: HTTPHeaders,
                 payload_hash: str) -> None:
        super().__init__(ReadOnlyCredentials("", secret_access_key, None), scope.service, scope.region)
        self._signed = signed_headers
        self._payload_hash = payload_hash

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash

    def expected(self, method: str, path: str, query: str, signed_at: datetime) -> str:
        # The host in the URL is never read: the Host header is among the signed headers.
        request = AWSRequest(method=method, url=f"http://ember.invalid{path}" + (f"?{query}" if query else ""))
        request.context["timestamp"] = signed_at.strftime(SIGV4_TIMESTAMP)
        return self.signature(self.string_to_sign(request, self.canonical_request(request)), request)


class _IncomingPathAsSentSigner(_IncomingSigner, S3SigV4Auth):
    """The same, with S3SigV4Auth's path: signed as sent, not encoded a second time."""


def _read_authorization(header: str, request: RequestView) -> RequestSignature:
    algorithm, *rest = re.split(r"\s+", header.strip(), maxsplit=1)
    if algorithm != ALGORITHM and algorithm.startswith("AWS4-"):
        raise SignatureError(SignatureFailure.INCOMPLETE_SIGNATURE, f"Unsupported AWS 'algorithm': '{algorithm}'")
    parts: dict[str, str] = {}
    # AWS takes commas, spaces or both between the parts
    for part in re.split(r"[,\s]+", rest[0]) if algorithm == ALGORITHM and rest else []:
        key, has_equals, value = part.partition("=")
        if part and not has_equals:
            raise SignatureError(SignatureFailure.INCOMPLETE_SIGNATURE,
                                 f"'{part}' not a valid key=value pair (missing equal-sign) in Authorization "
                                 f"header: '{header}'.")
        parts[key] = value
    missing = [f"Authorization header requires '{name}' parameter."
               for name in ("Credential", "Signature", "SignedHeaders") if not parts.get(name)]
    amz_date, http_date = request.header("x-amz-date"), request.header("date")
    if amz_date is None and http_date is None:
        missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if missing:
        raise SignatureError(SignatureFailure.INCOMPLETE_SIGNATURE, " ".join(missing) + f" Authorization={header}")
    access_key_id, scope = _read_credential(parts["Credential"], SignatureFailure.INCOMPLETE_SIGNATURE,
                                            "Credential must have exactly 5 slash-delimited elements, e.g. "
                                            f"keyid/date/region/service/term, got '{parts['Credential']}'")
    if amz_date is not None:
        signed_at = _read_amz_date(amz_date, SignatureFailure.INCOMPLETE_SIGNATURE,
                                   f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'. "
                                   "See http://en.wikipedia.org/wiki/ISO_8601")
    else:
        signed_at = _read_http_date(http_date or "")
    _check_scope_date(scope, signed_at)
    return RequestSignature(SignatureForm.HEADER, access_key_id, scope,
                            _read_signed_headers(parts["SignedHeaders"], SignatureFailure.INCOMPLETE_SIGNATURE),
                            parts["Signature"], signed_at, request.header("x-amz-security-token"))


def _read_presigned(query: Mapping[str, list[str]]) -> RequestSignature:
    malformed = SignatureFailure.MALFORMED_QUERY_AUTH
    for name in _PRESIGN_PARAMS:
        if len(query.get(name, [])) > 1:
            raise SignatureError(malformed, f"'{name}' must appear only once in the query string.")
    for name in _PRESIGN_REQUIRED:
        if not query.get(name, [""])[0]:
            raise SignatureError(malformed, f"AWS query-string parameters must include '{name}'. "
                                            "Re-examine the query-string parameters.")
    values = {name: query[name][0] for name in _PRESIGN_PARAMS if name in query}
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise SignatureError(malformed, f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    access_key_id, scope = _read_credential(
        values["X-Amz-Credential"], malformed,
        "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
        'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".')
    signed_at = _read_amz_date(values["X-Amz-Date"], malformed,
                               "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    _check_scope_date(scope, signed_at)
    expires_s = _read_expires(values["X-Amz-Expires"]) if "X-Amz-Expires" in values else None
    return RequestSignature(SignatureForm.QUERY, access_key_id, scope,
                            _read_signed_headers(values["X-Amz-SignedHeaders"], malformed),
                            values["X-Amz-Signature"], signed_at, values.get("X-Amz-Security-Token") or None,
                            expires_s)


def _read_credential(credential: str, failure: SignatureFailure, malformed: str) -> tuple[str, CredentialScope]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise SignatureError(failure, malformed)
    access_key_id, date, region, service, terminator = parts
    if terminator != SCOPE_TERMINATOR:
        raise SignatureError(SignatureFailure.INVALID_CREDENTIAL_SCOPE,
                             f"Credential should be scoped with a valid terminator: '{SCOPE_TERMINATOR}', "
                             f"not '{terminator}'.")
    if not region or not service:
        raise SignatureError(SignatureFailure.INVALID_CREDENTIAL_SCOPE,
                             f"Credential should be scoped to a valid region, not '{region}'." if not region else
                             "Credential should be scoped to correct service.")
    return access_key_id, CredentialScope(date, region, service)


def _read_signed_headers(text: str, failure: SignatureFailure) -> tuple[str, ...]:
    names = tuple(name.strip().lower() for name in text.split(";") if name.strip())
    if "host" not in names and ":authority" not in names:
        raise SignatureError(failure, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    return names


def _read_amz_date(text: str, failure: SignatureFailure, malformed: str) -> datetime:
    try:
        if not _AMZ_DATE.fullmatch(text):
            raise ValueError(text)
        return datetime.strptime(text, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureError(failure, malformed) from None


def _read_http_date(text: str) -> datetime:
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        raise SignatureError(SignatureFailure.INCOMPLETE_SIGNATURE,
                             f"Date must be in RFC 1123 format when there is no X-Amz-Date. Got '{text}'.") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _read_expires(text: str) -> int:
    failure = SignatureFailure.MALFORMED_QUERY_AUTH
    if not re.fullmatch(r"-?\d{1,12}", text):
        raise SignatureError(failure, "X-Amz-Expires should be a number")
    expires_s = int(text)
    if expires_s < 0:
        raise SignatureError(failure, "X-Amz-Expires must be non-negative")
    if expires_s > MAX_PRESIGNED_EXPIRES_S:
        raise SignatureError(failure, "X-Amz-Expires must be less than a week (in seconds); that is, the given "
                                      f"X-Amz-Expires must be less than {MAX_PRESIGNED_EXPIRES_S} seconds")
    return expires_s


def _check_scope_date(scope: CredentialScope, signed_at: datetime) -> None:
    stamp = _stamp(signed_at)
    if scope.date != stamp[:8]:
        raise SignatureError(SignatureFailure.INVALID_CREDENTIAL_SCOPE,
                             "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                             f"HTTP: '{scope.date}' != '{stamp[:8]}', from '{stamp}'.")


def _payload_hash(request: RequestView, signature: RequestSignature, rules: SigningRules) -> str:
    """The payload hash the client signed, refused if the service does not take it."""
    declared = request.header("x-amz-content-sha256")
    if declared is None:
        if signature.form is SignatureForm.QUERY and rules.allow_unsigned_payload:
            return UNSIGNED_PAYLOAD
        return hashlib.sha256(request.body).hexdigest()
    is_unsigned = declared in (UNSIGNED_PAYLOAD, _UNSIGNED_STREAMING)
    is_streaming = declared in STREAMING_PAYLOADS
    if ((is_unsigned and not rules.allow_unsigned_payload) or (is_streaming and not rules.allow_streaming)
            or not (is_unsigned or is_streaming or _SHA256_HEX.fullmatch(declared))):
        raise SignatureError(SignatureFailure.INVALID_PAYLOAD_HASH,
                             f"x-amz-content-sha256 must be a SHA-256 of the body here, not '{declared}'.")
    return declared


def _signed_headers(request: RequestView, names: Iterable[str]) -> HTTPHeaders:
    """The signed headers with their values as sent; one the request lacks signs as empty."""
    headers = HTTPHeaders()
    for name in names:
        for value in request.header_values(name) or [""]:
            headers[name] = value  # an email.message: assigning again adds a value
    return headers


def _path_readings(path: str) -> list[str]:
    """The path as sent, and (if different) encoded as AWS's signers encode it: what a client that
    left a character such as "!" unencoded, or sent "%3a", signed."""
    canonical = "/".join(_encode(unquote_to_bytes(_wire_bytes(segment))) for segment in path.split("/"))
    return [path] if canonical == path else [path, canonical]


def _query_readings(query_string: str, is_presigned: bool) -> list[str]:
    """The query as AWS reads it (before botocore sorts it): each pair decoded and encoded again,
    without a presigned URL's X-Amz-Signature. A bare "+" is a space to HTML forms and to most
    servers, a "+" to others: both readings are tried. Last, the query as sent, which is what
    botocore signs when handed a URL whose query is not encoded as AWS encodes it."""
    readings = []
    for plus_is_space in (True, False) if "+" in query_string else (True,):
        readings.append("&".join(f"{_encode(key)}={_encode(value)}"
                                 for key, value in _query_pairs(query_string, plus_is_space)
                                 if not (is_presigned and key == b"X-Amz-Signature")))
    as_sent = "&".join(piece for piece in query_string.split("&")
                       if not (is_presigned and unquote_to_bytes(piece.partition("=")[0]) == b"X-Amz-Signature"))
    return readings if as_sent in readings else [*readings, as_sent]


def _auth_params(query_string: str) -> dict[str, list[str]]:
    """The presigning parameters among the query's, decoded ("+" kept: a session token's base64
    has them)."""
    params: dict[str, list[str]] = {}
    for key, value in _query_pairs(query_string, plus_is_space=False):
        name = key.decode("utf-8", "replace")
        if name in _PRESIGN_PARAMS:
            params.setdefault(name, []).append(value.decode("utf-8", "replace"))
    return params


def _query_pairs(query_string: str, plus_is_space: bool) -> list[tuple[bytes, bytes]]:
    pairs = []
    for piece in _wire_bytes(query_string).split(b"&"):
        if not piece:
            continue
        key, _, value = piece.partition(b"=")
        if plus_is_space:
            key, value = key.replace(b"+", b" "), value.replace(b"+", b" ")
        pairs.append((unquote_to_bytes(key), unquote_to_bytes(value)))
    return pairs


def _wire_bytes(text: str) -> bytes:
    """A path or query back to the bytes sent (the edge reads them as latin-1)."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


def _encode(raw: bytes) -> str:
    return quote_from_bytes(raw, safe=_UNRESERVED)


def _stamp(moment: datetime) -> str:
    return moment.strftime(SIGV4_TIMESTAMP)
