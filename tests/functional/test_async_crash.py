"""kill -9 of the server while Event invocations pour in loses none that was acknowledged.

Thousands of events are sent concurrently over raw HTTP; the server is SIGKILLed midway,
restarted on the same data dir, and every event that got its 202 must then have run at least
once (duplicates are allowed: an event running at the kill runs again).
"""

from __future__ import annotations

import itertools
import json
import signal
import threading
import time
from pathlib import Path

import urllib3

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, make_zip

EVENTS = 4000
CALLERS = 32
#: kill once this many events were acknowledged: midway, with some queued and some running
KILL_AFTER = 1500

APPENDER = '''
def handler(event, context):
    with open(event["path"], "a") as handle:
        handle.write(event["id"] + "\\n")
'''


def test_kill_9_loses_no_acknowledged_event(start_server, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ember = start_server("--sandbox", "plain", data_dir=data_dir)
    client = ember.lambda_client()
    client.create_function(FunctionName="appender", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": make_zip({"index.py": APPENDER})})
    client.close()
    ran = tmp_path / "ran.txt"
    url = f"{ember.url}/2015-03-31/functions/appender/invocations"
    numbers = itertools.count()
    acknowledged: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()
    assert ember.process is not None
    pid = ember.process.pid

    def call() -> None:
        http = urllib3.PoolManager(maxsize=1, retries=False, timeout=urllib3.Timeout(connect=2, read=10))
        while (number := next(numbers)) < EVENTS:
            event_id = f"event-{number}"
            body = json.dumps({"id": event_id, "path": str(ran)}).encode()
            try:
                response = http.request("POST", url, body=body, headers={"X-Amz-Invocation-Type": "Event"})
            except urllib3.exceptions.HTTPError:
                with lock:
                    refused.append(event_id)  # no answer: not acknowledged, so it may or may not run
                continue
            with lock:
                if response.status == 202:
                    acknowledged.append(event_id)
                    if len(acknowledged) >= KILL_AFTER and not killed.is_set():
                        killed.set()
                        ember.process.send_signal(signal.SIGKILL)  # SIGKILL: no shutdown, no flush
                else:
                    refused.append(event_id)
        http.clear()

    callers = [threading.Thread(target=call) for _ in range(CALLERS)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=60)
    assert killed.is_set(), f"only {len(acknowledged)} events were acknowledged"
    assert ember.process.wait(timeout=10) == -signal.SIGKILL
    assert KILL_AFTER <= len(acknowledged) < EVENTS, (len(acknowledged), len(refused))
    ran_before_restart = set(ran.read_text().split()) if ran.exists() else set()

    restarted = start_server("--sandbox", "plain", data_dir=data_dir)
    assert restarted.process is not None and restarted.process.pid != pid
    deadline = time.monotonic() + 60
    missing: set[str] = set(acknowledged)
    while missing and time.monotonic() < deadline:
        time.sleep(0.25)
        missing = set(acknowledged) - set(ran.read_text().split())
    assert not missing, f"{len(missing)} acknowledged events never ran, e.g. {sorted(missing)[:5]}"

    runs = ran.read_text().split()
    duplicates = len(runs) - len(set(runs))
    # Nearly all were new at the restart or ran before it; duplicates are the few that were running.
    assert duplicates <= len(acknowledged) // 10, duplicates
    assert len(set(acknowledged) - ran_before_restart) > 0, "the kill came after everything had run"
    status = json.loads(urllib3.request("GET", f"{restarted.url}/_ember/async").data)
    deadline = time.monotonic() + 60
    while status["total_depth"] and time.monotonic() < deadline:
        time.sleep(0.2)
        status = json.loads(urllib3.request("GET", f"{restarted.url}/_ember/async").data)
    assert status["total_depth"] == 0, status
