"""Dashboard sessions: the cookie opens only as this server sealed it and until it ends; it never
holds a secret; the CSRF token belongs to one session."""

from __future__ import annotations

import base64

import pytest

from ember.clock import FakeClock
from ember.iam.dashboard_sessions import SESSION_LIFETIME_S, DashboardSessions, SessionRefused
from ember.iam.keyring import Keyring
from ember.services.dashboard_access import cookie_values

KEY_ID = "AKIAEXAMPLEEXAMPLE00"


def sessions(clock: FakeClock, master: bytes = b"k" * 32) -> DashboardSessions:
    return DashboardSessions(Keyring(master), clock)


def test_a_session_opens_until_it_ends_twelve_hours_later() -> None:
    clock = FakeClock()
    made = sessions(clock)
    session, cookie = made.open(KEY_ID)
    assert session.expires_at_s == int(clock.time_s()) + SESSION_LIFETIME_S == int(clock.time_s()) + 12 * 3600
    assert made.read(cookie) == session
    clock.advance(SESSION_LIFETIME_S - 1)
    assert made.read(cookie) == session
    clock.advance(1)
    with pytest.raises(SessionRefused, match="ended"):
        made.read(cookie)


def test_the_cookie_is_sealed_and_names_no_key() -> None:
    made = sessions(FakeClock())
    _, cookie = made.open(KEY_ID)
    assert KEY_ID not in cookie and KEY_ID.encode() not in base64.urlsafe_b64decode(cookie)
    assert set(cookie) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=")  # cookie-safe
    raw = bytearray(base64.urlsafe_b64decode(cookie))
    raw[40] ^= 1
    for forged in (base64.urlsafe_b64encode(bytes(raw)).decode(), cookie[:-4], "", "not a cookie",
                   sessions(FakeClock(), master=b"x" * 32).open(KEY_ID)[1]):
        with pytest.raises(SessionRefused):
            made.read(forged)


def test_the_csrf_token_belongs_to_its_session() -> None:
    made = sessions(FakeClock())
    first, _ = made.open(KEY_ID)
    second, _ = made.open(KEY_ID)
    token = made.csrf_token(first)
    assert made.is_csrf_token(first, token)
    assert not made.is_csrf_token(second, token)
    assert not made.is_csrf_token(first, None) and not made.is_csrf_token(first, "") and \
        not made.is_csrf_token(first, token[:-1] + "é")
    assert sessions(FakeClock(), master=b"x" * 32).csrf_token(first) != token


def test_cookie_values_are_read_by_name_in_order() -> None:
    header = 'theme=dark; ember_session=one; ember_session_x=no;ember_session="two"; broken'
    assert cookie_values(header, "ember_session") == ["one", "two"]
    assert cookie_values(None, "ember_session") == []
