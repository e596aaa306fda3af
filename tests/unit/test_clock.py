"""The clocks: the fake one moves only when told, the system one reads the system's."""

from __future__ import annotations

import asyncio
import time

import pytest

from ember.clock import Clock, FakeClock, SystemClock


def test_a_fake_clock_stands_still_until_advanced() -> None:
    clock = FakeClock(start_s=1_700_000_000.5, monotonic_start_s=10.0)
    assert (clock.time_s(), clock.time_ms(), clock.monotonic()) == (1_700_000_000.5, 1_700_000_000_500, 10.0)
    clock.advance(1.25)
    assert (clock.time_ms(), clock.monotonic()) == (1_700_000_001_750, 11.25)
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_a_fake_sleep_moves_the_clock_at_once() -> None:
    clock = FakeClock()
    asyncio.run(clock.sleep(30))
    assert clock.monotonic() == 1030.0


def test_the_system_clock_reads_the_systems() -> None:
    clock: Clock = SystemClock()
    assert abs(clock.time_s() - time.time()) < 1
    assert abs(clock.time_ms() - time.time() * 1000) < 1000
    assert clock.monotonic() <= time.monotonic()
