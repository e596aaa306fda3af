"""uvicorn's HTTP/1.1 protocol with the limits a server facing slow or hostile clients needs.

uvicorn waits for a request's head as long as the client likes (a connection that sends half a
head is held forever) and counts connections only to answer 503 once a head is in. Here:

- a request's head (its line and headers) must arrive within `header_timeout_s` of the
  connection opening or of the request's first byte, or the connection is closed, and may not
  be longer than MAX_HEAD_BYTES (httptools itself takes heads of any length);
- a request's body may not pause longer than `body_timeout_s` while Ember is reading it, or it is
  answered 408 and the connection closed (the app then sees a disconnect: a part of a body is
  never handled as if it were all of it);
- a request that is not HTTP gets an AWS-shaped 400 rather than uvicorn's plain text;
- beyond `max_connections` open connections, a new one is answered 503 at once and closed, so
  descriptors stay for the clients already being served.

Both timeouts are timers of the connection's own, so the invoke path pays no task per request.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("ember.edge")

#: the longest request head (line and headers) read; AWS's own front ends stop at a few dozen KB
MAX_HEAD_BYTES = 64 * 1024


def _error_response(status: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 error response that closes the connection, in the AWS JSON shape."""
    body = json.dumps({"__type": code, "message": message}).encode()
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nx-amzn-errortype: {code}\r\n"
            f"connection: close\r\ncontent-length: {len(body)}\r\n\r\n").encode() + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with head and body timeouts and a cap on open connections (see the module doc)."""

    #: connections refused since start, across every instance (for the log's rate limit)
    refused_connections = 0

    def __init__(self, *args: Any, header_timeout_s: float, body_timeout_s: float, max_connections: int,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._body_timeout_s = body_timeout_s
        self._max_connections = max_connections
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        #: loop time the current body last made progress (a piece arrived, or its head ended)
        self._body_progress_at = 0.0
        self._body_bytes = 0
        #: bytes received since the current head began (counted per chunk, so about)
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            cls = type(self)
            cls.refused_connections += 1
            if cls.refused_connections == 1 or cls.refused_connections % 1000 == 0:
                log.warning("%d open connections, more than the %d allowed (EMBER_MAX_CONNECTIONS): refusing new "
                            "ones (%d refused so far)", len(self.connections), self._max_connections,
                            cls.refused_connections)
            transport.write(_OVERLOADED_RESPONSE)  # before reading anything: the head may never come
            transport.close()
            return
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        is_in_head = self._head_timer is not None
        if is_in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        # Checked after parsing: a chunk that completed the head (and began the body) is no offence.
        if is_in_head and self._head_timer is not None and self._head_bytes > MAX_HEAD_BYTES \
                and not self.transport.is_closing():
            self.send_400_response(f"request head over {MAX_HEAD_BYTES} bytes")

    def send_400_response(self, msg: str) -> None:
        # uvicorn answers a request it cannot parse (a head too long, bytes that are not HTTP) in
        # plain text; AWS clients read an error type, so they get one.
        self.transport.write(_error_response(
            "400 Bad Request", "ValidationException",
            f"Ember could not read the request as HTTP/1.1: {msg.rstrip('.')}. Send a well-formed request whose "
            f"line and headers together are at most {MAX_HEAD_BYTES // 1024} KB"))
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        self._head_bytes = 0
        head_bytes = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if head_bytes > MAX_HEAD_BYTES:  # it came in one piece: the count in data_received never saw it whole
            self.send_400_response(f"request head over {MAX_HEAD_BYTES} bytes")
            return
        super().on_headers_complete()
        self._body_progress_at, self._body_bytes = self.loop.time(), 0
        if self._body_timer is None:
            self._body_timer = self.loop.call_later(self._body_timeout_s, self._body_timed_out)

    def on_body(self, body: bytes) -> None:
        self._body_progress_at = self.loop.time()  # the timer looks at this when it fires
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm_body_timer()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        self._disarm_body_timer()
        super().connection_lost(exc)

    def _disarm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing() or self.cycle is None or self.cycle.response_complete:
            return  # answered without waiting for the rest (an error): nothing to time
        waited_s = self.loop.time() - self._body_progress_at
        if waited_s < self._body_timeout_s or self.flow.read_paused:
            # Progress since the timer was set, or Ember itself is not reading: look again later.
            delay_s = self._body_timeout_s - waited_s if waited_s < self._body_timeout_s else self._body_timeout_s
            self._body_timer = self.loop.call_later(delay_s, self._body_timed_out)
            return
        log.warning("%s %s abandoned: its body paused for more than %g s after %d bytes", self.scope["method"],
                    self.scope["path"], self._body_timeout_s, self._body_bytes)
        self.transport.write(_error_response(
            "408 Request Timeout", "RequestTimeoutException",
            f"Ember stopped waiting for the request's body: it paused for more than {self._body_timeout_s:g} s "
            f"after {self._body_bytes} bytes. Send the whole body without long pauses"))
        self.transport.close()  # the app sees a disconnect, and handles nothing

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self._header_timeout_s, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        # A keep-alive connection that sent nothing more is uvicorn's keep-alive timeout's to close;
        # this one is either new and silent or in the middle of a head.
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            log.info("closing a connection whose request head did not arrive within %g s", self._header_timeout_s)
            self.transport.close()


_OVERLOADED_RESPONSE = _error_response("503 Service Unavailable", "ServiceUnavailableException",
                                       "Ember has too many open connections; retry shortly")


def guarded_protocol(header_timeout_s: float, body_timeout_s: float, max_connections: int) -> Any:
    """The protocol class for uvicorn's `http=` setting, with these limits bound."""
    return functools.partial(GuardedHttpProtocol, header_timeout_s=header_timeout_s, body_timeout_s=body_timeout_s,
                             max_connections=max_connections)
