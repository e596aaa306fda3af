"""Hands invocation logs from the invoke path to the LogStore without slowing it down.

`submit` only appends to a bounded in-memory buffer; a writer task commits whatever has
gathered every FLUSH_INTERVAL_S in one transaction (`flush` has it commit at once, for whoever
must know the lines are stored: the async dispatcher before it removes an event). So a crash
(kill -9) of Ember loses at most the logs of the last flush interval; a clean shutdown flushes
everything. If the store falls behind by more than MAX_BUFFERED_BYTES, new events are dropped
until the buffer is written, rather than letting memory grow or an invoke wait; never
silently: each stream that lost some gets a `[… N bytes dropped …]` event where the gap is,
and `dropped_events` (Prometheus `ember_log_events_dropped`) counts them.

The writer also enforces retention: once a minute it deletes events older than their group's
retention.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

from ember.clock import Clock, SystemClock
from ember.telemetry.log_store import LogStore, PendingEvents

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.2
MAX_BUFFERED_BYTES = 32 * 1024 * 1024
#: what a buffered event costs beyond its text (tuple, int, str header): short lines count too
EVENT_OVERHEAD_BYTES = 100
RETENTION_SWEEP_INTERVAL_S = 60.0


class LogWriter:
    def __init__(self, store: LogStore, clock: Clock | None = None) -> None:
        self.store = store
        #: monotonic time between retention sweeps, wall time for what a sweep deletes
        self.clock = clock or SystemClock()
        self._buffer: collections.deque[tuple[int, PendingEvents, int]] = collections.deque()
        self._buffered_bytes = 0
        self._submitted = 0  #: sequence number of the last submitted batch
        self._written = 0  #: sequence number of the last batch the store committed (or gave up on)
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self.dropped_events = 0
        #: (group, stream) → (timestamp of the first dropped event, bytes dropped) since the last write
        self._dropped: dict[tuple[str, str], tuple[int, int]] = {}
        self._task: asyncio.Task[None] | None = None
        self._is_stopping = False
        self._is_failing = False  #: the last write failed (logged once per run of failures)
        self._next_sweep = self.clock.monotonic() + RETENTION_SWEEP_INTERVAL_S

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_forever())

    def submit(self, group_name: str, stream_name: str, events: list[tuple[int, str]]) -> None:
        """Queue events (timestamp_ms, message) for a stream; never blocks, never raises."""
        if not events:
            return
        size = sum(len(message) for _, message in events) + EVENT_OVERHEAD_BYTES * len(events)
        if self._buffered_bytes + size > MAX_BUFFERED_BYTES or self._dropped:
            # Full: drop until the buffer is written (then the gap's marker goes first), so what is
            # kept of a stream is its start and, after the marker, what came once there was room.
            key = (group_name, stream_name)
            first_ms, dropped_bytes = self._dropped.get(key, (events[0][0], 0))
            if not self._dropped:
                log.warning("log store is behind: dropping log events until the buffer is written")
            self._dropped[key] = (first_ms, dropped_bytes + sum(len(message.encode()) for _, message in events))
            self.dropped_events += len(events)
            return
        self._submitted += 1
        self._buffer.append((self._submitted, PendingEvents(group_name, stream_name, events), size))
        self._buffered_bytes += size

    async def flush(self) -> None:
        """Return once everything submitted before the call is committed (reads see their writes)."""
        target = self._submitted
        if self._written >= target:
            return
        self._wake.set()
        async with self._progress:
            await self._progress.wait_for(lambda: self._written >= target or self._task is None
                                          or self._task.done())

    async def _write_forever(self) -> None:
        while not self._is_stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL_S)
            self._wake.clear()
            await self._write_buffered()
            if self._is_stopping:
                return
            if self.clock.monotonic() >= self._next_sweep:
                self._next_sweep = self.clock.monotonic() + RETENTION_SWEEP_INTERVAL_S
                try:
                    await self.store.delete_expired(self.clock.time_ms())
                except Exception:
                    log.exception("could not delete expired log events")

    async def _write_buffered(self) -> None:
        if not self._buffer and not self._dropped:
            return
        taken = list(self._buffer)
        batches = [pending for _, pending, _ in taken]
        # After what was buffered before the drops: one event per stream that lost some.
        batches += [PendingEvents(group, stream, [(first_ms, f"[… {dropped_bytes} bytes dropped …]\n")])
                    for (group, stream), (first_ms, dropped_bytes) in self._dropped.items()]
        self._buffer.clear()
        self._buffered_bytes = 0
        dropped, self._dropped = self._dropped, {}
        try:
            await self.store.append(batches)
        except Exception as exc:
            # A full disk passes: keep the batches (ahead of newer ones, within MAX_BUFFERED_BYTES) and
            # try again at the next flush rather than lose them; whoever waits in flush() waits on.
            if not self._is_failing:
                log.warning("could not write %d log batches (%s); kept to try again", len(batches), exc)
            self._is_failing = True
            self._buffer.extendleft(reversed(taken))
            self._buffered_bytes += sum(size for _, _, size in taken)
            for key, (first_ms, dropped_bytes) in dropped.items():
                later_ms, later_bytes = self._dropped.get(key, (first_ms, 0))
                self._dropped[key] = (min(first_ms, later_ms), dropped_bytes + later_bytes)
            return
        if self._is_failing:
            log.info("log batches are written again")
            self._is_failing = False
        if taken:
            async with self._progress:
                self._written = taken[-1][0]
                self._progress.notify_all()

    async def close(self) -> None:
        """Shutdown: let the writer task finish its batch and stop, then write what is left."""
        self._is_stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self._write_buffered()
