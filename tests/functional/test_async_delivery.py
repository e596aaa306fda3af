"""Event invocations end to end: retries, destinations and their records, qualifiers, throttling,
maximum event age, and the queue's visibility (/_ember/async, `ember queue`).

Functions run at the plain level so they can keep host files (attempt logs, received records).
Two private servers: a fast one whose retry delays are cut to under a second, and an aging one
whose events are sent when the module starts and checked by its last tests, after the 60 s
minimum MaximumEventAgeInSeconds has passed while the other tests ran.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import urllib3

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, VENV_BIN, EmberServer, make_zip, unique_name

ARN_PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
REQUEST_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
#: retry delays of the fast server: the 1st and 2nd retry wait this long
FAST_RETRY_DELAYS_S = (0.5, 1.0)
AGE_LIMIT_S = 60  # the smallest MaximumEventAgeInSeconds Lambda allows

# Logs each attempt to a host file, sleeps if asked, and fails its first `fail_times` attempts.
WORKER = '''
import json, os, time

def handler(event, context):
    log = event["log"]
    with open(log, "a") as handle:
        handle.write(json.dumps({"id": event["id"], "request_id": context.aws_request_id, "at": time.time(),
                                 "arn": context.invoked_function_arn,
                                 "version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"]}) + "\\n")
    with open(log) as handle:
        attempt = sum(1 for line in handle if json.loads(line)["id"] == event["id"])
    time.sleep(event.get("sleep", 0))
    if attempt <= event.get("fail_times", 0):
        raise RuntimeError(f"failing attempt {attempt} on purpose")
    with open(log, "a") as handle:
        handle.write(json.dumps({"id": event["id"], "done": True, "at": time.time()}) + "\\n")
    return {"id": event["id"], "attempt": attempt}
'''

# A destination: keeps every record it receives; a synchronous {"read": true} returns them.
RECORDER = '''
import json, os

def handler(event, context):
    path = os.environ["RECORDS"]
    if event.get("read"):
        try:
            with open(path) as handle:
                return [json.loads(line) for line in handle]
        except FileNotFoundError:
            return []
    with open(path, "a") as handle:
        handle.write(json.dumps(event) + "\\n")
    return "stored"
'''


@dataclass
class Lab:
    """A server, a client for it and a folder for the host files its functions write."""

    server: EmberServer
    folder: Path

    def __post_init__(self) -> None:
        self.client = self.server.lambda_client()

    def function(self, code: str, name: str | None = None, **settings: object) -> str:
        name = name or unique_name("async")
        self.client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                                    Code={"ZipFile": make_zip({"index.py": code})}, **settings)
        return name

    def recorder(self) -> str:
        return self.function(RECORDER, Environment={"Variables": {"RECORDS": str(self.folder / uuid.uuid4().hex)}})

    def send(self, name: str, event: dict, **kwargs: object) -> str:
        """Invoke with InvocationType=Event; the request id the caller was given."""
        response = self.client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event), **kwargs)
        assert response["StatusCode"] == 202
        return response["ResponseMetadata"]["RequestId"]

    def records(self, recorder: str, count: int, timeout_s: float) -> list[dict]:
        """The records `recorder` received, once it has at least `count` (read by a sync invoke)."""
        deadline = time.monotonic() + timeout_s
        while True:
            response = self.client.invoke(FunctionName=recorder, Payload=json.dumps({"read": True}))
            records = json.loads(response["Payload"].read())
            if len(records) >= count or time.monotonic() > deadline:
                assert len(records) >= count, f"{recorder} received {records} within {timeout_s} s\n{self.server.log()}"
                return records
            time.sleep(0.2)

    def attempts(self, log: Path, event_id: str) -> list[dict]:
        if not log.exists():
            return []
        lines = [json.loads(line) for line in log.read_text().splitlines()]
        return [line for line in lines if line["id"] == event_id and "request_id" in line]

    def depths(self) -> dict:
        return json.loads(urllib3.request("GET", f"{self.server.url}/_ember/async").data)


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@contextlib.contextmanager
def start_lab(tmp_path_factory: pytest.TempPathFactory, label: str, **environment: str) -> Iterator[Lab]:
    folder = tmp_path_factory.mktemp(label)
    with pytest.MonkeyPatch.context() as patch:  # the server reads its settings from its environment
        patch.setenv("EMBER_SHUTDOWN_GRACE_S", "1")  # a long invocation need not hold up the teardown
        for key, value in environment.items():
            patch.setenv(key, value)
        server = EmberServer(folder / "data", extra_args=["--sandbox", "plain"]).start()
    lab = Lab(server, folder)
    yield lab
    lab.client.close()
    server.stop()


@pytest.fixture(scope="module", name="fast")
def fast_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with start_lab(tmp_path_factory, "async-fast", EMBER_ASYNC_RETRY_DELAYS_S=",".join(map(str, FAST_RETRY_DELAYS_S)),
                   EMBER_ASYNC_THROTTLE_BACKOFF_S="0.2,2") as lab:
        yield lab


@dataclass
class AgingEvents:
    """Events sent when the module starts, to be old enough when its last tests look at them."""

    lab: Lab
    recorder: str
    sent_at: float  #: wall clock, epoch seconds (records carry wall-clock timestamps)
    failing: str  #: always fails; retried after 45 s; expires at 60 s between attempts 2 and 3
    failing_request_id: str
    throttled: str  #: reserved concurrency 1, held by an 85 s invocation; its second event waits in line
    throttled_request_id: str
    throttled_log: Path


@pytest.fixture(scope="module", autouse=True)
def aging(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgingEvents]:
    with start_lab(tmp_path_factory, "async-aging", EMBER_ASYNC_RETRY_DELAYS_S="45,45") as lab:
        recorder = lab.recorder()
        config = {"MaximumEventAgeInSeconds": AGE_LIMIT_S,
                  "DestinationConfig": {"OnFailure": {"Destination": ARN_PREFIX + recorder}}}
        failing = lab.function(WORKER)
        lab.client.put_function_event_invoke_config(FunctionName=failing, MaximumRetryAttempts=2, **config)
        throttled = lab.function(WORKER, Timeout=90)
        lab.client.put_function_concurrency(FunctionName=throttled, ReservedConcurrentExecutions=1)
        lab.client.put_function_event_invoke_config(FunctionName=throttled, **config)
        log = lab.folder / "throttled.log"
        lab.send(throttled, {"id": "holder", "log": str(log), "sleep": 85})
        wait_until(lambda: lab.attempts(log, "holder"), 20, "the invocation holding the only slot to start")
        sent_at = time.time()
        failing_request_id = lab.send(failing, {"id": "doomed", "log": str(lab.folder / "failing.log"),
                                                "fail_times": 99})
        throttled_request_id = lab.send(throttled, {"id": "waiting", "log": str(log)})
        yield AgingEvents(lab, recorder, sent_at, failing, failing_request_id, throttled, throttled_request_id, log)


# Retries and destinations ---------------------------------------------------------------------


def test_a_failing_function_is_retried_until_it_succeeds(fast: Lab) -> None:
    recorder = fast.recorder()
    name = fast.function(WORKER)
    fast.client.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": ARN_PREFIX + recorder}})
    log = fast.folder / f"{name}.log"
    event = {"id": "flaky", "log": str(log), "fail_times": 2}
    request_id = fast.send(name, event)

    [record] = fast.records(recorder, 1, timeout_s=20)
    attempts = fast.attempts(log, "flaky")
    assert len(attempts) == 3  # two failures, then success
    assert {attempt["request_id"] for attempt in attempts} == {request_id}  # one request id across retries
    gaps = [later["at"] - earlier["at"] for earlier, later in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= FAST_RETRY_DELAYS_S[0] - 0.05 and gaps[1] >= FAST_RETRY_DELAYS_S[1] - 0.05, gaps

    assert record["version"] == "1.0"
    assert TIMESTAMP.fullmatch(record["timestamp"])
    assert record["requestContext"] == {"requestId": request_id, "functionArn": f"{ARN_PREFIX}{name}:$LATEST",
                                        "condition": "Success", "approximateInvokeCount": 3}
    assert record["requestPayload"] == event
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"id": "flaky", "attempt": 3}


def test_retries_exhausted_sends_the_last_error_to_on_failure(fast: Lab) -> None:
    recorder = fast.recorder()
    name = fast.function(WORKER)
    fast.client.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": ARN_PREFIX + recorder}})
    log = fast.folder / f"{name}.log"
    request_id = fast.send(name, {"id": "broken", "log": str(log), "fail_times": 99})

    [record] = fast.records(recorder, 1, timeout_s=20)
    assert len(fast.attempts(log, "broken")) == 2  # the first attempt and MaximumRetryAttempts=1 retry
    assert record["requestContext"] == {"requestId": request_id, "functionArn": f"{ARN_PREFIX}{name}:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 2}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                         "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["responsePayload"]["errorMessage"] == "failing attempt 2 on purpose"


def test_a_timeout_is_a_failure_and_no_retries_means_one_attempt(fast: Lab) -> None:
    recorder = fast.recorder()
    name = fast.function(WORKER, Timeout=1)
    fast.client.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": ARN_PREFIX + recorder},
                           "OnSuccess": {"Destination": ARN_PREFIX + recorder}})
    log = fast.folder / f"{name}.log"
    fast.send(name, {"id": "slow", "log": str(log), "sleep": 3})

    [record] = fast.records(recorder, 1, timeout_s=20)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responsePayload"]["errorType"] == "Sandbox.Timedout"
    time.sleep(FAST_RETRY_DELAYS_S[-1] + 0.5)
    assert len(fast.attempts(log, "slow")) == 1


def test_an_alias_runs_its_version_and_uses_its_own_config(fast: Lab) -> None:
    recorder = fast.recorder()
    name = fast.function(WORKER)
    version = fast.client.publish_version(FunctionName=name)["Version"]
    fast.client.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    fast.client.put_function_event_invoke_config(
        FunctionName=name, Qualifier="live", DestinationConfig={"OnSuccess": {"Destination": ARN_PREFIX + recorder}})
    log = fast.folder / f"{name}.log"
    request_id = fast.send(name, {"id": "aliased", "log": str(log)}, Qualifier="live")
    fast.send(f"{name}:$LATEST", {"id": "unaliased", "log": str(log)})  # $LATEST has no config: no record

    [record] = fast.records(recorder, 1, timeout_s=20)
    assert record["requestContext"]["functionArn"] == f"{ARN_PREFIX}{name}:live"
    assert record["requestContext"]["requestId"] == request_id
    assert record["responseContext"]["executedVersion"] == version
    [attempt] = fast.attempts(log, "aliased")
    assert (attempt["version"], attempt["arn"]) == (version, f"{ARN_PREFIX}{name}:live")
    wait_until(lambda: fast.attempts(log, "unaliased"), 10, "the unqualified event to run")
    assert fast.attempts(log, "unaliased")[0]["version"] == "$LATEST"
    time.sleep(0.5)
    assert len(fast.records(recorder, 1, timeout_s=1)) == 1


def test_legacy_invoke_async_is_queued_and_runs(fast: Lab) -> None:
    name = fast.function(WORKER)
    log = fast.folder / f"{name}.log"
    response = fast.client.invoke_async(FunctionName=name, InvokeArgs=json.dumps({"id": "legacy", "log": str(log)}))
    assert response["Status"] == 202
    wait_until(lambda: fast.attempts(log, "legacy"), 10, "the InvokeAsync event to run")
    assert fast.attempts(log, "legacy")[0]["request_id"] == response["ResponseMetadata"]["RequestId"]


# Concurrency ------------------------------------------------------------------------------------


def test_reserved_concurrency_zero_discards_events_without_running_them(fast: Lab) -> None:
    recorder = fast.recorder()
    name = fast.function(WORKER)
    fast.client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    fast.client.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": ARN_PREFIX + recorder}})
    log = fast.folder / f"{name}.log"
    request_id = fast.send(name, {"id": "stopped", "log": str(log)})

    [record] = fast.records(recorder, 1, timeout_s=10)
    assert record["requestContext"] == {"requestId": request_id, "functionArn": f"{ARN_PREFIX}{name}:$LATEST",
                                        "condition": "RetriesExhausted", "approximateInvokeCount": 0}
    assert "responseContext" not in record and "responsePayload" not in record
    assert not log.exists()


def test_throttled_events_wait_their_turn_and_all_run_once(fast: Lab) -> None:
    name = fast.function(WORKER, Timeout=30)
    fast.client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    log = fast.folder / f"{name}.log"
    ids = [f"turn-{n}" for n in range(8)]
    for event_id in ids:
        # 3 s each, 2 at a time: the queue stays deep for ~12 s, time for the CLI to start on a busy machine
        fast.send(name, {"id": event_id, "log": str(log), "sleep": 3})

    # While they wait, the queue shows them, through the endpoint and the CLI.
    depth = next(f for f in fast.depths()["functions"] if f["function_name"] == name)
    # "running" counts claimed events, and the dispatcher may claim a few more than the function's
    # concurrency before its first throttle tells it so: only the depth is certain here.
    assert depth["depth"] >= 4 and depth["oldest_age_s"] >= 0
    shown = subprocess.run([str(VENV_BIN / "ember"), "--endpoint-url", fast.server.url, "queue"],
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0, shown.stderr
    header, *rows = shown.stdout.splitlines()
    assert header.split() == ["FUNCTION", "DEPTH", "RUNNING", "DELAYED", "OLDEST_AGE_S"]
    [row] = [row.split() for row in rows if row.split()[0] == name]
    assert int(row[1]) >= 3

    def all_done() -> bool:
        lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return {line["id"] for line in lines if line.get("done")} == set(ids)

    wait_until(all_done, 90, "every throttled event to run")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    starts = [line for line in lines if "request_id" in line]
    assert sorted(line["id"] for line in starts) == sorted(ids)  # each ran once: throttles are not failures
    ends = {line["id"]: line["at"] for line in lines if line.get("done")}
    overlapping = max(sum(1 for other in starts if other["at"] <= start["at"] < ends[other["id"]])
                      for start in starts)
    assert overlapping <= 2  # never more than the reserved concurrency at once
    wait_until(lambda: not any(f["function_name"] == name for f in fast.depths()["functions"]), 5,
               "the queue to empty")
    shown = subprocess.run([str(VENV_BIN / "ember"), "--endpoint-url", fast.server.url, "queue"],
                           capture_output=True, text=True, timeout=30)
    assert name not in shown.stdout


def test_deleting_a_function_discards_its_queued_events(fast: Lab) -> None:
    name = fast.function(WORKER)
    fast.client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    log = fast.folder / f"{name}.log"
    fast.send(name, {"id": "holder", "log": str(log), "sleep": 1.5})
    wait_until(lambda: fast.attempts(log, "holder"), 10, "the invocation holding the only slot to start")
    for n in range(3):
        fast.send(name, {"id": f"queued-{n}", "log": str(log)})
    fast.client.delete_function(FunctionName=name)
    fast.function(WORKER, name=name)  # the same name again, at once: a different function

    time.sleep(2.5)  # the holder has finished; the old events would have run by now
    assert [fast.attempts(log, f"queued-{n}") for n in range(3)] == [[], [], []]
    assert not any(f["function_name"] == name for f in fast.depths()["functions"])
    fast.send(name, {"id": "new", "log": str(log)})
    wait_until(lambda: fast.attempts(log, "new"), 10, "an event of the new function to run")


# Maximum event age (events sent when the module started) ----------------------------------------


def _aged_record(aging: AgingEvents, request_id: str) -> tuple[dict, float]:
    """The record of `request_id`, and how long after it was sent the record was made."""
    deadline = aging.sent_at + AGE_LIMIT_S + 20
    while True:
        records = aging.lab.records(aging.recorder, 0, timeout_s=0)
        matching = [r for r in records if r["requestContext"]["requestId"] == request_id]
        if matching:
            made_at = dt.datetime.strptime(matching[0]["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
            return matching[0], made_at.replace(tzinfo=dt.UTC).timestamp() - aging.sent_at
        assert time.time() < deadline, f"no record for {request_id} within {AGE_LIMIT_S + 20} s: {records}"
        time.sleep(0.5)


def test_an_event_too_old_for_another_retry_is_discarded(aging: AgingEvents) -> None:
    record, age_s = _aged_record(aging, aging.failing_request_id)
    # Retried once at 45 s; the next retry (at 90 s) would be too late, so it goes at 60 s.
    assert AGE_LIMIT_S - 0.5 <= age_s < AGE_LIMIT_S + 5, f"discarded {age_s:.1f} s after it was sent"
    assert record["requestContext"] == {"requestId": aging.failing_request_id,
                                        "functionArn": f"{ARN_PREFIX}{aging.failing}:$LATEST",
                                        "condition": "EventAgeExceeded", "approximateInvokeCount": 2}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "failing attempt 2 on purpose"


def test_a_throttled_event_is_discarded_at_its_maximum_age_without_running(aging: AgingEvents) -> None:
    record, age_s = _aged_record(aging, aging.throttled_request_id)
    # On time, while the invocation holding the function's only slot still runs (until 85 s: room for
    # a busy machine between the 60 s limit and the slot coming free).
    assert AGE_LIMIT_S - 0.5 <= age_s < 85, f"discarded {age_s:.1f} s after it was sent"
    assert record["requestContext"] == {"requestId": aging.throttled_request_id,
                                        "functionArn": f"{ARN_PREFIX}{aging.throttled}:$LATEST",
                                        "condition": "EventAgeExceeded", "approximateInvokeCount": 0}
    assert "responseContext" not in record
    assert aging.lab.attempts(aging.throttled_log, "waiting") == []
