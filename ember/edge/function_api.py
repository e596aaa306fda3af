"""Ember's AWS APIs served to execution environments: what their AWS_ENDPOINT_URL reaches.

A function-facing EdgeApp (no /_ember/* routes, no /metrics) is served with the same guarded
HTTP/1.1 protocol as the main server (edge.http_protocol), on listening sockets given to it:

- at levels with a network of their own (isolated, rootless), each environment's second
  listener, made inside its namespace (127.0.0.1:4566 there), served by this process from the
  environment's start to its end (`serve`; the returned server is closed with it);
- at the plain level, one listener of its own on the host's loopback (`listen_on_loopback`),
  apart from the main server's, so no environment reaches Ember's own routes through it.

uvicorn's protocol class is used as uvicorn itself uses it (`loop.create_server(factory,
sock=...)`), with a ServerState of this object's own: its `max_connections` holds every
function-facing connection together, so functions cannot spend the descriptors the main
server needs.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from ember.edge.app import EdgeApp
from ember.edge.http_protocol import guarded_protocol


class FunctionApi:
    """Serves `app` (a function-facing EdgeApp) on the listeners environments connect to."""

    def __init__(self, app: EdgeApp, header_timeout_s: float, body_timeout_s: float, max_connections: int) -> None:
        self.app = app
        self._config = uvicorn.Config(app, lifespan="off", access_log=False, proxy_headers=False, log_config=None,
                                      h11_max_incomplete_event_size=64 * 1024)
        self._config.load()
        self._state = ServerState()
        self._protocol = guarded_protocol(header_timeout_s, body_timeout_s, max_connections)
        self._host_server: asyncio.Server | None = None

    def _new_protocol(self) -> Any:
        return self._protocol(config=self._config, server_state=self._state, app_state={})

    async def serve(self, listener: socket.socket) -> asyncio.Server:
        """Serve `listener` (an environment's); close the returned server when the environment ends.
        Closing it closes the listener too."""
        return await asyncio.get_running_loop().create_server(self._new_protocol, sock=listener)

    async def listen_on_loopback(self) -> str:
        """Listen on a free port of 127.0.0.1 for environments that share the host's network; the URL."""
        self._host_server = await asyncio.get_running_loop().create_server(self._new_protocol, "127.0.0.1", 0)
        port = self._host_server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        """Stop listening on the host's loopback (environments' own listeners close with them)."""
        if self._host_server is not None:
            self._host_server.close()
            self._host_server = None
        for connection in list(self._state.connections):
            connection.shutdown()
