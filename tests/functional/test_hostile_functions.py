"""A hostile function cannot take the server down with it: forged end-of-output markers, large
bodies posted to a wrong request id and thousands of Runtime API connections cost the server
bounded memory and descriptors, and its API keeps answering.

Each test starts its own server (at the level `auto` picks) and reads its RSS and descriptors
from /proc, as an operator would.
"""

from __future__ import annotations

import json
import os
import resource
import threading
import time
from pathlib import Path

import urllib3

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, make_zip

#: what a hostile function may add to the server's memory (generous: a busy machine, SQLite caches)
MAX_GROWTH_MB = 100

FORGER = r'''
import os

def handler(event, context):
    text = b"y" * 1000
    for number in range(event["markers"]):
        os.write(1, b"\x00EMBER-END forged-%d\x00\n" % number + text + b"\n")
    print("the real end")
    return "forged"
'''

POSTER = r'''
import os, socket, threading

def post(address, size):
    host, port = address.split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=60) as connection:
            connection.sendall(b"POST /2018-06-01/runtime/invocation/not-the-current-id/response HTTP/1.1\r\n"
                               b"Host: runtime\r\nContent-Length: %d\r\n\r\n" % size)
            connection.sendall(b"x" * size)
            connection.recv(100)
    except OSError:
        pass  # refused or cut off: what the server does with it is the point, not what we see

def handler(event, context):
    address = os.environ["AWS_LAMBDA_RUNTIME_API"]
    threads = [threading.Thread(target=post, args=(address, 6 * 1024 * 1024)) for _ in range(event["posts"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return "posted"
'''

OPENER = r'''
import os, socket, time

def handler(event, context):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    for _ in range(event["children"]):
        if os.fork() == 0:
            held = []
            for _ in range(event["per_child"]):
                try:
                    held.append(socket.create_connection((host, int(port)), timeout=1))
                except OSError:
                    pass
            time.sleep(event["hold_s"])
            os._exit(0)
    time.sleep(event["hold_s"])
    return "opened"
'''

NOOP = "def handler(event, context):\n    return 'pong'\n"


def rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError("no VmRSS")


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def deploy(ember: EmberServer, name: str, code: str, **settings: object) -> None:
    ember.lambda_client().create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE,
                                          Handler="index.handler", Code={"ZipFile": make_zip({"index.py": code})},
                                          **settings)


def invoke(ember: EmberServer, name: str, event: dict) -> dict:
    response = ember.lambda_client().invoke(FunctionName=name, Payload=json.dumps(event))
    response["Payload"] = json.loads(response["Payload"].read())
    return response


def warmed_up(ember: EmberServer) -> int:
    """The server's RSS once it has run a function (imports and caches in place)."""
    deploy(ember, "noop", NOOP)
    for _ in range(3):
        assert invoke(ember, "noop", {})["Payload"] == "pong"
    assert ember.process is not None
    return rss_mb(ember.process.pid)


def test_forged_end_markers_do_not_grow_server_memory(start_server) -> None:
    ember = start_server()
    baseline_mb = warmed_up(ember)
    deploy(ember, "forger", FORGER, MemorySize=512, Timeout=120)
    for _ in range(3):  # ~100 MB of forged markers each, in one warm environment
        response = invoke(ember, "forger", {"markers": 100_000})
        assert response["Payload"] == "forged" and "FunctionError" not in response
    assert ember.process is not None
    growth_mb = rss_mb(ember.process.pid) - baseline_mb
    assert growth_mb < MAX_GROWTH_MB, f"server RSS grew by {growth_mb} MB"
    assert invoke(ember, "noop", {})["Payload"] == "pong"


def test_large_posts_to_a_wrong_request_id_are_not_kept(start_server) -> None:
    ember = start_server()
    baseline_mb = warmed_up(ember)
    deploy(ember, "poster", POSTER, MemorySize=1024, Timeout=120)
    response = invoke(ember, "poster", {"posts": 100})  # 100 × 6 MB at once
    assert response["Payload"] == "posted" and "FunctionError" not in response
    assert ember.process is not None
    growth_mb = rss_mb(ember.process.pid) - baseline_mb
    assert growth_mb < MAX_GROWTH_MB, f"server RSS grew by {growth_mb} MB"


def test_thousands_of_runtime_api_connections_leave_the_server_answering(start_server) -> None:
    ember = start_server()
    warmed_up(ember)
    assert ember.process is not None
    pid = ember.process.pid
    # A smaller descriptor limit than this host's, so that the flood would exhaust it.
    limit = 1024
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
    deploy(ember, "opener", OPENER, MemorySize=1024, Timeout=60)
    outcome: dict = {}
    event = {"children": 8, "per_child": 400, "hold_s": 15}  # 3,200 connections, three times the limit
    flood = threading.Thread(target=lambda: outcome.update(invoke(ember, "opener", event)))
    flood.start()
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=30))
    answered = failed = 0
    most_descriptors = 0
    deadline = time.monotonic() + 90
    while flood.is_alive() and time.monotonic() < deadline:
        most_descriptors = max(most_descriptors, open_descriptors(pid))
        try:
            is_healthy = http.request("GET", f"{ember.url}/_ember/health").status == 200
            is_served = invoke(ember, "noop", {})["Payload"] == "pong"
            answered += is_healthy and is_served
            failed += not (is_healthy and is_served)
        except Exception:  # noqa: BLE001 - a refused or reset connection is exactly what must not happen
            failed += 1
        time.sleep(0.3)
    flood.join(timeout=60)
    assert outcome.get("Payload") == "opened", outcome
    assert failed == 0 and answered > 0, (answered, failed)
    assert most_descriptors < limit // 2, most_descriptors
    assert "Runtime API connections open" in ember.log()
