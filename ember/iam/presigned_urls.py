"""Presigned URLs for what Ember hands out to download (GetFunction's `Code.Location`,
GetLayerVersion's `Content.Location`): usable with nothing but an HTTP client, for a while.

AWS answers those operations with an S3 presigned URL that lasts 10 minutes; Ember's URL points
at its own `/_ember/code/<sha256>.zip` and carries the same two facts as query parameters:

    ?Expires=<Unix time>&Signature=<hex HMAC-SHA256>

The signature is an HMAC over the resource (the zip's digest) and the expiry, under a key derived
for presigned URLs alone, so neither can be changed, and no other key Ember holds (session tokens,
dashboard sessions) can make one. Stateless: any node sharing the master key checks a URL another
node made. The time comes from a Clock.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from ember.clock import Clock
from ember.iam.keyring import Keyring, KeyUse

#: GetFunction's Code.Location "is a presigned URL you can use to download the deployment package
#: [...] valid for 10 minutes" (Lambda API reference, FunctionCodeLocation)
CODE_URL_LIFETIME_S = 600
#: the longest an S3 presigned URL may last (SigV4's X-Amz-Expires: a week)
MAX_URL_LIFETIME_S = 7 * 24 * 3600
EXPIRES_PARAM = "Expires"
SIGNATURE_PARAM = "Signature"


class PresignFailure(StrEnum):
    """Why a presigned URL is refused."""

    MISSING = "missing"  #: no Expires or no Signature: not a presigned URL at all
    MALFORMED = "malformed"  #: an Expires that is not a whole number, a parameter given twice
    SIGNATURE_MISMATCH = "signature-mismatch"  #: the signature does not cover this resource and expiry
    EXPIRED = "expired"  #: a genuine URL whose time is up


@dataclass(frozen=True)
class Presigned:
    """One presigned URL's parameters."""

    expires_at_s: int  #: Unix time, whole seconds
    signature: str  #: hex

    @property
    def query(self) -> str:
        """The URL's query string, without the "?"."""
        return urllib.parse.urlencode({EXPIRES_PARAM: self.expires_at_s, SIGNATURE_PARAM: self.signature})


class UrlSigner:
    """Makes presigned URLs that last `lifetime_s`, and checks the ones presented."""

    def __init__(self, keyring: Keyring, clock: Clock, lifetime_s: int = CODE_URL_LIFETIME_S) -> None:
        if not 0 < lifetime_s <= MAX_URL_LIFETIME_S:
            raise ValueError(f"a presigned URL lasts between 1 second and {MAX_URL_LIFETIME_S} seconds, "
                             f"not {lifetime_s}")
        self._key = keyring.key(KeyUse.PRESIGNED_URLS)
        self._clock = clock
        self.lifetime_s = lifetime_s

    def sign(self, resource: str) -> Presigned:
        """Parameters that let anyone fetch `resource` for the next `lifetime_s` seconds."""
        # Rounded up: a URL never lasts less than it says.
        expires_at_s = math.ceil(self._clock.time_s()) + self.lifetime_s
        return Presigned(expires_at_s, self._signature(resource, expires_at_s))

    def check(self, resource: str, query: Iterable[tuple[str, str]]) -> PresignFailure | None:
        """None when `query` (decoded pairs) presigns `resource` and has not expired; else why not.
        The signature is checked before the expiry: "expired" is said of genuine URLs only."""
        expires_values = [value for name, value in query if name == EXPIRES_PARAM]
        signatures = [value for name, value in query if name == SIGNATURE_PARAM]
        if not expires_values or not signatures:
            return PresignFailure.MISSING
        if len(expires_values) > 1 or len(signatures) > 1 or not expires_values[0].isascii() \
                or not expires_values[0].isdigit():
            return PresignFailure.MALFORMED
        expires_at_s = int(expires_values[0])
        expected = self._signature(resource, expires_at_s)
        if not hmac.compare_digest(expected.encode(), signatures[0].encode("utf-8", "replace")):
            return PresignFailure.SIGNATURE_MISMATCH
        if self._clock.time_s() >= expires_at_s:
            return PresignFailure.EXPIRED
        return None

    def _signature(self, resource: str, expires_at_s: int) -> str:
        message = f"ember presigned url\n{resource}\n{expires_at_s}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
