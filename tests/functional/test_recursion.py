"""Lambda-to-Lambda invocations from inside functions, and recursive loop detection.

The functions invoke through AWS_ENDPOINT_URL with boto3, which sends the trace id each runs under as the
X-Amzn-Trace-Id of its requests: the chain's lineage. A chain that invokes one function more than 16 times
again is stopped (RecursiveLoop=Terminate, the default) unless the function allows it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.functional.conftest import ROLE, EmberServer, unique_name
from tests.functional.test_function_endpoint import made_functions, run

PREAMBLE = """
import json
import os
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=600)


def log_line(group, message, context):
    logs = boto3.client("logs", config=CONFIG)
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=context.function_name)
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise
    logs.put_log_events(logGroupName=group, logStreamName=context.function_name,
                        logEvents=[{"timestamp": int(time.time() * 1000), "message": message}])
"""

#: invokes itself with depth + 1 until depth reaches `stop`, synchronously or as an Event; says where it stopped
LOOP = PREAMBLE + """

def handler(event, context):
    depth = event["depth"]
    if event.get("log_group"):
        log_line(event["log_group"], str(depth), context)
    if depth >= event["stop"]:
        return {"depth": depth}
    lam = boto3.client("lambda", config=CONFIG)
    try:
        response = lam.invoke(FunctionName=context.function_name, InvocationType=event.get("type", "RequestResponse"),
                              Payload=json.dumps({**event, "depth": depth + 1}))
    except ClientError as error:
        return {"depth": depth, "code": error.response["Error"]["Code"], "message": error.response["Error"]["Message"],
                "type": error.response.get("Type"), "status": error.response["ResponseMetadata"]["HTTPStatusCode"]}
    if response["StatusCode"] != 200:
        return {"depth": depth, "status": response["StatusCode"]}
    return json.loads(response["Payload"].read())
"""

#: invokes the first of `chain` with the rest of it (synchronously unless told), and says what it saw
CHAIN = PREAMBLE + """

def handler(event, context):
    result = {"me": context.function_name, "trace": os.environ.get("_X_AMZN_TRACE_ID")}
    if event.get("log_group"):
        log_line(event["log_group"], "hello from " + context.function_name, context)
    chain = event.get("chain", [])
    if chain:
        lam = boto3.client("lambda", config=CONFIG)
        response = lam.invoke(FunctionName=chain[0], InvocationType=event.get("type", "RequestResponse"),
                              Payload=json.dumps({**event, "chain": chain[1:]}))
        result["status"] = response["StatusCode"]
        if response["StatusCode"] == 200:
            result["inner"] = json.loads(response["Payload"].read())
    return result
"""

#: an OnFailure destination: writes the record's condition and the dropped event's depth
RECORDER = PREAMBLE + """

def handler(event, context):
    log_line(event["requestPayload"]["log_group"],
             event["requestContext"]["condition"] + " " + str(event["requestPayload"]["depth"]), context)
"""

MESSAGE = ("Lambda has detected your function being invoked in a recursive loop with other Amazon Web Services "
           "resources and stopped your function's invocation.")


@pytest.fixture(scope="module")
def ember(plain_server: EmberServer) -> EmberServer:
    return plain_server


@pytest.fixture
def log_group(ember: EmberServer) -> Iterator[str]:
    logs = ember.client("logs")
    group = f"/ember-test/{unique_name('recursion')}"
    logs.create_log_group(logGroupName=group)
    yield group
    logs.delete_log_group(logGroupName=group)


def stream_messages(ember: EmberServer, group: str, stream: str) -> list[str]:
    try:
        events = ember.client("logs").get_log_events(logGroupName=group, logStreamName=stream)["events"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            return []  # not written yet
        raise
    return [event["message"] for event in events]


def wait_for_messages(ember: EmberServer, group: str, stream: str, count: int, timeout_s: float = 240) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        messages = stream_messages(ember, group, stream)
        if len(messages) >= count:
            return messages
        time.sleep(0.5)
    return stream_messages(ember, group, stream)


def test_a_function_invoking_itself_synchronously_is_stopped_after_16_times_again(ember: EmberServer) -> None:
    lam = ember.lambda_client()
    with made_functions(lam, ROLE) as make:
        name = make(LOOP)
        result = run(lam, name, {"depth": 0, "stop": 100})
        # Invoked by the test (count 0) and 16 times again by itself; the 17th time again is refused.
        assert result == {"depth": 16, "code": "RecursiveInvocationException", "message": MESSAGE,
                          "type": "User", "status": 400}


def test_recursive_loop_allow_lets_a_loop_run_past_16(ember: EmberServer) -> None:
    lam = ember.lambda_client()
    with made_functions(lam, ROLE) as make:
        name = make(LOOP)
        assert lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")["RecursiveLoop"] == "Allow"
        assert run(lam, name, {"depth": 0, "stop": 20}) == {"depth": 20}
        # Back to Terminate: stopped again.
        lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Terminate")
        assert run(lam, name, {"depth": 0, "stop": 20})["code"] == "RecursiveInvocationException"


def test_recursion_config_round_trip_and_bad_input(ember: EmberServer) -> None:
    lam = ember.lambda_client()
    with made_functions(lam, ROLE) as make:
        name = make(LOOP)
        assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
        assert lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")["RecursiveLoop"] == "Allow"
        assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        assert lam.get_function_recursion_config(FunctionName=arn)["RecursiveLoop"] == "Allow"
        with pytest.raises(ClientError) as bad:
            lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Sometimes")
        assert bad.value.response["Error"] == {
            "Code": "ValidationException",
            "Message": "1 validation error detected: Value 'Sometimes' at 'recursiveLoop' failed to satisfy "
                       "constraint: Member must satisfy enum value set: [Allow, Terminate]"}
        assert bad.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"
    missing = unique_name("recursion-missing")
    for call in (lambda: lam.get_function_recursion_config(FunctionName=missing),
                 lambda: lam.put_function_recursion_config(FunctionName=missing, RecursiveLoop="Allow")):
        with pytest.raises(ClientError) as gone:
            call()
        assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert missing in gone.value.response["Error"]["Message"]


def test_a_synchronous_chain_of_three_returns_the_last_ones_result_to_the_first(ember: EmberServer) -> None:
    lam = ember.lambda_client()
    with made_functions(lam, ROLE) as make:
        a, b, c = make(CHAIN), make(CHAIN), make(CHAIN)
        result = run(lam, a, {"chain": [b, c]})
        assert (result["me"], result["inner"]["me"], result["inner"]["inner"]["me"]) == (a, b, c)
        assert "inner" not in result["inner"]["inner"]
        # One trace: the same root all along, each function's lineage counted once.
        traces = [result["trace"], result["inner"]["trace"], result["inner"]["inner"]["trace"]]
        roots = {trace.split(";")[0] for trace in traces}
        assert len(roots) == 1 and roots.pop().startswith("Root=1-")
        assert [trace.split("Lineage=")[1].count(":0") for trace in traces] == [1, 2, 3]


def test_a_function_invokes_another_asynchronously(ember: EmberServer, log_group: str) -> None:
    lam = ember.lambda_client()
    with made_functions(lam, ROLE) as make:
        a, b = make(CHAIN), make(CHAIN)
        result = run(lam, a, {"chain": [b], "type": "Event", "log_group": log_group})
        assert result["status"] == 202 and "inner" not in result
        assert wait_for_messages(ember, log_group, b, 1) == [f"hello from {b}"]
        assert stream_messages(ember, log_group, a) == [f"hello from {a}"]


def test_a_function_invoking_itself_asynchronously_is_dropped_after_16_times_again(
        ember: EmberServer, log_group: str) -> None:
    lam = ember.lambda_client()
    with made_functions(lam, ROLE) as make:
        name, recorder = make(LOOP), make(RECORDER)
        recorder_arn = lam.get_function(FunctionName=recorder)["Configuration"]["FunctionArn"]
        lam.put_function_event_invoke_config(FunctionName=name,
                                             DestinationConfig={"OnFailure": {"Destination": recorder_arn}})
        assert run(lam, name, {"depth": 0, "stop": 100, "type": "Event", "log_group": log_group}) == \
            {"depth": 0, "status": 202}
        messages = wait_for_messages(ember, log_group, name, 17)
        assert messages == [str(depth) for depth in range(17)]
        # The 17th time again was accepted (202) by the depth-16 run, then dropped rather than run, to the
        # OnFailure destination.
        assert ember.log_path is not None
        deadline = time.monotonic() + 60
        while f"of {name}: {MESSAGE}" not in ember.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "dropping Event invocation" in ember.log_path.read_text()
        assert f"of {name}: {MESSAGE}" in ember.log_path.read_text()
        assert wait_for_messages(ember, log_group, recorder, 1) == ["RetriesExhausted 17"]
        assert len(stream_messages(ember, log_group, name)) == 17


def test_a_synchronous_call_that_would_wait_on_its_own_caller_is_throttled_not_deadlocked(ember: EmberServer) -> None:
    # With room for one environment, a function that invokes itself waits on a second one that
    # cannot exist: Lambda answers the inner call TooManyRequestsException at once, never waits.
    lam = ember.lambda_client()
    with made_functions(lam, ROLE) as make:
        name = make(LOOP)
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
        # Had the inner call waited, the outer would have timed out: run() refuses a function error.
        result = run(lam, name, {"depth": 0, "stop": 5})
        assert result["depth"] == 0 and result["code"] == "TooManyRequestsException" and result["status"] == 429
