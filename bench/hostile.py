"""What hostile functions and clients cost the server: its resident memory and open descriptors
while each attack runs and after it, against the same server idle (the baseline, same run), and
whether its API kept answering meanwhile.

Attacks: a function printing 20,000 forged end-of-output markers with 10 KB each (200 MB of
output); a function posting 6 MB bodies to a Runtime API request id that is not current, 100 at
once; a function whose 21 children open 1,000 Runtime API connections each and hold them 20 s;
300 clients that send half a request head and wait.

Usage: .venv/bin/python bench/hostile.py [--sandbox auto]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import threading
import time
import zipfile
from contextlib import ExitStack
from pathlib import Path

import boto3
from _common import RUNTIME, Ember, machine_line, print_table
from botocore.config import Config

FORGED_MARKERS = r'''
import os
def handler(event, context):
    junk = b"x" * 10000
    for i in range(20000):
        os.write(1, b"\x00EMBER-END forged-%d\x00\n" % i + junk + b"\n")
    return "ok"
'''
WRONG_ID_POSTS = r'''
import os, socket, threading
def post(host, port):
    body = b"x" * (6 * 1024 * 1024)
    try:
        with socket.create_connection((host, int(port)), timeout=30) as connection:
            connection.sendall(b"POST /2018-06-01/runtime/invocation/not-the-id/response HTTP/1.1\r\nHost: x\r\n"
                               b"Content-Length: %d\r\n\r\n" % len(body) + body)
            connection.recv(100)
    except OSError:
        pass
def handler(event, context):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    threads = [threading.Thread(target=post, args=(host, port)) for _ in range(100)]
    for thread in threads: thread.start()
    for thread in threads: thread.join()
    return "ok"
'''
CONNECTION_FLOOD = r'''
import os, socket, time
def handler(event, context):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    for _ in range(21):
        if os.fork() == 0:
            held = []
            for _ in range(1000):
                try:
                    held.append(socket.create_connection((host, int(port)), timeout=2))
                except OSError:
                    pass
            time.sleep(20)
            os._exit(0)
    time.sleep(20)
    return "ok"
'''
NOOP = "def handler(event, context):\n    return 'pong'\n"


def zipped(source: str) -> bytes:
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("index.py", source)
    return package.getvalue()


def reading(pid: int) -> tuple[int, int]:
    """(resident MB, open descriptors) of process `pid`."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    rss_mb = int(next(line for line in status if line.startswith("VmRSS")).split()[1]) // 1024
    return rss_mb, len(os.listdir(f"/proc/{pid}/fd"))


class Probe:
    """While an attack runs: the server's peak memory and descriptors, and whether health and a no-op
    invoke keep answering (twice a second)."""

    def __init__(self, ember: Ember, client) -> None:
        self.ember, self.client = ember, client
        self.peak_rss_mb, self.peak_fds, self.answered, self.failed = 0, 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            rss_mb, fds = reading(self.ember.pid)
            self.peak_rss_mb, self.peak_fds = max(self.peak_rss_mb, rss_mb), max(self.peak_fds, fds)
            try:
                status, _, _ = self.ember.client.request("GET", "/_ember/health")
                ok = status == 200 and self.client.invoke(FunctionName="noop")["StatusCode"] == 200
            except Exception:  # noqa: BLE001 - an unanswered probe is what is counted
                ok = False
            self.answered += ok
            self.failed += not ok
            self._stop.wait(0.5)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def half_sent_heads(ember: Ember, count: int, hold_s: float) -> None:
    with ExitStack() as stack:
        for _ in range(count):
            connection = stack.enter_context(socket.create_connection(("127.0.0.1", ember.port), timeout=30))
            connection.sendall(b"POST /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        time.sleep(hold_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sandbox", default="auto")
    args = parser.parse_args()
    print(machine_line())
    ember = Ember(sandbox=args.sandbox).start()
    try:
        client = boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{ember.port}", region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench",
                              config=Config(retries={"total_max_attempts": 1}, read_timeout=300))
        for name, source, timeout_s in (("markers", FORGED_MARKERS, 300), ("posts", WRONG_ID_POSTS, 120),
                                        ("flood", CONNECTION_FLOOD, 60), ("noop", NOOP, 10)):
            client.create_function(FunctionName=name, Runtime=RUNTIME, Role="arn:aws:iam::000000000000:role/bench",
                                   Handler="index.handler", Code={"ZipFile": zipped(source)}, Timeout=timeout_s,
                                   MemorySize=1024)
        client.invoke(FunctionName="noop")
        idle = reading(ember.pid)
        rows: list[list[object]] = [["idle server (baseline)", *idle, "-", *idle]]
        attacks = [
            ("forged end markers, 200 MB of output", lambda: client.invoke(FunctionName="markers")),
            ("100 × 6 MB posts to a wrong request id", lambda: client.invoke(FunctionName="posts")),
            ("21 × 1,000 Runtime API connections, 20 s", lambda: client.invoke(FunctionName="flood")),
            ("300 half-sent request heads, 15 s", lambda: half_sent_heads(ember, 300, 15)),
        ]
        for title, attack in attacks:
            with Probe(ember, client) as probe:
                attack()
            time.sleep(1)
            rows.append([title, probe.peak_rss_mb, probe.peak_fds, f"{probe.answered}/{probe.answered + probe.failed}",
                         *reading(ember.pid)])
        print_table(f"Server under hostile functions and clients ({ember.sandbox_level} level)",
                    ["attack", "peak RSS MB", "peak fds", "API answered", "RSS MB after", "fds after"], rows,
                    ["API answered: health and a no-op invoke, twice a second while the attack ran"])
        print(json.dumps({"level": ember.sandbox_level, "rows": rows}))
    finally:
        ember.stop()


if __name__ == "__main__":
    main()
