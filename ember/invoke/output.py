"""Reads a runtime's merged stdout/stderr and splits it per invocation.

Ember's bootstraps end each invocation's output with a marker,
``\\0EMBER-END <request id>\\0\\n``, written after flushing and before reporting the
result; so once the result has arrived, all of that invocation's output is in the
pipe, and waiting for the marker gives it in full.

A custom runtime's bootstrap writes no marker: its output is taken once the pipe has been
quiet for a moment (`take_quiet`). What it wrote before posting its result is in the pipe by
then; what it writes later (or keeps in a buffer it has not flushed) goes with the next
invocation, as it would on Lambda.
"""

from __future__ import annotations

import asyncio
import contextlib

_MARKER_START = b"\x00EMBER-END "
_MARKER_END = b"\x00\n"
#: the most output kept for one invocation; the Tail needs only the last 4 KB
MAX_KEPT_BYTES = 1 << 20


class OutputCollector:
    """Accumulates output; `take(request_id)` returns an invocation's output once complete."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._finished: dict[str, bytes] = {}
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())
        self.is_closed = False

    async def _read(self) -> None:
        try:
            while True:
                chunk = await self._stream.read(65536)
                if not chunk:
                    break
                self._buffer += chunk
                self._split_markers()
                if len(self._buffer) > MAX_KEPT_BYTES:
                    del self._buffer[: len(self._buffer) - MAX_KEPT_BYTES]
                self._changed.set()
        finally:
            self.is_closed = True
            self._changed.set()

    def _split_markers(self) -> None:
        while True:
            start = self._buffer.find(_MARKER_START)
            if start < 0:
                return
            end = self._buffer.find(_MARKER_END, start + len(_MARKER_START))
            if end < 0:
                return
            request_id = self._buffer[start + len(_MARKER_START) : end].decode(errors="replace")
            self._finished[request_id] = bytes(self._buffer[:start])
            del self._buffer[: end + len(_MARKER_END)]

    def drain(self) -> bytes:
        """Everything read so far that belongs to no finished invocation (e.g. init output)."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    async def take(self, request_id: str, wait_s: float) -> bytes:
        """The output of `request_id`, waiting up to `wait_s` for its marker.

        Without a marker (a custom runtime, a dead process) returns whatever arrived.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while request_id not in self._finished and not self.is_closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        if request_id in self._finished:
            return self._finished.pop(request_id)
        return self.drain()

    async def take_quiet(self, quiet_s: float, max_wait_s: float) -> bytes:
        """Everything read so far, once no new output has arrived for `quiet_s` (waiting at most
        `max_wait_s` in all): the output of a runtime that writes no marker."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait_s
        while not self.is_closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(quiet_s, remaining))
            except TimeoutError:
                break  # quiet for quiet_s: what was written before the result is in
        return self.drain()

    async def settle(self, wait_s: float) -> None:
        """Wait up to `wait_s` for the stream to end (a dying process's last words)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), wait_s)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
