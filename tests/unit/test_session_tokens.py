"""Temporary credentials and the keyring they are made with: genuine ones open, nothing else does."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from ember.clock import FakeClock
from ember.iam.keyring import MASTER_KEY_FILE, Keyring, KeyringError, KeyUse
from ember.iam.session_tokens import SessionTokenExpired, SessionTokenRefused, SessionTokens

ROLE_SESSION = "arn:aws:sts::123456789012:assumed-role/deployer/build-7"
ROLE = "arn:aws:iam::123456789012:role/deployer"


def tokens(master: bytes = b"k" * 32, clock: FakeClock | None = None) -> SessionTokens:
    return SessionTokens(Keyring(master), clock or FakeClock())


def test_the_master_key_is_made_once_private_and_read_back(tmp_path: Path) -> None:
    first = Keyring.in_data_dir(tmp_path)
    path = tmp_path / MASTER_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    assert Keyring.in_data_dir(tmp_path).key(KeyUse.SESSION_TOKENS) == first.key(KeyUse.SESSION_TOKENS)
    assert [p.name for p in tmp_path.iterdir()] == [MASTER_KEY_FILE]  # no staging file left behind


def test_each_use_has_its_own_key_and_a_damaged_master_key_is_refused(tmp_path: Path) -> None:
    keyring = Keyring(os.urandom(32))
    keys = {keyring.key(use) for use in KeyUse}
    assert len(keys) == len(KeyUse)
    assert Keyring(b"a" * 32).key(KeyUse.SESSION_TOKENS) != Keyring(b"b" * 32).key(KeyUse.SESSION_TOKENS)
    (tmp_path / MASTER_KEY_FILE).write_bytes(b"short")
    with pytest.raises(KeyringError, match="32 bytes, not 5"):
        Keyring.in_data_dir(tmp_path)


def test_an_issued_session_opens_with_its_facts_and_secret() -> None:
    clock = FakeClock()
    issuer = tokens(clock=clock)
    issued = issuer.issue(ROLE_SESSION, ROLE, "AROAEXAMPLE:build-7", 900, '{"Version": "2012-10-17"}')
    assert issued.access_key_id.startswith("ASIA") and len(issued.access_key_id) == 20
    assert len(issued.secret_access_key) == 40
    assert issued.expires_at_s == int(clock.time_s()) + 900
    session, secret = issuer.open(issued.access_key_id, issued.session_token)
    assert secret == issued.secret_access_key
    assert (session.principal_arn, session.source_arn, session.user_id) == (ROLE_SESSION, ROLE, "AROAEXAMPLE:build-7")
    assert session.session_policy == '{"Version": "2012-10-17"}'
    # another server with the same master key opens it too (any node of a cluster)
    assert tokens(clock=clock).open(issued.access_key_id, issued.session_token)[1] == secret


def test_a_session_ends_at_its_expiry() -> None:
    clock = FakeClock()
    issuer = tokens(clock=clock)
    issued = issuer.issue(ROLE_SESSION, ROLE, "AROAEXAMPLE:build-7", 900)
    clock.advance(899.5)
    issuer.open(issued.access_key_id, issued.session_token)
    clock.advance(0.5)
    with pytest.raises(SessionTokenExpired):
        issuer.open(issued.access_key_id, issued.session_token)


@pytest.mark.parametrize("tamper", ["other key id", "other server", "flipped byte", "not a token", "empty"])
def test_tokens_that_are_not_genuine_are_refused(tamper: str) -> None:
    issuer = tokens()
    issued = issuer.issue(ROLE_SESSION, ROLE, "AROAEXAMPLE:build-7", 900)
    key_id, token = issued.access_key_id, issued.session_token
    if tamper == "other key id":
        key_id = issuer.issue(ROLE_SESSION, ROLE, "AROAEXAMPLE:build-7", 900).access_key_id
    elif tamper == "other server":
        issuer = tokens(master=b"z" * 32)
    elif tamper == "flipped byte":
        raw = bytearray(base64.urlsafe_b64decode(token))
        raw[40] ^= 1
        token = base64.urlsafe_b64encode(bytes(raw)).decode()
    elif tamper == "not a token":
        token = "FwoGZXIvYXdzE" + "A" * 200
    else:
        token = ""
    with pytest.raises(SessionTokenRefused):
        issuer.open(key_id, token)


def test_a_longer_session_cannot_be_made_from_a_genuine_one() -> None:
    # The facts are encrypted and authenticated: a client sees nothing it could edit.
    issuer = tokens()
    issued = issuer.issue(ROLE_SESSION, ROLE, "AROAEXAMPLE:build-7", 900)
    assert b"expires" not in base64.urlsafe_b64decode(issued.session_token)
    with pytest.raises(ValueError):  # not JSON, not even text
        json.loads(base64.urlsafe_b64decode(issued.session_token))
