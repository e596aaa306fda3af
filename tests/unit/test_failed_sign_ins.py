"""The dashboard's sign-in slows secret guessing: a key id refused after five wrong secrets in a minute."""

from __future__ import annotations

from ember.clock import FakeClock
from ember.services.dashboard_access import MAX_FAILED_SIGN_INS, SIGN_IN_WINDOW_S, FailedSignIns


def test_a_key_id_is_locked_after_five_failures_in_the_window_and_free_after_it() -> None:
    clock = FakeClock()
    failures = FailedSignIns(clock)
    for _ in range(MAX_FAILED_SIGN_INS - 1):
        failures.failed("AKIAONE")
    assert not failures.is_locked("AKIAONE")
    failures.failed("AKIAONE")
    assert failures.is_locked("AKIAONE")
    assert not failures.is_locked("AKIATWO")  # one key's failures lock that key alone
    clock.advance(SIGN_IN_WINDOW_S - 1)
    assert failures.is_locked("AKIAONE")
    clock.advance(1)
    assert not failures.is_locked("AKIAONE")


def test_failures_spread_over_more_than_the_window_never_lock() -> None:
    clock = FakeClock()
    failures = FailedSignIns(clock)
    for _ in range(3 * MAX_FAILED_SIGN_INS):
        failures.failed("AKIAONE")
        clock.advance(SIGN_IN_WINDOW_S / (MAX_FAILED_SIGN_INS - 1) + 0.1)
        assert not failures.is_locked("AKIAONE")
