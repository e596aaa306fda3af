"""Why a request's SigV4 signature was refused, as data, and how each service words it.

`sigv4` raises `SignatureError(failure, detail)`; the caller turns it into the service's own
API error with `refusal(signing_name, error)`, which the protocol layer then renders in the
service's wire format. The same failure reads differently per service family: Lambda and the
other JSON services answer an unknown key with `UnrecognizedClientException`, IAM and STS
(query protocol) with `InvalidClientTokenId`.

Where AWS's text depends on the request (the times of an expired signature, the parts missing
from an Authorization header) `sigv4` words it when it finds the fault and the error carries it
as `detail`; the table gives the fixed texts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ember.errors import (
    EmberError,
    ExpiredToken,
    ExpiredTokenException,
    IncompleteSignature,
    IncompleteSignatureException,
    InvalidClientTokenId,
    InvalidSignatureException,
    MissingAuthenticationToken,
    MissingAuthenticationTokenException,
    RequestExpired,
    SignatureDoesNotMatch,
    UnrecognizedClientException,
)


class SignatureFailure(StrEnum):
    """What is wrong with a request's signature (or its absence)."""

    #: no Authorization header and no X-Amz-Signature: refused where unsigned requests are not taken
    MISSING_AUTHENTICATION = "missing-authentication"
    #: an Authorization header that is not a readable AWS4-HMAC-SHA256 signature
    INCOMPLETE_SIGNATURE = "incomplete-signature"
    #: presigned query parameters missing, repeated or unreadable (X-Amz-Expires above a week too)
    MALFORMED_QUERY_AUTH = "malformed-query-auth"
    #: a credential scope whose date is not the signing date, or whose terminator is not aws4_request
    INVALID_CREDENTIAL_SCOPE = "invalid-credential-scope"
    #: an access key id nobody issued (raised by the caller's key lookup)
    UNKNOWN_ACCESS_KEY = "unknown-access-key"
    #: a session token that is not the access key's (raised by the caller's key lookup)
    INVALID_TOKEN = "invalid-token"
    #: a session token past its expiry (raised by the caller's key lookup)
    EXPIRED_TOKEN = "expired-token"
    #: the signature is not the one the secret access key gives for this request
    SIGNATURE_MISMATCH = "signature-mismatch"
    #: signed more than the allowed skew (15 minutes) before now
    SIGNATURE_EXPIRED = "signature-expired"
    #: signed more than the allowed skew after now
    SIGNATURE_NOT_YET_CURRENT = "signature-not-yet-current"
    #: a presigned URL used after X-Amz-Date + X-Amz-Expires
    PRESIGNED_EXPIRED = "presigned-expired"
    #: x-amz-content-sha256 names a SHA-256 the body does not have
    PAYLOAD_HASH_MISMATCH = "payload-hash-mismatch"
    #: x-amz-content-sha256 is neither a SHA-256 nor a value this service takes (UNSIGNED-PAYLOAD,
    #: STREAMING-*)
    INVALID_PAYLOAD_HASH = "invalid-payload-hash"


class SignatureError(Exception):
    """A refused signature: the failure, and AWS's wording where it depends on the request."""

    def __init__(self, failure: SignatureFailure, detail: str | None = None) -> None:
        super().__init__(f"{failure}: {detail}" if detail else str(failure))
        self.failure = failure
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Refusal:
    """How one service family answers one failure."""

    error: type[EmberError]
    #: the fixed text; None when the failure's own detail is the text
    message: str | None = None


#: Lambda and CloudWatch Logs word a refused key and a refused signature so
_TOKEN_INVALID = "The security token included in the request is invalid."
_TOKEN_EXPIRED = "The security token included in the request is expired"
_SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
                       "Check your AWS Secret Access Key and signing method. "
                       "Consult the service documentation for details.")

#: the services on AWS's JSON protocols: Lambda (rest-json), CloudWatch Logs and CloudWatch (json)
JSON_REFUSALS: Mapping[SignatureFailure, Refusal] = {
    SignatureFailure.MISSING_AUTHENTICATION: Refusal(MissingAuthenticationTokenException,
                                                     "Missing Authentication Token"),
    SignatureFailure.INCOMPLETE_SIGNATURE: Refusal(IncompleteSignatureException),
    SignatureFailure.MALFORMED_QUERY_AUTH: Refusal(IncompleteSignatureException),
    SignatureFailure.INVALID_CREDENTIAL_SCOPE: Refusal(InvalidSignatureException),
    SignatureFailure.UNKNOWN_ACCESS_KEY: Refusal(UnrecognizedClientException, _TOKEN_INVALID),
    SignatureFailure.INVALID_TOKEN: Refusal(UnrecognizedClientException, _TOKEN_INVALID),
    SignatureFailure.EXPIRED_TOKEN: Refusal(ExpiredTokenException, _TOKEN_EXPIRED),
    SignatureFailure.SIGNATURE_MISMATCH: Refusal(InvalidSignatureException, _SIGNATURE_MISMATCH),
    SignatureFailure.SIGNATURE_EXPIRED: Refusal(InvalidSignatureException),
    SignatureFailure.SIGNATURE_NOT_YET_CURRENT: Refusal(InvalidSignatureException),
    SignatureFailure.PRESIGNED_EXPIRED: Refusal(RequestExpired, "Request has expired"),
    # Outside S3 AWS hashes the body itself: a wrong or refused hash is a wrong signature.
    SignatureFailure.PAYLOAD_HASH_MISMATCH: Refusal(InvalidSignatureException, _SIGNATURE_MISMATCH),
    SignatureFailure.INVALID_PAYLOAD_HASH: Refusal(InvalidSignatureException, _SIGNATURE_MISMATCH),
}

#: the services on AWS's query protocol: IAM and STS
QUERY_REFUSALS: Mapping[SignatureFailure, Refusal] = {
    SignatureFailure.MISSING_AUTHENTICATION: Refusal(MissingAuthenticationToken,
                                                     "Request is missing Authentication Token"),
    SignatureFailure.INCOMPLETE_SIGNATURE: Refusal(IncompleteSignature),
    SignatureFailure.MALFORMED_QUERY_AUTH: Refusal(IncompleteSignature),
    SignatureFailure.INVALID_CREDENTIAL_SCOPE: Refusal(SignatureDoesNotMatch),
    SignatureFailure.UNKNOWN_ACCESS_KEY: Refusal(InvalidClientTokenId, _TOKEN_INVALID),
    # STS words a bad session token without the full stop (a raw 403 body, 2022)
    SignatureFailure.INVALID_TOKEN: Refusal(InvalidClientTokenId, _TOKEN_INVALID.removesuffix(".")),
    SignatureFailure.EXPIRED_TOKEN: Refusal(ExpiredToken, _TOKEN_EXPIRED),
    SignatureFailure.SIGNATURE_MISMATCH: Refusal(SignatureDoesNotMatch, _SIGNATURE_MISMATCH),
    SignatureFailure.SIGNATURE_EXPIRED: Refusal(SignatureDoesNotMatch),
    SignatureFailure.SIGNATURE_NOT_YET_CURRENT: Refusal(SignatureDoesNotMatch),
    SignatureFailure.PRESIGNED_EXPIRED: Refusal(RequestExpired, "Request has expired"),
    SignatureFailure.PAYLOAD_HASH_MISMATCH: Refusal(SignatureDoesNotMatch, _SIGNATURE_MISMATCH),
    SignatureFailure.INVALID_PAYLOAD_HASH: Refusal(SignatureDoesNotMatch, _SIGNATURE_MISMATCH),
}

#: each service's refusals, by the signing name in its credential scope; any other service is
#: answered as the JSON services answer
REFUSALS_BY_SERVICE: Mapping[str, Mapping[SignatureFailure, Refusal]] = {
    "lambda": JSON_REFUSALS,
    "logs": JSON_REFUSALS,
    "monitoring": JSON_REFUSALS,
    "iam": QUERY_REFUSALS,
    "sts": QUERY_REFUSALS,
}


def refusal(signing_name: str, error: SignatureError) -> EmberError:
    """The API error the service `signing_name` answers `error` with, worded as AWS words it."""
    entry = REFUSALS_BY_SERVICE.get(signing_name, JSON_REFUSALS)[error.failure]
    message = entry.message if entry.message is not None else error.detail or _SIGNATURE_MISMATCH
    return entry.error(message)
