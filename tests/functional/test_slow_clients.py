"""Slow and half-sent requests: they are cut off after their timeouts, and while they wait a
fast client is still served."""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.functional.conftest import EmberServer

SLOW_HEAD = b"POST /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
SLOW_BODY = (b"POST /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             b"Content-Length: 1000\r\n\r\n{\"FunctionName\": ")


def open_slow(ember: EmberServer, stack: ExitStack, prefix: bytes, count: int) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        connection = stack.enter_context(socket.create_connection(("127.0.0.1", ember.port), timeout=60))
        connection.sendall(prefix)
        sockets.append(connection)
    return sockets


def wait_closed(connection: socket.socket, deadline: float) -> bytes:
    """What the server sent before closing; fails if it is still open at `deadline`."""
    received = b""
    while time.monotonic() < deadline:
        connection.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            chunk = connection.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"the server kept a slow connection open; it sent {received!r}")


@pytest.fixture
def short_timeouts(start_server) -> Iterator[EmberServer]:
    yield start_server(env={"EMBER_HEADER_TIMEOUT_S": "2", "EMBER_BODY_TIMEOUT_S": "2"})


def test_slow_clients_are_cut_off_and_a_fast_one_is_served_meanwhile(short_timeouts: EmberServer) -> None:
    ember = short_timeouts
    with ExitStack() as stack:
        heads = open_slow(ember, stack, SLOW_HEAD, 150)
        bodies = open_slow(ember, stack, SLOW_BODY, 50)
        silent = open_slow(ember, stack, b"", 100)
        started = time.monotonic()
        functions = ember.lambda_client().list_functions()  # a fast client, while 300 wait
        assert functions["Functions"] == []
        deadline = started + 60  # the timeouts are 2 s: generous for a busy machine
        for connection in heads + silent:
            assert wait_closed(connection, deadline) == b""
        for connection in bodies:
            answer = wait_closed(connection, deadline)
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert b"RequestTimeoutException" in answer
    assert ember.lambda_client().list_functions()["Functions"] == []  # no half-sent create went through
    assert "Traceback" not in ember.log()


def test_a_body_cut_short_by_a_disconnect_is_never_handled(server: EmberServer) -> None:
    body = b'{"FunctionName": "cut-short", "Runtime": "python3.12", "Role": "arn:aws:iam::000000000000:role/r", '
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
        connection.sendall(b"POST /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           b"Content-Length: 100000\r\n\r\n" + body)
    time.sleep(0.5)
    names = [f["FunctionName"] for f in server.lambda_client().list_functions()["Functions"]]
    assert "cut-short" not in names


def test_connections_beyond_the_cap_get_503_and_served_ones_keep_working(start_server) -> None:
    ember = start_server(env={"EMBER_MAX_CONNECTIONS": "20"})
    with ExitStack() as stack:
        held = open_slow(ember, stack, b"", 20)
        extra = stack.enter_context(socket.create_connection(("127.0.0.1", ember.port), timeout=30))
        answer = wait_closed(extra, time.monotonic() + 30)
        assert answer.startswith(b"HTTP/1.1 503"), answer
        assert b"ServiceUnavailableException" in answer
        for connection in held:
            connection.close()
    deadline = time.monotonic() + 30
    while True:  # the server sees the closes as it gets to them
        try:
            assert ember.lambda_client().list_functions()["Functions"] == []
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert "more than the 20 allowed" in ember.log()


def test_a_request_that_is_not_http_or_has_a_huge_header_gets_an_aws_error(start_server) -> None:
    server = start_server()
    for request in (b"POST /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nX-Big: "
                    + b"a" * 100_000 + b"\r\n\r\n{}{}",
                    b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
                    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as connection:
            connection.sendall(request)
            answer = wait_closed(connection, time.monotonic() + 30)
        assert answer.startswith(b"HTTP/1.1 400"), answer
        assert b"x-amzn-errortype: ValidationException" in answer
    assert server.lambda_client().list_functions()["Functions"] == []
    assert "Traceback" not in server.log() and "Exception" not in server.log(), server.log()


def test_a_huge_body_sent_to_an_ember_route_gets_413_not_a_crash(server: EmberServer) -> None:

    size_bytes = 81 * 1024 * 1024  # above the 80 MB any request may carry
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    try:
        connection.putrequest("GET", "/_ember/health")
        connection.putheader("Content-Length", str(size_bytes))
        connection.endheaders()
        chunk = b"x" * (1024 * 1024)
        for _ in range(size_bytes // len(chunk)):
            connection.send(chunk)
        response = connection.getresponse()
        assert response.status == 413
        assert response.getheader("x-amzn-ErrorType", "").startswith("RequestEntityTooLargeException")
    finally:
        connection.close()
    assert "Traceback" not in server.log()
