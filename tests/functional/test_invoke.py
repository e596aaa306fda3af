"""Invoke as AWS clients see it: invocation types, errors, log tails, payload limits, context."""

from __future__ import annotations

import base64
import json
import re
import time

from tests.functional.conftest import EmberServer, first_lineage, invoke_json

REQUEST_ID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

#: Records each invocation in module state. A probe ({"expect": request_id}) reports what its
#: environment ran; one that lands in another environment ends it, so a later probe finds the warm
#: one that ran the invocation (the scheduler hands out the most recently used idle environment).
RECORDER = '''
import os
import uuid

ENV_ID = uuid.uuid4().hex
RAN = []

def handler(event, context):
    if "expect" in event:
        if event["expect"] not in RAN:
            os._exit(0)
        return {"env": ENV_ID, "ran": RAN}
    RAN.append(context.aws_request_id)
    return {"env": ENV_ID, "ran": RAN}
'''

ECHO_CONTEXT = '''
import os

def handler(event, context):
    custom = context.client_context.custom if context.client_context else None
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "custom": custom,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
    }
'''


def wait_for_run(client, name: str, request_id: str, timeout_s: float = 10.0) -> dict:
    """What the environment that ran invocation `request_id` of a RECORDER has run, seen through
    synchronous probes (functions cannot write to the host's files at every sandbox level)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response, result = invoke_json(client, name, {"expect": request_id})
        if "FunctionError" not in response:
            return result
        assert result["errorType"] == "Runtime.ExitError", result  # a probe in another environment
        time.sleep(0.05)
    raise AssertionError(f"no environment of {name} ran {request_id} within {timeout_s} s")


def tail_of(response: dict) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def header(response: dict, name: str) -> str | None:
    return response["ResponseMetadata"]["HTTPHeaders"].get(name)


def test_request_response_returns_the_handlers_result(lambda_client, make_function) -> None:
    name = make_function("def handler(event, context):\n    return {'sum': event['a'] + event['b']}\n")
    response, result = invoke_json(lambda_client, name, {"a": 2, "b": 40})
    assert response["StatusCode"] == 200
    assert result == {"sum": 42}
    assert "FunctionError" not in response
    assert response["ExecutedVersion"] == "$LATEST"
    assert header(response, "x-amz-executed-version") == "$LATEST"


def test_event_invocation_answers_202_and_runs_the_function(lambda_client, make_function) -> None:
    name = make_function(RECORDER)
    response = lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"n": 1}))
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    request_id = header(response, "x-amzn-requestid")
    assert re.fullmatch(REQUEST_ID, request_id)
    assert wait_for_run(lambda_client, name, request_id)["ran"] == [request_id]  # once, with its request id


def test_dry_run_answers_204_and_runs_nothing(lambda_client, make_function) -> None:
    name = make_function(RECORDER)
    response = lambda_client.invoke(FunctionName=name, InvocationType="DryRun", Payload=json.dumps({"n": 1}))
    assert response["StatusCode"] == 204
    assert response["Payload"].read() == b""
    time.sleep(1.0)
    # the same payload really runs: in a new environment (none was started for the DryRun),
    # which had run nothing before it
    response, result = invoke_json(lambda_client, name, {"n": 1}, LogType="Tail")
    assert "FunctionError" not in response, result
    assert "Init Duration" in tail_of(response)
    assert result["ran"] == [header(response, "x-amzn-requestid")]


def test_unhandled_error_payload(lambda_client, make_function) -> None:
    code = "def handler(event, context):\n    raise ValueError('no good: ' + event['why'])\n"
    name = make_function(code)
    response, error = invoke_json(lambda_client, name, {"why": "broken"})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert header(response, "x-amz-function-error") == "Unhandled"
    assert list(error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert error["errorMessage"] == "no good: broken"
    assert error["errorType"] == "ValueError"
    assert error["requestId"] == header(response, "x-amzn-requestid")
    assert isinstance(error["stackTrace"], list) and error["stackTrace"]
    assert "in handler" in error["stackTrace"][-1]
    assert "raise ValueError" in error["stackTrace"][-1]


LOGGING_HANDLER = '''
def handler(event, context):
    print("hello from", context.aws_request_id)
    print("x" * event.get("noise", 0))
    return context.aws_request_id
'''

REPORT_LINE = (r"REPORT RequestId: (?P<id>{id})\tDuration: \d+\.\d+ ms\tBilled Duration: \d+ ms"
               r"\tMemory Size: 128 MB\tMax Memory Used: (?P<memory>\d+) MB")


def test_log_tail_of_cold_and_warm_invocations(lambda_client, make_function) -> None:
    name = make_function(LOGGING_HANDLER)

    cold, cold_id = invoke_json(lambda_client, name, LogType="Tail")
    request_id = header(cold, "x-amzn-requestid")
    assert cold_id == request_id
    log = tail_of(cold)
    assert f"START RequestId: {request_id} Version: $LATEST\n" in log
    assert f"hello from {request_id}\n" in log
    assert f"END RequestId: {request_id}\n" in log
    report = re.search(REPORT_LINE.format(id=re.escape(request_id)) + r"[^\n]*", log)
    assert report, log
    assert int(report["memory"]) > 0
    assert re.search(r"\tInit Duration: \d+\.\d+ ms", report[0]), report[0]
    assert log.index("START") < log.index("hello from") < log.index("END RequestId") < log.index("REPORT")

    warm, warm_id = invoke_json(lambda_client, name, LogType="Tail")
    warm_request_id = header(warm, "x-amzn-requestid")
    assert warm_id == warm_request_id != request_id
    log = tail_of(warm)
    assert f"START RequestId: {warm_request_id} Version: $LATEST\n" in log
    assert request_id not in log  # only this invocation's log
    report = re.search(REPORT_LINE.format(id=re.escape(warm_request_id)) + r"[^\n]*", log)
    assert report, log
    assert "Init Duration" not in report[0]


def test_log_tail_is_the_last_4_kb(lambda_client, make_function) -> None:
    name = make_function(LOGGING_HANDLER)
    response, _ = invoke_json(lambda_client, name, {"noise": 20_000}, LogType="Tail")
    log = base64.b64decode(response["LogResult"])
    assert len(log) == 4096
    assert b"START RequestId" not in log  # cut off at the front
    assert log.startswith(b"x")
    assert b"REPORT RequestId: " + header(response, "x-amzn-requestid").encode() in log
    assert log.splitlines()[-1].startswith(b"REPORT RequestId: ")


def test_log_lines_left_unfinished_are_ended(lambda_client, make_function) -> None:
    code = ("import sys\nsys.stdout.write('init without newline')\n\n"
            "def handler(event, context):\n    sys.stdout.write('no newline')\n    return 1\n")
    name = make_function(code)
    response, _ = invoke_json(lambda_client, name, LogType="Tail")
    request_id = header(response, "x-amzn-requestid")
    lines = tail_of(response).splitlines()
    assert lines[:4] == ["init without newline", f"START RequestId: {request_id} Version: $LATEST", "no newline",
                         f"END RequestId: {request_id}"]


def test_no_log_result_without_tail(lambda_client, make_function) -> None:
    name = make_function(LOGGING_HANDLER)
    response, _ = invoke_json(lambda_client, name)
    assert "LogResult" not in response


def test_large_request_payload_is_accepted(lambda_client, make_function) -> None:
    name = make_function("def handler(event, context):\n    return {'length': len(event['blob'])}\n")
    blob = "a" * 5_900_000
    response, result = invoke_json(lambda_client, name, {"blob": blob})
    assert "FunctionError" not in response
    assert result == {"length": len(blob)}


def test_response_over_6_mb_is_a_function_error(lambda_client, make_function) -> None:
    name = make_function("def handler(event, context):\n    return 'y' * event['size']\n")
    response, error = invoke_json(lambda_client, name, {"size": 6_400_000})
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Function.ResponseSizeTooLarge"
    assert error["errorMessage"] == "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
    # just under the limit still goes through, and the environment stays usable
    response, result = invoke_json(lambda_client, name, {"size": 6_000_000})
    assert "FunctionError" not in response
    assert len(result) == 6_000_000


def test_empty_payload_arrives_as_empty_object(lambda_client, make_function) -> None:
    name = make_function(ECHO_CONTEXT)
    response = lambda_client.invoke(FunctionName=name)
    assert json.loads(response["Payload"].read())["event"] == {}
    response = lambda_client.invoke(FunctionName=name, Payload=b"")
    assert json.loads(response["Payload"].read())["event"] == {}


def test_request_id_is_the_context_request_id(lambda_client, make_function) -> None:
    name = make_function(ECHO_CONTEXT)
    response, result = invoke_json(lambda_client, name, {"k": [1, 2]})
    assert re.fullmatch(REQUEST_ID, result["request_id"])
    assert result["request_id"] == header(response, "x-amzn-requestid")
    assert result["event"] == {"k": [1, 2]}


def test_client_context_reaches_the_function(lambda_client, make_function) -> None:
    name = make_function(ECHO_CONTEXT)
    client_context = {"custom": {"tenant": "acme", "n": 3}, "env": {"locale": "en"}, "client": {}}
    encoded = base64.b64encode(json.dumps(client_context).encode()).decode()
    response, result = invoke_json(lambda_client, name, ClientContext=encoded)
    assert "FunctionError" not in response
    assert result["custom"] == {"tenant": "acme", "n": 3}
    _, result = invoke_json(lambda_client, name)
    assert result["custom"] is None


def test_trace_id_header_reaches_the_function(server: EmberServer, make_function) -> None:
    name = make_function(ECHO_CONTEXT)
    trace_id = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

    def add_trace_header(request, **_: object) -> None:
        request.headers["X-Amzn-Trace-Id"] = trace_id

    client = server.lambda_client()
    try:
        client.meta.events.register("before-sign.lambda.Invoke", add_trace_header)
        _, result = invoke_json(client, name)
        # As Lambda does, with the chain's lineage for recursive loop detection (test_recursion.py)
        assert result["trace"] == f"{trace_id};{first_lineage(name)}"
        client.meta.events.unregister("before-sign.lambda.Invoke", add_trace_header)
        _, result = invoke_json(client, name)
        assert not result["trace"].startswith(trace_id)  # not left over from the previous invocation
    finally:
        client.close()


def test_legacy_invoke_async(lambda_client, make_function) -> None:
    name = make_function(RECORDER)
    response = lambda_client.invoke_async(FunctionName=name, InvokeArgs=json.dumps({"n": 1}))
    assert response["Status"] == 202
    request_id = header(response, "x-amzn-requestid")
    assert re.fullmatch(REQUEST_ID, request_id)
    assert wait_for_run(lambda_client, name, request_id)["ran"] == [request_id]
