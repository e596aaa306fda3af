"""A function's log is whole: streamed as it is printed, each line with its own timestamp,
kept when the invocation is killed, and stored before an Event invocation leaves the queue.

These run on a plain-level server: what they check does not depend on the sandbox level.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import urllib3

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, make_zip, unique_name

PRINTER = '''
import time

def handler(event, context):
    for number in range(event.get("lines", 0)):
        print("line-%06d " % number + "x" * 90)
    if event.get("pause_s"):
        print("before the pause")
        time.sleep(event["pause_s"])
        print("after the pause")
    if event.get("hang_s"):
        print("about to hang", flush=True)
        time.sleep(event["hang_s"])
    return "done"
'''


@pytest.fixture(scope="module")
def ember(plain_server: EmberServer) -> EmberServer:
    return plain_server


@pytest.fixture
def make_function(ember: EmberServer) -> Iterator[Callable[..., str]]:
    client = ember.client("lambda")
    created: list[str] = []

    def make(**settings: object) -> str:
        name = unique_name("fidelity")
        client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                               Code={"ZipFile": make_zip({"index.py": PRINTER})}, **settings)
        created.append(name)
        return name

    yield make
    for name in created:
        client.delete_function(FunctionName=name)


def invoke(ember: EmberServer, name: str, event: dict) -> dict:
    response = ember.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event), LogType="Tail")
    response["Payload"] = response["Payload"].read()
    return response


def events_of(ember: EmberServer, name: str, request_id: str, until: str, timeout_s: float = 30) -> list[dict]:
    """Every event of /aws/lambda/NAME from the START of `request_id` on, once one contains `until`."""
    logs = ember.client("logs")
    deadline = time.monotonic() + timeout_s
    while True:
        found: list[dict] = []
        token = None
        for _ in range(200):  # bounded paging
            page = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", **({"nextToken": token} if token else {}))
            found += page["events"]
            token = page.get("nextToken")
            if not token:
                break
        starts = [i for i, e in enumerate(found) if e["message"].startswith(f"START RequestId: {request_id}")]
        mine = found[starts[0]:] if starts else []
        if any(until in e["message"] for e in mine) or time.monotonic() > deadline:
            return mine
        time.sleep(0.2)


def request_id_of(response: dict) -> str:
    return response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_an_invocation_printing_over_1_mib_keeps_its_first_lines(ember: EmberServer, make_function) -> None:
    name = make_function(MemorySize=512, Timeout=60)
    lines = 30_000  # ~3 MiB
    response = invoke(ember, name, {"lines": lines})
    assert response["Payload"] == b'"done"'
    request_id = request_id_of(response)
    events = events_of(ember, name, request_id, f"REPORT RequestId: {request_id}")
    messages = [e["message"] for e in events]
    assert messages[0].startswith(f"START RequestId: {request_id}")
    assert messages[1].startswith("line-000000 ")
    assert messages[-1].startswith(f"REPORT RequestId: {request_id}")
    printed = [m for m in messages if m.startswith("line-")]
    dropped = [m for m in messages if re.fullmatch(r"\[… \d+ bytes dropped …\]\n", m)]
    # Every line, or a visible marker where some were dropped: never a silent gap.
    assert len(printed) == lines or dropped, (len(printed), lines)
    assert printed[-1].startswith(f"line-{lines - 1:06d} ") or dropped
    assert base64.b64decode(response["LogResult"]).decode().rstrip("\t\n").split("\n")[-1].startswith("REPORT")


def test_lines_printed_a_second_apart_carry_their_own_timestamps(ember: EmberServer, make_function) -> None:
    name = make_function(Timeout=30)
    response = invoke(ember, name, {"pause_s": 1.2})
    request_id = request_id_of(response)
    events = events_of(ember, name, request_id, f"REPORT RequestId: {request_id}")
    stamps = {e["message"].strip(): e["timestamp"] for e in events}
    assert stamps["after the pause"] - stamps["before the pause"] >= 500, stamps
    assert stamps[f"START RequestId: {request_id} Version: $LATEST"] <= stamps["before the pause"]


def test_a_timed_out_invocation_keeps_its_lines_end_and_report(ember: EmberServer, make_function) -> None:
    name = make_function(Timeout=1)
    response = invoke(ember, name, {"hang_s": 30})
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"])["errorType"] == "Sandbox.Timedout"
    request_id = request_id_of(response)
    messages = [e["message"] for e in events_of(ember, name, request_id, f"REPORT RequestId: {request_id}")]
    assert "about to hang\n" in messages
    assert any("Task timed out after 1.00 seconds" in m for m in messages)
    assert f"END RequestId: {request_id}\n" in messages
    assert messages[-1].startswith(f"REPORT RequestId: {request_id}")


def test_lines_are_in_the_log_while_the_invocation_still_runs(ember: EmberServer, make_function) -> None:
    """Streamed, not written at the end: a kill -9 of Ember (or of the invocation) keeps them."""
    name = make_function(Timeout=60)
    outcome: dict = {}
    running = threading.Thread(target=lambda: outcome.update(invoke(ember, name, {"hang_s": 20})))
    running.start()
    logs = ember.client("logs")
    deadline = time.monotonic() + 15
    found: list[dict] = []
    while not found and time.monotonic() < deadline and running.is_alive():
        try:
            found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}",
                                           filterPattern='"about to hang"')["events"]
        except logs.exceptions.ResourceNotFoundException:
            pass  # no line yet: its log group is made with the first
        time.sleep(0.2)
    assert running.is_alive(), "the invocation ended before its line was seen"
    assert found, "a running invocation's line was not in its log"
    running.join(timeout=60)
    assert outcome["Payload"] == b'"done"'


RECORDER = '''
def handler(event, context):
    print("ran " + event["id"])
    with open(event["path"], "a") as handle:
        handle.write(event["id"] + "\\n")
'''
EVENTS = 1200
KILL_AFTER = 500


def test_kill_9_never_leaves_an_event_that_ran_without_its_log(start_server, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ember = start_server("--sandbox", "plain", data_dir=data_dir)
    client = ember.lambda_client()
    client.create_function(FunctionName="recorder", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": make_zip({"index.py": RECORDER})})
    ran = tmp_path / "ran.txt"
    url = f"{ember.url}/2015-03-31/functions/recorder/invocations"
    numbers = itertools.count()
    acknowledged: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()
    assert ember.process is not None

    def call() -> None:
        http = urllib3.PoolManager(maxsize=1, retries=False, timeout=urllib3.Timeout(connect=2, read=10))
        while (number := next(numbers)) < EVENTS and not killed.is_set():
            body = json.dumps({"id": f"event-{number}", "path": str(ran)}).encode()
            try:
                response = http.request("POST", url, body=body, headers={"X-Amz-Invocation-Type": "Event"})
            except urllib3.exceptions.HTTPError:
                continue
            with lock:
                if response.status == 202:
                    acknowledged.append(f"event-{number}")
                    # Once many have run: the kill lands while events finish one after another.
                    if len(acknowledged) >= KILL_AFTER and ran.exists() and not killed.is_set():
                        if len(ran.read_text().split()) >= KILL_AFTER // 2:
                            killed.set()
                            ember.process.send_signal(signal.SIGKILL)  # no shutdown, no flush

    callers = [threading.Thread(target=call) for _ in range(16)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=120)
    if not killed.is_set():  # all sent before enough ran: kill while the rest run
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(ran.read_text().split() if ran.exists() else []) < KILL_AFTER // 2:
            time.sleep(0.01)
        ember.process.send_signal(signal.SIGKILL)
    assert ember.process.wait(timeout=10) == -signal.SIGKILL

    restarted = start_server("--sandbox", "plain", data_dir=data_dir)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # every acknowledged event runs again or ran
        if set(acknowledged) <= set(ran.read_text().split()):
            break
        time.sleep(0.25)
    logs = restarted.client("logs")
    deadline = time.monotonic() + 30
    while True:
        logged: set[str] = set()
        token = None
        for _ in range(500):  # bounded paging
            page = logs.filter_log_events(logGroupName="/aws/lambda/recorder", filterPattern='"ran event-"',
                                          **({"nextToken": token} if token else {}))
            logged |= {e["message"].split()[1] for e in page["events"]}
            token = page.get("nextToken")
            if not token:
                break
        unlogged = set(ran.read_text().split()) - logged
        if not unlogged or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert not unlogged, f"{len(unlogged)} events ran but left no log line, e.g. {sorted(unlogged)[:5]}"
