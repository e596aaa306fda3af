"""uvicorn's HTTP/1.1 protocol with the limits a server facing slow or hostile clients needs.

uvicorn waits for a request's head as long as the client likes (a connection that sends half a
head is held forever) and counts connections only to answer 503 once a head is in. Here:

- a request's head (its line and headers) must arrive within `header_timeout_s` of the
  connection opening or of the request's first byte, or the connection is closed;
- beyond `max_connections` open connections, a new one is answered 503 at once and closed, so
  descriptors stay for the clients already being served.

The body's own timeout is the edge app's (it reads bodies; see edge.app).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("ember.edge")

_OVERLOADED_BODY = json.dumps({
    "__type": "ServiceUnavailableException",
    "message": "Ember has too many open connections; retry shortly",
}).encode()
_OVERLOADED_RESPONSE = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: application/json\r\n"
    b"x-amzn-errortype: ServiceUnavailableException\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_OVERLOADED_BODY)).encode() + b"\r\n\r\n" + _OVERLOADED_BODY
)


class GuardedHttpProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with a head timeout and a cap on open connections (see the module doc)."""

    #: connections refused since start, across every instance (for the log's rate limit)
    refused_connections = 0

    def __init__(self, *args: Any, header_timeout_s: float, max_connections: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._max_connections = max_connections
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            cls = type(self)
            cls.refused_connections += 1
            if cls.refused_connections == 1 or cls.refused_connections % 1000 == 0:
                log.warning("%d open connections, more than the %d allowed (EMBER_MAX_CONNECTIONS): refusing new "
                            "ones (%d refused so far)", len(self.connections), self._max_connections,
                            cls.refused_connections)
            transport.write(_OVERLOADED_RESPONSE)
            transport.close()
            return
        self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._disarm_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

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


def guarded_protocol(header_timeout_s: float, max_connections: int) -> Any:
    """The protocol class for uvicorn's `http=` setting, with these limits bound."""
    return functools.partial(GuardedHttpProtocol, header_timeout_s=header_timeout_s,
                             max_connections=max_connections)
