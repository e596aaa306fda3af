"""Hands invocation logs from the invoke path to the LogStore without slowing it down.

`submit` only appends to a bounded in-memory buffer; a writer task commits whatever has
gathered every FLUSH_INTERVAL_S in one transaction. So a crash (kill -9) of Ember loses at
most the logs of the last flush interval; a clean shutdown flushes everything. If the store
falls behind by more than MAX_BUFFERED_BYTES, the oldest buffered logs are dropped (and
counted) rather than letting memory grow or an invoke wait.

The writer also enforces retention: once a minute it deletes events older than their group's
retention.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time

from ember.telemetry.log_store import LogStore, PendingEvents, now_ms

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.2
MAX_BUFFERED_BYTES = 32 * 1024 * 1024
RETENTION_SWEEP_INTERVAL_S = 60.0


class LogWriter:
    def __init__(self, store: LogStore) -> None:
        self.store = store
        self._buffer: collections.deque[tuple[int, PendingEvents, int]] = collections.deque()
        self._buffered_bytes = 0
        self._submitted = 0  #: sequence number of the last submitted batch
        self._written = 0  #: sequence number of the last batch the store committed (or gave up on)
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self.dropped_events = 0
        self._task: asyncio.Task[None] | None = None
        self._is_stopping = False
        self._next_sweep = time.monotonic() + RETENTION_SWEEP_INTERVAL_S

    def start(self) -> None:
        self._task = asyncio.create_task(self._write_forever())

    def submit(self, group_name: str, stream_name: str, events: list[tuple[int, str]]) -> None:
        """Queue events (timestamp_ms, message) for a stream; never blocks, never raises."""
        if not events:
            return
        size = sum(len(message) for _, message in events)
        self._submitted += 1
        self._buffer.append((self._submitted, PendingEvents(group_name, stream_name, events), size))
        self._buffered_bytes += size
        while self._buffered_bytes > MAX_BUFFERED_BYTES and len(self._buffer) > 1:
            _, dropped, dropped_size = self._buffer.popleft()
            self._buffered_bytes -= dropped_size
            self.dropped_events += len(dropped.events)
            log.warning("log store is behind: dropped %d log events of %s", len(dropped.events), dropped.group_name)

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
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + RETENTION_SWEEP_INTERVAL_S
                try:
                    await self.store.delete_expired(now_ms())
                except Exception:
                    log.exception("could not delete expired log events")

    async def _write_buffered(self) -> None:
        if not self._buffer:
            return
        taken = list(self._buffer)
        self._buffer.clear()
        self._buffered_bytes = 0
        try:
            await self.store.append([pending for _, pending, _ in taken])
        except Exception as exc:
            # A full disk passes: keep the batches (ahead of newer ones, within MAX_BUFFERED_BYTES)
            # and try again at the next flush, rather than losing them.
            log.warning("could not write %d log batches (%s); kept to try again", len(taken), exc)
            self._buffer.extendleft(reversed(taken))
            self._buffered_bytes += sum(size for _, _, size in taken)
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
