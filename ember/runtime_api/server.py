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
from ember.runtime_api.descriptors import ConnectionBudget
from ember.runtime_api.extensions import ExtensionsHub

log = logging.getLogger(__name__)

#: AWS's limit on a synchronous response (6 MiB + 100 bytes, as AWS measures it)
MAX_RESPONSE_BYTES = 6_291_556
_PREFIX = "/2018-06-01/runtime"
#: Ember's own route: a parked runtime waits here for the function it will run
_SPECIALISE_PATH = "/2018-06-01/ember/specialise"
_INVOCATION_ROUTE = re.compile(rf"^{_PREFIX}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")
_EXTENSION_PREFIX = "/2020-01-01/extension"
#: connections one environment may have open to its Runtime API at once (a runtime and its
#: extensions need a handful; Lambda allows 10 extensions)
MAX_CONNECTIONS_PER_ENVIRONMENT = 32
#: the largest body the Extensions API reads (its requests are small JSON documents)
MAX_EXTENSION_BODY_BYTES = 1 << 20
#: how much of a refused request's body is read (and dropped) to keep its connection usable
_UNREAD_BODY_BYTES = 64 * 1024


class RuntimeApiServer:
    """Serves the Runtime API for one environment until closed.

    Connections are bounded: at most MAX_CONNECTIONS_PER_ENVIRONMENT at once (more wait in the
    listener's backlog, costing the server nothing), within the `budget` all environments
    share. A request's route and request id are checked before its body is read, and one body
    is read at a time: a function cannot make the server hold more than one response's worth.
    """

    def __init__(self, channel: RuntimeChannel, extensions: ExtensionsHub,
                 budget: ConnectionBudget | None = None) -> None:
        self.channel = channel
        self.extensions = extensions
        self._shared = budget
        self._own = ConnectionBudget(MAX_CONNECTIONS_PER_ENVIRONMENT)
        self._is_cap_logged = False
        self._body_lock = asyncio.Lock()
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, listener: socket.socket) -> None:
        listener.setblocking(False)
        self._listener = listener
        self._accepting = asyncio.create_task(self._accept_forever())

    async def stop_accepting(self) -> None:
        """Accept no more connections (the listener is the sandbox's to close)."""
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(BaseException):
                await self._accepting

    async def close(self) -> None:
        """Stop accepting and end every connection."""
        await self.stop_accepting()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    async def _accept_forever(self) -> None:
        assert self._listener is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._own.try_take():
                if not self._is_cap_logged:
                    self._is_cap_logged = True
                    log.warning("function %s has %d Runtime API connections open, the most one environment may: "
                                "more wait until one closes", self.extensions.function.function_name or "(parked)",
                                MAX_CONNECTIONS_PER_ENVIRONMENT)
                await self._own.take()
            if self._shared is not None and not self._shared.try_take():
                try:
                    await self._shared.take()
                except BaseException:
                    self._own.give_back()
                    raise
            try:
                connection, _ = await loop.sock_accept(self._listener)
            except OSError as exc:
                # EMFILE and the like: out of descriptors despite the budget. Breathe, then retry.
                self._give_back()
                log.warning("Runtime API of %s could not accept a connection: %s",
                            self.extensions.function.function_name or "(parked)", exc)
                await asyncio.sleep(0.1)
                continue
            except BaseException:
                self._give_back()
                raise
            task = asyncio.create_task(self._serve_socket(connection))
            self._connections.add(task)
            task.add_done_callback(self._connection_done)

    def _give_back(self) -> None:
        self._own.give_back()
        if self._shared is not None:
            self._shared.give_back()

    def _connection_done(self, task: asyncio.Task[None]) -> None:
        self._connections.discard(task)
        self._give_back()

    async def _serve_socket(self, connection: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=connection)
        except OSError:
            connection.close()
            return
        await self._serve_connection(reader, writer)

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            while True:
                request = await _read_head(connection, reader)
                if request is None:
                    return
                status, extra_headers, response_body = await self._dispatch(connection, reader, request)
                if connection.their_state is h11.SEND_BODY:
                    # Answered before its body was read (refused): read what little is left, so the
                    # connection can be reused; a large body is not read, and the connection closes.
                    await _read_body(connection, reader, _UNREAD_BODY_BYTES)
                if connection.their_state is not h11.DONE:
                    extra_headers = [*extra_headers, ("connection", "close")]
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
            # close() cancels connections parked in /next: end quietly.
            return
        finally:
            writer.close()

    async def _dispatch(self, connection: h11.Connection, reader: asyncio.StreamReader,
                        request: h11.Request) -> tuple[int, list[tuple[str, str]], bytes]:
        path = request.target.decode("latin-1").split("?", 1)[0]
        method = request.method.decode()
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in request.headers}
        if path.startswith(_EXTENSION_PREFIX + "/"):
            async with self._body_lock:
                body = await _read_body(connection, reader, MAX_EXTENSION_BODY_BYTES)
            if body is None:
                message = f"Exceeded maximum allowed payload size ({MAX_EXTENSION_BODY_BYTES} bytes)."
                return 413, [], _error_body("RequestEntityTooLarge", message)
            return await self._extension(method, path.removeprefix(_EXTENSION_PREFIX), headers, body)
        if method == "GET" and path == f"{_PREFIX}/invocation/next":
            invocation = await self.channel.next_invocation()
            return 200, invocation_headers(invocation), invocation.payload
        if method == "GET" and path == _SPECIALISE_PATH:
            variables = await self.channel.wait_for_function()
            return 200, [], json.dumps(variables).encode()
        status, response_body = await self._post(connection, reader, method, path, headers)
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

    async def _post(self, connection: h11.Connection, reader: asyncio.StreamReader, method: str, path: str,
                    headers: dict[str, str]) -> tuple[int, bytes]:
        # Everything that can refuse the request is decided before its body is read.
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
            async with self._body_lock:
                body = await _read_body(connection, reader, MAX_RESPONSE_BYTES)
            self.channel.report_init_error(Outcome(OutcomeKind.INIT_ERROR, body or b"", error_type or "Unhandled"))
            return 202, b'{"status":"OK"}'
        request_id = match["id"]
        if not self.channel.is_current(request_id):
            return 400, _error_body("InvalidRequestID", "Invalid request ID")
        async with self._body_lock:  # one body at a time; the first to finish answers the invocation
            if not self.channel.is_current(request_id):
                return 400, _error_body("InvalidRequestID", "Invalid request ID")
            body = await _read_body(connection, reader, MAX_RESPONSE_BYTES)
            if body is None:
                # Read to its end, nothing kept: the runtime gets its 413 and keeps its connection.
                await _read_body(connection, reader, 0, is_kept=False)
                # The result goes to the caller as Function.ResponseSizeTooLarge; the runtime gets a 413.
                message = (f"Response payload size exceeded maximum allowed payload size "
                           f"({MAX_RESPONSE_BYTES} bytes).")
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
    if invocation.output_marker:
        headers.append(("Ember-Output-Marker", invocation.output_marker))
    return headers


async def _read_head(connection: h11.Connection, reader: asyncio.StreamReader) -> h11.Request | None:
    """The next request's head; None once the client has closed the connection."""
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            connection.receive_data(data)
            if not data and connection.their_state is h11.IDLE:
                return None
            continue
        if isinstance(event, h11.Request):
            return event
        if isinstance(event, h11.ConnectionClosed):
            return None


async def _read_body(connection: h11.Connection, reader: asyncio.StreamReader, max_bytes: int,
                     is_kept: bool = True) -> bytes | None:
    """The request's body; None, with the rest left unread, once it passes `max_bytes`. Not
    `is_kept`: read it all and drop it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await reader.read(65536)
            connection.receive_data(data)
            continue
        if isinstance(event, h11.Data):
            if not is_kept:
                continue
            size += len(event.data)
            if size > max_bytes:
                return None
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks)
        elif isinstance(event, h11.ConnectionClosed):
            raise ConnectionResetError("the runtime closed the connection mid-request")


def _response_head(status: int, body: bytes, extra: list[tuple[str, str]] | None = None) -> h11.Response:
    headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
    headers.extend(extra or [])
    return h11.Response(status_code=status, headers=headers)


def _error_body(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()
