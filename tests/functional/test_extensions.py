"""The Extensions API: external extensions in /opt/extensions (from layers) get INVOKE and SHUTDOWN.

The extensions here are POSIX shell scripts using curl; they record what they receive to a file in
the environment's /tmp (which the function reads back) and print it (which lands in the log).
"""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from pathlib import Path

import pytest

from tests.functional.conftest import invoke_json, unique_name

#: the extension processes are shell + curl: give them a whole vCPU (MemorySize buys CPU)
MEMORY_MB = 1769

RECORDER = r'''#!/bin/sh
# Registers for INVOKE and SHUTDOWN, records every event to /tmp/recorder-events and prints it.
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
curl -sS -D /tmp/recorder-headers -X POST "$API/register" -H "Lambda-Extension-Name: recorder" \
  -H "Lambda-Extension-Accept-Feature: accountId" -d '{"events":["INVOKE","SHUTDOWN"]}' > /tmp/recorder-register
ID=$(grep -Fi Lambda-Extension-Identifier /tmp/recorder-headers | cut -d: -f2 | tr -d ' \r')
echo "[recorder] registered; sees _HANDLER=${_HANDLER:-unset} AWS_LAMBDA_FUNCTION_NAME=${AWS_LAMBDA_FUNCTION_NAME}"
while true; do
  EVENT=$(curl -sS "$API/event/next" -H "Lambda-Extension-Identifier: $ID")
  echo "$EVENT" >> /tmp/recorder-events
  echo "[recorder] received $EVENT"
  case "$EVENT" in
    *'"SHUTDOWN"'*) echo "[recorder] shutting down"; exit 0 ;;
    *) sleep 0.1 ;;  # work after the response, within the invocation
  esac
done
'''

READER = '''
import json, os


def handler(event, context):
    def read(path):
        return open(path).read() if os.path.exists(path) else None
    events = read("/tmp/recorder-events")
    return {"register": json.loads(read("/tmp/recorder-register") or "null"),
            "events": [json.loads(line) for line in (events or "").splitlines()]}
'''

INIT_FAILER = r'''#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
curl -sS -D /tmp/h -X POST "$API/register" -H "Lambda-Extension-Name: failer" -d '{"events":["INVOKE"]}' >/dev/null
ID=$(grep -Fi Lambda-Extension-Identifier /tmp/h | cut -d: -f2 | tr -d ' \r')
curl -sS -X POST "$API/init/error" -H "Lambda-Extension-Identifier: $ID" \
  -H "Lambda-Extension-Function-Error-Type: Extension.ConfigMissing" -d '{"errorMessage":"no config"}' >/dev/null
exit 1
'''

CRASHER = "#!/bin/sh\necho '[crasher] leaving without registering'\nexit 2\n"

#: the function probes the Extensions API's refusals itself (it runs in the same environment)
API_PROBE = '''
import http.client, json, os


def call(method, path, body=None, headers=None):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, "/2020-01-01/extension" + path, body=body, headers=headers or {})
    response = conn.getresponse()
    answer = (response.status, json.loads(response.read() or b"null"))
    conn.close()
    return answer


def handler(event, context):
    return {
        "no_name": call("POST", "/register", "{}"),
        "bad_event": call("POST", "/register", json.dumps({"events": ["SOMETIMES"]}), {"Lambda-Extension-Name": "x"}),
        "late_internal": call("POST", "/register", json.dumps({"events": ["INVOKE"]}),
                              {"Lambda-Extension-Name": "in-process"}),
        "no_identifier": call("GET", "/event/next"),
        "bad_identifier": call("GET", "/event/next", None, {"Lambda-Extension-Identifier": "nope"}),
        "unknown_identifier": call("GET", "/event/next", None,
                                   {"Lambda-Extension-Identifier": "00000000-0000-0000-0000-000000000000"}),
    }
'''


def layer_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name.startswith("extensions/") else 0o644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


@pytest.fixture
def extension_layer(lambda_client):
    """Publish a layer holding `extensions/NAME` executables; returns its version ARN."""
    def publish(files: dict[str, str]) -> str:
        return lambda_client.publish_layer_version(LayerName=unique_name("ext"),
                                                   Content={"ZipFile": layer_zip(files)})["LayerVersionArn"]
    return publish


@pytest.fixture(autouse=True)
def _needs_curl() -> None:
    if not Path("/usr/bin/curl").exists():
        pytest.skip("the test extensions use /usr/bin/curl, which this host lacks")


def tail(response: dict) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def request_id(response: dict) -> str:
    return response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_an_extension_receives_invoke_and_shutdown_events(server, lambda_client, make_function,
                                                          extension_layer) -> None:
    layer = extension_layer({"extensions/recorder": RECORDER})
    name = make_function(READER, Layers=[layer], MemorySize=MEMORY_MB, Timeout=10)
    first, seen = invoke_json(lambda_client, name, LogType="Tail")
    assert "FunctionError" not in first, seen
    assert seen["register"] == {"functionName": name, "functionVersion": "$LATEST", "handler": "index.handler",
                                "accountId": "000000000000"}
    log = tail(first)
    # the extension registered before the runtime started, without the runtime's own variables
    assert log.index(f"[recorder] registered; sees _HANDLER=unset AWS_LAMBDA_FUNCTION_NAME={name}") < log.index(
        "START RequestId")
    # the INVOKE event reached it within the invocation, which ended only after it asked for the next one
    assert log.index('[recorder] received {"eventType": "INVOKE"') < log.index("END RequestId")

    second, _ = invoke_json(lambda_client, name, LogType="Tail")
    assert "Init Duration" not in tail(second)
    # The extension works in parallel with the handler: a later invocation reads what it recorded.
    _, seen = invoke_json(lambda_client, name)
    events = seen["events"][:2]
    assert [event["eventType"] for event in events] == ["INVOKE", "INVOKE"]
    assert [event["requestId"] for event in events] == [request_id(first), request_id(second)]
    invoked = events[1]
    assert invoked["invokedFunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert invoked["deadlineMs"] - time.time() * 1000 <= 10_000  # epoch ms: within the function's timeout
    assert invoked["tracing"]["type"] == "X-Amzn-Trace-Id" and invoked["tracing"]["value"].startswith("Root=1-")

    # A configuration change retires the environment: SHUTDOWN goes to the extension, whose output
    # lands in the environment's log stream.
    lambda_client.update_function_configuration(FunctionName=name, Description="retire the old environment")
    logs = server.client("logs")
    deadline = time.monotonic() + 30
    shutdown_lines: list[str] = []
    while time.monotonic() < deadline and not shutdown_lines:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern='"SHUTDOWN"')["events"]
        shutdown_lines = [event["message"] for event in found if "[recorder] received" in event["message"]]
        time.sleep(0.2)
    assert shutdown_lines, "the extension's SHUTDOWN never reached the log"
    shutdown = json.loads(shutdown_lines[0].split("[recorder] received ", 1)[1])
    assert shutdown["eventType"] == "SHUTDOWN" and shutdown["shutdownReason"] == "spindown"
    assert 0 < shutdown["deadlineMs"] - time.time() * 1000 <= 2000


def test_an_extension_init_error_fails_the_invocation(lambda_client, make_function, extension_layer) -> None:
    name = make_function(READER, Layers=[extension_layer({"extensions/failer": INIT_FAILER})], MemorySize=MEMORY_MB)
    response, error = invoke_json(lambda_client, name)
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorType": "Extension.InitError",
                     "errorMessage": f"RequestId: {request_id(response)} Error: extension failer reported "
                                     "Extension.ConfigMissing"}


def test_an_extension_that_exits_without_registering_fails_fast(lambda_client, make_function,
                                                                 extension_layer) -> None:
    name = make_function(READER, Layers=[extension_layer({"extensions/crasher": CRASHER})], MemorySize=MEMORY_MB)
    started = time.monotonic()
    response, error = invoke_json(lambda_client, name, LogType="Tail")
    assert time.monotonic() - started < 5, "a crashed extension should not wait for the 10 s init timeout"
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Extension.Crash"
    assert "not registered: crasher" in error["errorMessage"]
    assert "[crasher] leaving without registering" in tail(response)


def test_the_extensions_api_refuses_bad_calls_with_lambdas_errors(lambda_client, make_function) -> None:
    name = make_function(API_PROBE)
    response, seen = invoke_json(lambda_client, name)
    assert "FunctionError" not in response, seen

    def refusal(key: str) -> tuple[int, str]:
        status, body = seen[key]
        return status, body["errorType"]

    assert refusal("no_name") == (403, "Extension.InvalidExtensionName")
    assert refusal("bad_event") == (403, "Extension.InvalidEventType")
    assert refusal("late_internal") == (403, "Extension.RegistrationClosed")  # init is over
    assert refusal("no_identifier") == (403, "Extension.MissingExtensionIdentifier")
    assert refusal("bad_identifier") == (403, "Extension.InvalidExtensionIdentifier")
    assert refusal("unknown_identifier") == (403, "Extension.UnknownExtensionIdentifier")
