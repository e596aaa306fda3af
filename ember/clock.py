"""Time, injected: the components that schedule, expire and time things read it from a Clock.

Two readings, kept apart as the stdlib keeps them:
- wall time (`time_s`, `time_ms`): epoch time, for what outlives the process or is shown to
  callers (an event's age, a REPORT's start and end, a metric's minute);
- monotonic time (`monotonic`): seconds from an arbitrary start, never stepping back, for
  intervals within the process (keep-alive, backoff).

`SystemClock` reads the system's; `FakeClock` stands still until a test advances it, so logic
that depends on time runs in a unit test without waiting. Stdlib only.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def time_s(self) -> float:
        """Wall time, epoch seconds."""
        ...

    def time_ms(self) -> int:
        """Wall time, whole epoch milliseconds."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; only differences mean anything."""
        ...

    async def sleep(self, delay_s: float) -> None:
        """Wait `delay_s` seconds of this clock's time."""
        ...


class SystemClock:
    """The system's clocks: `time.time`, `time.monotonic` and `asyncio.sleep`."""

    def time_s(self) -> float:
        return time.time()

    def time_ms(self) -> int:
        return int(time.time() * 1000)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, delay_s: float) -> None:
        await asyncio.sleep(delay_s)


class FakeClock:
    """A clock that moves only when told (`advance`); wall and monotonic time move together."""

    def __init__(self, start_s: float = 1_700_000_000.0, monotonic_start_s: float = 1000.0) -> None:
        self._wall_s = start_s
        self._monotonic_s = monotonic_start_s

    def time_s(self) -> float:
        return self._wall_s

    def time_ms(self) -> int:
        return int(self._wall_s * 1000)

    def monotonic(self) -> float:
        return self._monotonic_s

    def advance(self, delay_s: float) -> None:
        if delay_s < 0:
            raise ValueError("a clock does not go back")
        self._wall_s += delay_s
        self._monotonic_s += delay_s

    async def sleep(self, delay_s: float) -> None:
        """Moves the clock on at once (yielding to the loop once, as a real sleep would)."""
        self.advance(max(0.0, delay_s))
        await asyncio.sleep(0)
