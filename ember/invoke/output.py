"""Reads a runtime's merged stdout/stderr and streams it, line by line, to where it belongs.

Each line is stamped when it arrives (as CloudWatch stamps a Lambda function's lines) and handed
at once to the current sink: the running invocation's log while one runs, else the
environment's own (its init output, what its threads print between invocations). Nothing is
held back beyond the line being written: memory stays bounded whatever a function prints.

The end of an invocation's output: Ember's bootstraps write ``\\0EMBER-END <nonce>\\0\\n``
after flushing and before posting the result, where the nonce is a secret the host handed
with that invocation alone (the ``Ember-Output-Marker`` header of /invocation/next). Only
that exact marker counts, so a function printing marker-like text only prints text; once the
result has arrived, waiting for the marker gives the invocation's output in full.

A custom runtime's bootstrap writes no marker: its output is taken once the pipe has been
quiet for a moment (`wait_quiet`). What it writes later goes to the environment's log.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import secrets
from collections.abc import Callable

from ember.clock import Clock, SystemClock

#: CloudWatch Logs takes events up to 256 KB (with 26 bytes of overhead); a longer line is
#: split into several events rather than cut
MAX_LINE_BYTES = 256 * 1024 - 26
#: LogType=Tail returns the last 4 KB of the invocation's log
TAIL_BYTES = 4096
_READ_BYTES = 65536
_MARKER_START = b"\x00EMBER-END "
_MARKER_END = b"\x00\n"
#: a marker is never longer than this; the end of an over-long line is kept back this much in
#: case a marker starts in it
_MAX_MARKER_BYTES = 128

#: where lines go: (timestamp_ms, message ending in "\n") events, in order
LineSink = Callable[[list[tuple[int, str]]], None]


def new_marker_nonce() -> str:
    """A fresh secret for one invocation's end-of-output marker."""
    return secrets.token_hex(16)


def end_marker(nonce: str) -> bytes:
    return _MARKER_START + nonce.encode() + _MARKER_END


class LogTail:
    """A sink that passes events on and keeps the last `TAIL_BYTES` of their text (LogType=Tail)."""

    def __init__(self, sink: LineSink, clock: Clock | None = None) -> None:
        self._sink = sink
        self._clock = clock or SystemClock()
        self._kept: collections.deque[str] = collections.deque()
        self._kept_chars = 0

    def __call__(self, events: list[tuple[int, str]]) -> None:
        self._sink(events)
        for _, message in events[-TAIL_BYTES:]:
            message = message[-TAIL_BYTES:]
            self._kept.append(message)
            self._kept_chars += len(message)
        while len(self._kept) > 1 and self._kept_chars - len(self._kept[0]) >= TAIL_BYTES:
            self._kept_chars -= len(self._kept.popleft())

    def write(self, message: str) -> None:
        """One line of the platform's own (START, END, REPORT), stamped now."""
        self([(self._clock.time_ms(), message)])

    def clear(self) -> None:
        self._kept.clear()
        self._kept_chars = 0

    def text(self) -> str:
        """The kept end of the log: its last `TAIL_BYTES` characters (so at least as many bytes)."""
        return "".join(self._kept)[-TAIL_BYTES:]


class OutputCollector:
    """Streams an environment's output to its current sink, line by line, each line stamped with
    the wall time it was read at."""

    def __init__(self, stream: asyncio.StreamReader, sink: LineSink, clock: Clock | None = None) -> None:
        self._stream = stream
        self._clock = clock or SystemClock()
        self._default_sink = sink
        self._sink = sink
        self._partial = bytearray()  #: the line being written (no newline yet)
        self._marker: bytes | None = None
        self.is_marker_seen = False
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._read())
        self.is_closed = False

    def attach(self, sink: LineSink, nonce: str | None) -> None:
        """Output goes to `sink` (an invocation's log) until `detach`; `nonce` is that
        invocation's marker secret (None: its runtime writes no marker)."""
        self._sink = sink
        self._marker = end_marker(nonce) if nonce else None
        self.is_marker_seen = False

    def detach(self) -> None:
        """The invocation is over: what it left unfinished ends its log; later output is the
        environment's."""
        self._emit(bytes(self._partial), self._clock.time_ms())
        self._partial.clear()
        self._sink = self._default_sink
        self._marker = None

    async def _read(self) -> None:
        try:
            while True:
                chunk = await self._stream.read(_READ_BYTES)
                if not chunk:
                    break
                self._feed(chunk, self._clock.time_ms())
                self._changed.set()
        finally:
            self._emit(bytes(self._partial), self._clock.time_ms())
            self._partial.clear()
            self.is_closed = True
            self._changed.set()

    def _feed(self, chunk: bytes, stamp_ms: int) -> None:
        self._partial += chunk
        end = self._partial.rfind(b"\n")
        if end >= 0:
            complete = bytes(self._partial[: end + 1])
            del self._partial[: end + 1]
            marker = self._marker
            at = complete.find(marker) if marker is not None else -1
            if marker is not None and at >= 0:
                self._emit(complete[:at], stamp_ms)
                self._marker = None
                self.is_marker_seen = True
                complete = complete[at + len(marker):]
            self._emit(complete, stamp_ms)
        if len(self._partial) > MAX_LINE_BYTES + _MAX_MARKER_BYTES:
            # A line that never ends: passed on in pieces; its end is kept back, where a marker may start.
            cut = len(self._partial) - _MAX_MARKER_BYTES
            piece = bytes(self._partial[:cut])
            del self._partial[:cut]
            self._emit(piece, stamp_ms)

    def _emit(self, data: bytes, stamp_ms: int) -> None:
        if not data:
            return
        lines = data.split(b"\n")
        if data.endswith(b"\n"):
            lines.pop()  # the text ends with a newline: no line after it
        events = [(stamp_ms, line[start : start + MAX_LINE_BYTES].decode(errors="replace") + "\n")
                  for line in lines for start in range(0, max(len(line), 1), MAX_LINE_BYTES)]
        self._sink(events)

    async def wait_marker(self, wait_s: float) -> bool:
        """Wait up to `wait_s` for the attached invocation's marker; False if it never came (a
        dead process, or output still pouring out)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while not self.is_marker_seen and not self.is_closed:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.is_marker_seen

    async def wait_quiet(self, quiet_s: float, max_wait_s: float) -> None:
        """Return once no new output has arrived for `quiet_s` (waiting at most `max_wait_s` in
        all): the end of the output of a runtime that writes no marker."""
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

    async def settle(self, wait_s: float) -> None:
        """Wait up to `wait_s` for the stream to end (a dying process's last words)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), wait_s)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
