"""Function logs in CloudWatch Logs: content, stream naming, paging, filter patterns, retention, errors,
durability across a crash, the `ember logs` command and trace ids — through boto3, raw HTTP and the CLI.

These run on a plain-level server: what they check does not depend on the sandbox level.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import urllib3
from botocore.exceptions import ClientError

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, first_lineage, make_zip, unique_name

EMBER = Path(sys.executable).parent / "ember"
STREAM_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/\[(\$LATEST|\d+)\][0-9a-f]{32}$")

LOGGING_HANDLER = '''
import json, os

def handler(event, context):
    for line in event.get("lines", []):
        print(line if isinstance(line, str) else json.dumps(line))
    if event.get("fail"):
        raise ValueError("failed on purpose")
    return {"stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"], "group": os.environ["AWS_LAMBDA_LOG_GROUP_NAME"],
            "trace": os.environ.get("_X_AMZN_TRACE_ID")}
'''

#: module-level output: it runs during init, before the first START
INIT_LINE = 'print("initialising the module")\n'


@pytest.fixture(scope="module")
def ember(plain_server: EmberServer) -> EmberServer:
    return plain_server


@pytest.fixture(scope="module")
def lambda_(ember: EmberServer):
    return ember.client("lambda")


@pytest.fixture(scope="module")
def logs(ember: EmberServer):
    return ember.client("logs")


@pytest.fixture
def make_function(lambda_) -> Iterator[Callable[..., str]]:
    created: list[str] = []

    def make(code: str = INIT_LINE + LOGGING_HANDLER, **settings: object) -> str:
        name = unique_name("logs")
        lambda_.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                                Code={"ZipFile": make_zip({"index.py": code})}, **settings)
        created.append(name)
        return name

    yield make
    for name in created:
        lambda_.delete_function(FunctionName=name)


def invoke(lambda_, name: str, event: dict | None = None, **kwargs: object) -> dict:
    response = lambda_.invoke(FunctionName=name, Payload=json.dumps(event or {}), **kwargs)
    return json.loads(response["Payload"].read())


def all_events(logs, group: str, stream: str) -> list[dict]:
    return logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]


def test_an_invocations_output_lands_in_its_environments_stream(lambda_, logs, make_function) -> None:
    name = make_function()
    first = invoke(lambda_, name, {"lines": ["hello from the handler", "second line"]})
    second = invoke(lambda_, name, {"fail": True})

    group = f"/aws/lambda/{name}"
    assert first["group"] == group
    assert STREAM_NAME.match(first["stream"]), first["stream"]
    assert "[$LATEST]" in first["stream"]
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    # One warm environment ran both: one stream, named as the environment was told.
    assert [s["logStreamName"] for s in streams] == [first["stream"]]
    assert streams[0]["storedBytes"] > 0 and streams[0]["firstEventTimestamp"] <= streams[0]["lastEventTimestamp"]

    messages = [event["message"] for event in all_events(logs, group, first["stream"])]
    assert messages[0] == "initialising the module\n"  # init output, before the first START
    assert re.match(r"^START RequestId: [0-9a-f-]{36} Version: \$LATEST\n$", messages[1])
    assert messages[2:4] == ["hello from the handler\n", "second line\n"]
    assert re.match(r"^END RequestId: ", messages[4])
    assert re.match(r"^REPORT RequestId: .*\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB",
                    messages[5])
    assert "Init Duration" in messages[5]
    # The failed invocation's traceback is one event, its lines joined with \r as Lambda's runtimes do.
    traceback = [m for m in messages[6:] if "failed on purpose" in m]
    assert len(traceback) == 1 and traceback[0].startswith("[ERROR] ValueError: failed on purpose\r")
    assert second is not None
    [described] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["logGroupName"] == group
    assert described["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    assert "retentionInDays" not in described


def test_a_published_version_logs_to_a_stream_named_after_it(lambda_, logs, make_function) -> None:
    name = make_function()
    version = lambda_.publish_version(FunctionName=name)["Version"]
    result = invoke(lambda_, name, {"lines": ["from version one"]}, Qualifier=version)
    assert STREAM_NAME.match(result["stream"]) and f"[{version}]" in result["stream"]
    messages = [e["message"] for e in all_events(logs, f"/aws/lambda/{name}", result["stream"])]
    assert f"Version: {version}\n" in messages[1] and "from version one\n" in messages


def test_get_log_events_pages_forward_and_backward_as_aws_does(lambda_, logs, make_function) -> None:
    name = make_function(LOGGING_HANDLER)
    stream = invoke(lambda_, name, {"lines": [f"line {n}" for n in range(6)]})["stream"]
    group = f"/aws/lambda/{name}"
    everything = [e["message"] for e in all_events(logs, group, stream)]
    assert len(everything) == 9  # START, six lines, END, REPORT

    # Forward from the head, two at a time, until the token stops moving.
    seen, token = [], None
    while True:
        arguments = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=2, **arguments)
        seen += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            break
        token = page["nextForwardToken"]
    assert seen == everything

    # Without startFromHead, the newest events come first (oldest first within the page)...
    tail = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=3)
    assert [e["message"] for e in tail["events"]] == everything[-3:]
    # ...and the backward token reaches the ones before them.
    before = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=3,
                                 nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in before["events"]] == everything[-6:-3]

    # The forward token of the tail is where new events will appear.
    invoke(lambda_, name, {"lines": ["after the tail"]})
    newer = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=tail["nextForwardToken"])
    assert "after the tail\n" in [e["message"] for e in newer["events"]]

    # A time range: nothing at or after endTime, everything at or after startTime.
    first_stamp = all_events(logs, group, stream)[0]["timestamp"]
    assert logs.get_log_events(logGroupName=group, logStreamName=stream, endTime=first_stamp)["events"] == []
    assert logs.get_log_events(logGroupName=group, logStreamName=stream, startTime=first_stamp,
                               startFromHead=True)["events"][0]["timestamp"] == first_stamp


FILTER_LINES = [
    "[ERROR] A fatal exception has occurred",
    "[ERROR] Exiting with ErrorCode: 5",
    "[WARN] A terminal failure has occurred",
    "[INFO] Task timed out after 3.00 seconds",
    {"level": "ERROR", "latency": 750, "user": {"id": 7}},
    {"level": "INFO", "latency": 20, "user": {"id": 8}},
    {"level": "WARN", "latency": 510, "path": "/health"},
]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("ERROR", [0, 1, 4]),  # terms match JSON lines' text too
    ("ERROR Exiting", [1]),
    ('"A terminal failure"', [2]),
    ("?WARN ?INFO", [2, 3, 5, 6]),
    ("occurred -fatal", [2]),
    ('{ $.level = "ERROR" }', [4]),
    ('{ $.level != "ERROR" }', [5, 6]),
    ("{ $.latency > 500 }", [4, 6]),
    ("{ $.latency < 500 }", [5]),
    ("{ $.user.id = 8 }", [5]),
    ('{ $.level = "WARN" && $.latency > 500 }', [6]),
    ('{ $.level = "INFO" || $.user.id = 7 }', [4, 5]),
])
def test_filter_patterns_select_events(lambda_, logs, filter_function: str, pattern: str,
                                       expected: list[int]) -> None:
    found = logs.filter_log_events(logGroupName=f"/aws/lambda/{filter_function}", filterPattern=pattern)["events"]
    wanted = [line if isinstance(line, str) else json.dumps(line) for line in (FILTER_LINES[i] for i in expected)]
    assert [event["message"].rstrip("\n") for event in found] == wanted


@pytest.fixture(scope="module")
def filter_function(lambda_) -> Iterator[str]:
    name = unique_name("filter")
    lambda_.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": make_zip({"index.py": LOGGING_HANDLER})})
    invoke(lambda_, name, {"lines": FILTER_LINES})
    yield name
    lambda_.delete_function(FunctionName=name)


def test_filter_log_events_limits_pages_streams_and_time(lambda_, logs, filter_function: str) -> None:
    group = f"/aws/lambda/{filter_function}"
    everything = logs.filter_log_events(logGroupName=group)["events"]
    assert len(everything) >= 10  # START, seven lines, END, REPORT
    assert all(e["eventId"] and e["logStreamName"] and e["ingestionTime"] >= e["timestamp"] for e in everything)

    paged, token = [], None
    while True:
        page = logs.filter_log_events(logGroupName=group, limit=3, **({"nextToken": token} if token else {}))
        paged += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    assert [e["eventId"] for e in paged] == [e["eventId"] for e in everything]

    stream = everything[0]["logStreamName"]
    assert len(logs.filter_log_events(logGroupName=group, logStreamNames=[stream])["events"]) == len(everything)
    assert logs.filter_log_events(logGroupName=group, logStreamNames=["2000/01/01/[$LATEST]" + "0" * 32])[
        "events"] == []
    last = everything[-1]["timestamp"]
    assert logs.filter_log_events(logGroupName=group, startTime=last + 1)["events"] == []
    assert logs.filter_log_events(logGroupName=group, endTime=everything[0]["timestamp"])["events"] == []


def test_retention_deletes_old_events(logs) -> None:
    group = f"/ember/tests/{unique_name('retention')}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="app")
    now_ms = int(time.time() * 1000)
    three_days_ago = now_ms - 3 * 86_400_000
    logs.put_log_events(logGroupName=group, logStreamName="app", logEvents=[
        {"timestamp": three_days_ago, "message": "from three days ago"},
        {"timestamp": now_ms, "message": "from now"},
    ])
    assert len(logs.filter_log_events(logGroupName=group)["events"]) == 2

    logs.put_retention_policy(logGroupName=group, retentionInDays=1)

    assert [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]] == ["from now"]
    [described] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["retentionInDays"] == 1
    # Events older than the retention are refused from now on, as AWS refuses them.
    refused = logs.put_log_events(logGroupName=group, logStreamName="app",
                                  logEvents=[{"timestamp": three_days_ago, "message": "too old"}])
    assert refused["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}

    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []


def error_of(call: Callable[[], object]) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["Error"]["Code"], error["Error"]["Message"], error["ResponseMetadata"]["HTTPStatusCode"]


def test_bad_input_gets_the_logs_error_and_says_what_to_fix(logs, filter_function: str) -> None:
    group = f"/aws/lambda/{filter_function}"
    missing = "/aws/lambda/" + unique_name("nobody")
    assert error_of(lambda: logs.filter_log_events(logGroupName=missing)) == (
        "ResourceNotFoundException", "The specified log group does not exist.", 400)
    assert error_of(lambda: logs.get_log_events(logGroupName=group, logStreamName="nope"))[:2] == (
        "ResourceNotFoundException", "The specified log stream does not exist.")
    assert error_of(lambda: logs.delete_log_group(logGroupName=missing))[0] == "ResourceNotFoundException"
    code, message, status = error_of(lambda: logs.filter_log_events(logGroupName=group, filterPattern="a:b"))
    assert (code, status) == ("InvalidParameterException", 400) and "Invalid character(s) in term 'a:b'" in message
    code, message, _ = error_of(lambda: logs.put_retention_policy(logGroupName=group, retentionInDays=2))
    assert code == "InvalidParameterException"
    assert message.startswith("Invalid retention value. Valid values are: [1, 3")
    assert error_of(lambda: logs.create_log_group(logGroupName=group))[:2] == (
        "ResourceAlreadyExistsException", "The specified log group already exists")
    assert error_of(lambda: logs.get_log_events(logGroupName=group, logStreamName="x", nextToken="garbage"))[:2] == (
        "InvalidParameterException", "The specified nextToken is invalid.")
    assert error_of(lambda: logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime",
                                                      logStreamNamePrefix="2"))[0] == "InvalidParameterException"
    assert error_of(lambda: logs.filter_log_events(logGroupName=group, logGroupIdentifier=group))[0] == \
        "InvalidParameterException"


def test_raw_requests_with_bad_bodies_get_errors_not_500s(ember: EmberServer) -> None:
    headers = {"x-amz-target": "Logs_20140328.DescribeLogGroups", "content-type": "application/x-amz-json-1.1"}
    response = urllib3.request("POST", ember.url + "/", headers=headers, body=b"{not json")
    assert response.status == 400
    assert response.json()["__type"] == "SerializationException"
    response = urllib3.request("POST", ember.url + "/", headers=headers, body=b'{"limit": 500}')
    assert response.status == 400
    assert response.json() == {"__type": "InvalidParameterException", "message": (
        "1 validation error detected: Value '500' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 50")}
    response = urllib3.request("POST", ember.url + "/", body=b"{}", headers={
        **headers, "x-amz-target": "Logs_20140328.DescribeQueries"})
    assert response.status == 501 and "DescribeQueries" in response.json()["message"]


def test_logs_of_finished_invocations_survive_a_crash(start_server) -> None:
    server = start_server("--sandbox", "plain")
    lambda_ = server.client("lambda")
    name = unique_name("crash")
    lambda_.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                            Code={"ZipFile": make_zip({"index.py": LOGGING_HANDLER})})
    invoke(lambda_, name, {"lines": ["written before the crash"]})
    time.sleep(1.0)  # the writer commits within its flush interval (0.2 s)
    server.stop(signal.SIGKILL)

    restarted = start_server("--sandbox", "plain", data_dir=server.data_dir)
    events = restarted.client("logs").filter_log_events(logGroupName=f"/aws/lambda/{name}",
                                                        filterPattern='"before the crash"')["events"]
    assert [e["message"] for e in events] == ["written before the crash\n"]


def run_cli(ember: EmberServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EMBER), "--endpoint-url", ember.url, *args], capture_output=True, text=True,
                          timeout=60)


def test_ember_logs_prints_and_filters_a_functions_log(ember: EmberServer, lambda_, make_function) -> None:
    name = make_function(LOGGING_HANDLER)
    invoke(lambda_, name, {"lines": ["[ERROR] disk full", "[INFO] all fine"]})

    everything = run_cli(ember, "logs", name)
    assert everything.returncode == 0, everything.stderr
    lines = everything.stdout.splitlines()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z START RequestId: ", lines[0])
    assert any(line.endswith("Z [ERROR] disk full") for line in lines)

    filtered = run_cli(ember, "logs", name, "--since", "1h", "--filter", "ERROR")
    assert [line.split("Z ", 1)[1] for line in filtered.stdout.splitlines()] == ["[ERROR] disk full"]

    assert run_cli(ember, "logs", name, "--since", "2020-01-01T00:00:00Z").stdout.count("START RequestId") == 1
    assert run_cli(ember, "logs", name, "--since", "1m ago").returncode == 2  # a usage error, said so
    missing = run_cli(ember, "logs", unique_name("nobody"))
    assert missing.returncode == 1 and "ResourceNotFoundException" in missing.stderr


def test_ember_logs_follow_prints_new_events(ember: EmberServer, lambda_, make_function) -> None:
    name = make_function(LOGGING_HANDLER)
    with subprocess.Popen([str(EMBER), "--endpoint-url", ember.url, "logs", name, "--follow"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as follower:
        try:
            time.sleep(0.5)  # following a group that does not exist yet: it waits for it
            invoke(lambda_, name, {"lines": ["followed line"]})
            deadline = time.monotonic() + 20
            lines: list[str] = []
            assert follower.stdout is not None
            while time.monotonic() < deadline and not any("followed line" in line for line in lines):
                lines.append(follower.stdout.readline())
            assert any(line.rstrip().endswith("Z followed line") for line in lines), lines
        finally:
            follower.send_signal(signal.SIGINT)
            assert follower.wait(10) == 0


def test_the_trace_header_reaches_the_function_and_a_missing_one_is_made(lambda_, make_function) -> None:
    name = make_function(LOGGING_HANDLER)
    trace_id = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

    def add_trace_header(request, **_: object) -> None:
        request.headers["X-Amzn-Trace-Id"] = trace_id

    lambda_.meta.events.register("before-sign.lambda.Invoke", add_trace_header)
    try:
        assert invoke(lambda_, name)["trace"] == f"{trace_id};{first_lineage(name)}"
    finally:
        lambda_.meta.events.unregister("before-sign.lambda.Invoke", add_trace_header)
    generated = invoke(lambda_, name)["trace"]
    assert re.match(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0;", generated)
    assert generated.endswith(f";{first_lineage(name)}")
