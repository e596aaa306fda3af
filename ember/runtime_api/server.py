"""An HTTP/1.1 server for one environment's Runtime API, on a socket the sandbox made.

Routes (AWS's Runtime API, and its Extensions API on the same port):
    GET  /2018-06-01/runtime/invocation/next
    POST /2018-06-01/runtime/invocation/{id}/response
    POST /2018-06-01/runtime/invocation/{id}/error
    POST /2018-06-01/runtime/init/error
    POST /2020-01-01/extension/register
    GET  /2020-01-01/extension/event/next
    POST /2020-01-01/extension/init/error
    POST /2020-01-01/extension/exit/error

Status codes and error bodies follow Lambda's: 202 {"status":"OK"} for what is accepted,
400 InvalidRequestID for an invocation that is not current, 403 InvalidStateTransition for
/init/error once init is over, 413 RequestEntityTooLarge for a response over 6 MB (the
invocation then fails with Function.ResponseSizeTooLarge).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket

import h11

from ember.runtime_api.channel import Outcome, OutcomeKind, PendingInvocation, RuntimeChannel
from ember.runtime_api.extensions import ExtensionsHub

log = logging.getLogger(__name__)

#: AWS's limit on a synchronous response (6 MiB + 100 bytes, as AWS measures it)
MAX_RESPONSE_BYTES = 6_291_556
_PREFIX = "/2018-06-01/runtime"
#: Ember's own route: a parked runtime waits here for the function it will run
_SPECIALISE_PATH = "/2018-06-01/ember/specialise"
_INVOCATION_ROUTE = re.compile(rf"^{_PREFIX}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")
_EXTENSION_PREFIX = "/2020-01-01/extension"


class RuntimeApiServer:
    """Serves the Runtime API for one environment until closed."""

    def __init__(self, channel: RuntimeChannel, extensions: ExtensionsHub) -> None:
        self.channel = channel
        self.extensions = extensions
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, listener: socket.socket) -> None:
        self._server = await asyncio.start_server(self._serve_connection, sock=listener)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(BaseException):
                await task

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            while True:
                request, body, too_large = await _read_request(connection, reader)
                if request is None:
                    return
                status, extra_headers, response_body = await self._dispatch(request, body, too_large)
                writer.write(connection.send(_response_head(status, response_body, extra_headers)))
                writer.write(connection.send(h11.Data(data=response_body)))
                writer.write(connection.send(h11.EndOfMessage()))
                await writer.drain()
                if connection.our_state is h11.MUST_CLOSE:
                    return
                connection.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            # close() cancels connections parked in /next. Ending quietly matters: asyncio's
            # stream callback calls task.exception(), which raises on a cancelled task.
            return
        finally:
            self._connections.discard(task)
            writer.close()

    async def _dispatch(self, request: h11.Request, body: bytes,
                        too_large: bool) -> tuple[int, list[tuple[str, str]], bytes]:
        path = request.target.decode("latin-1").split("?", 1)[0]
        method = request.method.decode()
        if method == "GET" and path == f"{_PREFIX}/invocation/next":
            invocation = await self.channel.next_invocation()
            return 200, invocation_headers(invocation), invocation.payload
        if method == "GET" and path == _SPECIALISE_PATH:
            variables = await self.channel.wait_for_function()
            return 200, [], json.dumps(variables).encode()
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
        if path.startswith(_EXTENSION_PREFIX + "/"):
            return await self._extension(method, path.removeprefix(_EXTENSION_PREFIX), headers, body)
        status, response_body = self._post(method, path, headers, body, too_large)
        return status, [], response_body

    async def _extension(self, method: str, route: str, headers: dict[str, str],
                         body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        hub = self.extensions
        if method == "POST" and route == "/register":
            return hub.register(headers, body)
        if method == "GET" and route == "/event/next":
            return await hub.next_event(headers)
        if method == "POST" and route in ("/init/error", "/exit/error"):
            return hub.report_error(headers, body)
        if route in ("/register", "/event/next", "/init/error", "/exit/error"):
            return 405, [], _error_body("InvalidRequest", f"{method} is not allowed on {_EXTENSION_PREFIX}{route}")
        return 404, [], _error_body("InvalidRequest", f"no Extensions API route {_EXTENSION_PREFIX}{route}")

    def _post(self, method: str, path: str, headers: dict[str, str], body: bytes,
                    too_large: bool) -> tuple[int, bytes]:
        match = _INVOCATION_ROUTE.match(path)
        if not match and path != f"{_PREFIX}/init/error":
            return 404, _error_body("InvalidRequest", f"no Runtime API route {path}")
        if method != "POST":
            return 405, _error_body("InvalidRequest", f"{method} is not allowed on {path}")
        error_type = headers.get("lambda-runtime-function-error-type")
        if match is None:  # /init/error
            if self.channel.ready.is_set():
                return 403, _error_body("InvalidStateTransition", "State transition from Ready to InitError failed "
                                        "for runtime. Error: init is over: report errors of an invocation to "
                                        "/runtime/invocation/{id}/error")
            self.channel.report_init_error(Outcome(OutcomeKind.INIT_ERROR, body, error_type or "Unhandled"))
            return 202, b'{"status":"OK"}'
        request_id = match["id"]
        if not self.channel.is_current(request_id):
            return 400, _error_body("InvalidRequestID", "Invalid request ID")
        if too_large:
            # The result goes to the caller as Function.ResponseSizeTooLarge; the runtime gets a 413.
            message = f"Response payload size exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
            self.channel.report(request_id, Outcome(
                OutcomeKind.ERROR,
                json.dumps({"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}).encode(),
                "Function.ResponseSizeTooLarge",
            ))
            return 413, _error_body("RequestEntityTooLarge",
                                    f"Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).")
        is_exiting = headers.get("ember-runtime-exiting") == "1"
        if match["kind"] == "response":
            self.channel.report(request_id, Outcome(OutcomeKind.RESPONSE, body, is_runtime_exiting=is_exiting))
        else:
            self.channel.report(request_id, Outcome(OutcomeKind.ERROR, body, error_type or "Unhandled", is_exiting))
        return 202, b'{"status":"OK"}'


def invocation_headers(invocation: PendingInvocation) -> list[tuple[str, str]]:
    """The headers /invocation/next carries for `invocation`."""
    headers = [
        ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
        ("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms)),
        ("Lambda-Runtime-Invoked-Function-Arn", invocation.invoked_function_arn),
    ]
    if invocation.trace_id:
        headers.append(("Lambda-Runtime-Trace-Id", invocation.trace_id))
    if invocation.client_context:
        headers.append(("Lambda-Runtime-Client-Context", invocation.client_context))
    if invocation.cognito_identity:
        headers.append(("Lambda-Runtime-Cognito-Identity", invocation.cognito_identity))
    return headers


async def _read_request(connection: h11.Connection,
                        reader: asyncio.StreamReader) -> tuple[h11.Request | None, bytes, bool]:
    request: h11.Request | None = None
    chunks: list[bytes] = []
    size = 0
    too_large = False
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            connection.receive_data(data)
            if not data and connection.their_state is h11.IDLE:
                return None, b"", False
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_RESPONSE_BYTES:
                too_large = True
            else:
                chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return request, b"".join(chunks), too_large
        elif isinstance(event, h11.ConnectionClosed):
            return None, b"", False


def _response_head(status: int, body: bytes, extra: list[tuple[str, str]] | None = None) -> h11.Response:
    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    headers.extend(extra or [])
    return h11.Response(status_code=status, headers=headers)


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()
