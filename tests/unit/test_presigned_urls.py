"""Presigned code URLs: genuine ones open until they expire; an altered resource, expiry or
signature, or another key's signature, does not."""

from __future__ import annotations

import urllib.parse

import pytest

from ember.clock import FakeClock
from ember.iam.keyring import Keyring
from ember.iam.presigned_urls import CODE_URL_LIFETIME_S, MAX_URL_LIFETIME_S, PresignFailure, UrlSigner

DIGEST = "ab" * 32
RESOURCE = f"code/{DIGEST}"


def signer(clock: FakeClock, master: bytes = b"k" * 32, lifetime_s: int = CODE_URL_LIFETIME_S) -> UrlSigner:
    return UrlSigner(Keyring(master), clock, lifetime_s)


def pairs(query: str) -> list[tuple[str, str]]:
    return urllib.parse.parse_qsl(query, keep_blank_values=True)


def test_a_url_lasts_ten_minutes_and_not_a_second_more() -> None:
    clock = FakeClock(start_s=1_700_000_000.25)
    urls = signer(clock)
    presigned = urls.sign(RESOURCE)
    assert presigned.expires_at_s == 1_700_000_001 + 600  # rounded up: never shorter than it says
    query = pairs(presigned.query)
    assert [name for name, _ in query] == ["Expires", "Signature"]
    assert urls.check(RESOURCE, query) is None
    clock.advance(600)
    assert urls.check(RESOURCE, query) is None
    clock.advance(0.75)
    assert urls.check(RESOURCE, query) is PresignFailure.EXPIRED


def test_the_signature_covers_the_resource_and_the_expiry() -> None:
    clock = FakeClock()
    urls = signer(clock)
    presigned = urls.sign(RESOURCE)
    assert urls.check(f"code/{'cd' * 32}", pairs(presigned.query)) is PresignFailure.SIGNATURE_MISMATCH
    later = [("Expires", str(presigned.expires_at_s + 3600)), ("Signature", presigned.signature)]
    assert urls.check(RESOURCE, later) is PresignFailure.SIGNATURE_MISMATCH
    flipped = presigned.signature[:-1] + ("0" if presigned.signature[-1] != "0" else "1")
    assert urls.check(RESOURCE, [("Expires", str(presigned.expires_at_s)), ("Signature", flipped)]) is \
        PresignFailure.SIGNATURE_MISMATCH
    # An altered URL is a mismatch even once it would have expired: "expired" is said of genuine URLs only.
    clock.advance(7200)
    assert urls.check(RESOURCE, later) is PresignFailure.SIGNATURE_MISMATCH


def test_only_this_servers_key_makes_one() -> None:
    clock = FakeClock()
    theirs = signer(clock, master=b"x" * 32).sign(RESOURCE)
    assert signer(clock).check(RESOURCE, pairs(theirs.query)) is PresignFailure.SIGNATURE_MISMATCH


@pytest.mark.parametrize(("query", "failure"), [
    ("", PresignFailure.MISSING),
    ("Expires=2000000000", PresignFailure.MISSING),
    ("Signature=00", PresignFailure.MISSING),
    ("Expires=soon&Signature=00", PresignFailure.MALFORMED),
    ("Expires=-5&Signature=00", PresignFailure.MALFORMED),
    ("Expires=%C2%B2&Signature=00", PresignFailure.MALFORMED),  # a digit outside ASCII
    ("Expires=2000000000&Expires=1&Signature=00", PresignFailure.MALFORMED),
    ("Expires=2000000000&Signature=%FF%FE", PresignFailure.SIGNATURE_MISMATCH),
])
def test_what_is_not_a_presigned_url(query: str, failure: PresignFailure) -> None:
    assert signer(FakeClock()).check(RESOURCE, pairs(query)) is failure


@pytest.mark.parametrize("lifetime_s", [0, -1, MAX_URL_LIFETIME_S + 1])
def test_a_lifetime_is_between_a_second_and_a_week(lifetime_s: int) -> None:
    with pytest.raises(ValueError, match="between 1 second and"):
        signer(FakeClock(), lifetime_s=lifetime_s)
