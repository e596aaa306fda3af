"""Benchmark: acknowledged Event invocations per second, and how fast the queue drains.

    .venv/bin/python bench/async_enqueue.py [--events 20000] [--callers 32]

Starts real `ember serve` processes (plain sandbox, a fresh data dir) and measures:
1. enqueue: InvocationType=Event requests from `--callers` concurrent keep-alive connections,
   with async dispatch paused (EMBER_ASYNC_CONCURRENCY=0), so only acknowledging is timed:
   every 202 means the event was committed with fsync (SQLite WAL, synchronous=FULL);
2. drain: the server restarted on that data dir with dispatch on; how fast it runs the
   backlog through a no-op function (until /_ember/async reports an empty queue);
3. enqueue while draining: both at once, as a busy server does;
and, as the baseline from the same run, SQLite committing one event per transaction (an
fsync each) in this process, with no HTTP in the way.

The client is a minimal asyncio HTTP/1.1 client (raw requests on persistent connections):
boto3 costs milliseconds of CPU per call and would measure itself on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
FUNCTION = "noop"
NOOP_SOURCE = "def handler(event, context):\n    return None\n"
# The credential scope AWS clients sign with, which Ember routes by. Ember does not check
# signatures yet; once it does, this benchmark must sign (its cost belongs to the client).
AUTHORIZATION = ("Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/lambda/aws4_request, "
                 "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)
PAYLOAD = json.dumps({"order": "9e07af03-ce31-4ff3-xmpl-36dce652cb4f", "items": [1, 2, 3], "note": "x" * 100}).encode()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """An `ember serve` subprocess."""

    def __init__(self, data_dir: Path, environment: dict[str, str], log_level: str = "warning") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(data_dir.parent / f"server-{self.port}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [str(VENV_BIN / "ember"), "serve", "--port", str(self.port), "--data-dir", str(data_dir),
             "--sandbox", "plain", "--log-level", log_level],
            stdout=self.log, stderr=subprocess.STDOUT, env={**os.environ, **environment})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_ember/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("ember serve did not become ready")

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=10) as response:
            return json.load(response)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        self.log.close()


def create_function(server: Server) -> None:
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("index.py", NOOP_SOURCE)
    import base64

    body = json.dumps({"FunctionName": FUNCTION, "Runtime": RUNTIME, "Handler": "index.handler",
                       "Role": "arn:aws:iam::000000000000:role/bench",
                       "Code": {"ZipFile": base64.b64encode(package.getvalue()).decode()}}).encode()
    request = urllib.request.Request(f"{server.url}/2015-03-31/functions", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201, response.status


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    if length:
        await reader.readexactly(length)
    return status


async def send_events(port: int, count: int, callers: int) -> tuple[float, int]:
    """(seconds, number acknowledged with 202) for `count` Event invocations over `callers` connections."""
    request = (f"POST /2015-03-31/functions/{FUNCTION}/invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"X-Amz-Invocation-Type: Event\r\nContent-Type: application/json\r\n{AUTHORIZATION}\r\n"
               f"Content-Length: {len(PAYLOAD)}\r\n\r\n").encode() + PAYLOAD
    remaining = count
    acknowledged = 0

    async def caller() -> None:
        nonlocal remaining, acknowledged
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0:
                remaining -= 1
                writer.write(request)
                if await _read_response(reader) == 202:
                    acknowledged += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return time.perf_counter() - started, acknowledged


def wait_for_empty_queue(server: Server, timeout_s: float) -> float:
    started = time.perf_counter()
    while server.get("/_ember/async")["total_depth"] > 0:
        if time.perf_counter() - started > timeout_s:
            raise RuntimeError("the queue did not drain in time")
        time.sleep(0.02)
    return time.perf_counter() - started


def _baseline_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, request_id TEXT, function_name TEXT, "
               "payload BLOB, enqueued_at_ms INTEGER)")
    return db


def _insert_one(db: sqlite3.Connection) -> None:
    """One event in its own transaction: autocommit, so the INSERT commits (and fsyncs) by itself."""
    db.execute("INSERT INTO events (request_id, function_name, payload, enqueued_at_ms) VALUES (?, ?, ?, ?)",
               (str(uuid.uuid4()), FUNCTION, PAYLOAD, int(time.time() * 1000)))


def sqlite_one_per_transaction(folder: Path, count: int, threads: int = 1) -> float:
    """Events/s committing each in its own transaction (WAL, synchronous=FULL): the fsync-per-event baseline,
    from one thread or from `threads` threads with a connection each (no grouping: they queue on the lock)."""
    path = folder / f"baseline-{threads}.db"
    _baseline_db(path).close()
    connections = [_baseline_db(path) for _ in range(threads)]

    def work(db: sqlite3.Connection, n: int) -> None:
        for _ in range(n):
            _insert_one(db)

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(db, count // threads)) for db in connections]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    for db in connections:
        db.close()
    return (count // threads) * threads / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--server-log-level", default="warning", choices=["debug", "info", "warning"],
                        help="info logs a line per request, as `ember serve` does by default")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ember-bench-async-"))
    rows: list[tuple[str, str]] = []

    baseline = sqlite_one_per_transaction(folder, min(args.events, 5000))
    rows.append(("baseline: SQLite, 1 event per transaction (fsync each), no HTTP", f"{baseline:,.0f} events/s"))
    baseline = sqlite_one_per_transaction(folder, min(args.events, 5000), threads=args.callers)
    rows.append((f"baseline: the same from {args.callers} threads, a connection each", f"{baseline:,.0f} events/s"))

    data_dir = folder / "data"
    server = Server(data_dir, {"EMBER_ASYNC_CONCURRENCY": "0"}, args.server_log_level)
    try:
        create_function(server)
        asyncio.run(send_events(server.port, 500, args.callers))  # warm up connections and code paths
        elapsed, acknowledged = asyncio.run(send_events(server.port, args.events, args.callers))
        assert acknowledged == args.events, f"{args.events - acknowledged} events were not acknowledged"
        rows.append((f"Ember: acknowledged Event invokes, {args.callers} callers (dispatch paused)",
                     f"{acknowledged / elapsed:,.0f} events/s"))
    finally:
        server.stop()

    # The same data dir: the backlog is there after the restart.
    server = Server(data_dir, {}, args.server_log_level)
    try:
        # Dispatch starts with the server, so time from the first depth seen, not from the start.
        backlog = server.get("/_ember/async")["total_depth"]
        drained_s = wait_for_empty_queue(server, timeout_s=600)
        rows.append((f"Ember: drain of a {backlog:,}-event backlog through a no-op function",
                     f"{backlog / drained_s:,.0f} events/s"))
        elapsed, acknowledged = asyncio.run(send_events(server.port, args.events, args.callers))
        tail_s = wait_for_empty_queue(server, timeout_s=600)
        rows.append((f"Ember: acknowledged Event invokes, {args.callers} callers, while draining",
                     f"{acknowledged / elapsed:,.0f} events/s"))
        rows.append(("Ember: end to end (send and run) while draining",
                     f"{acknowledged / (elapsed + tail_s):,.0f} events/s"))
    finally:
        server.stop()

    width = max(len(label) for label, _ in rows)
    print(f"\n{'measurement':<{width}}  result\n{'-' * width}  {'-' * 18}")
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print(f"\n{args.events:,} events of {len(PAYLOAD)} bytes; {os.cpu_count()} CPUs; server log level "
          f"{args.server_log_level}; load average {os.getloadavg()[0]:.1f}; data in {folder}")


if __name__ == "__main__":
    main()
