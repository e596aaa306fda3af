"""OS-only runtimes (provided.al2, provided.al2023): the function's own bootstrap speaks the Runtime API.

Proved with AWS's own runtime interface client (awslambdaric from PyPI, installed into the zip),
a POSIX shell bootstrap that uses curl, and a Python script that probes the Runtime API's edges.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.functional.conftest import ROLE, first_lineage, invoke_json, unique_name

#: AWS's Python runtime interface client, pinned; its wheel carries a C extension
AWSLAMBDARIC = "awslambdaric==3.1.1"
#: the interpreter the awslambdaric bootstrap runs on inside the sandbox (visible there: under /usr)
SANDBOX_PYTHON = Path("/usr/bin/python3")
#: a custom runtime's CPU share follows its memory: give the shell bootstraps (curl per request) a whole vCPU
ONE_VCPU_MB = 1769


def package(files: dict[str, str | bytes], executables: tuple[str, ...] = ("bootstrap",),
            folder: Path | None = None) -> bytes:
    """A zip with `files` (the `executables` mode 755) and, when given, everything under `folder`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if folder is not None:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo(str(path.relative_to(folder)), date_time=(2020, 1, 1, 0, 0, 0))
                    info.external_attr = (path.stat().st_mode & 0o777 | 0o444) << 16
                    archive.writestr(info, path.read_bytes())
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in executables else 0o644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


@pytest.fixture
def make_custom(lambda_client):
    """Create a custom-runtime function from a zip; deleted afterwards."""
    created: list[str] = []

    def make(zip_bytes: bytes, runtime: str = "provided.al2023", handler: str = "function.handler",
             **settings: object) -> str:
        name = unique_name("custom")
        lambda_client.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                                      Code={"ZipFile": zip_bytes}, **settings)
        created.append(name)
        return name

    yield make
    for name in created:
        lambda_client.delete_function(FunctionName=name)


def tail(response: dict) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def request_id(response: dict) -> str:
    return response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


# --- a POSIX shell bootstrap with curl ------------------------------------------------------------------------

SHELL_BOOTSTRAP = r'''#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
echo "shell bootstrap up, handler ${_HANDLER}, execution env ${AWS_EXECUTION_ENV:-unset}"
if [ "${INIT_FAIL:-}" = "1" ]; then
  curl -sS -X POST -H 'Lambda-Runtime-Function-Error-Type: Custom.InitFailed' "$API/init/error" \
    -d '{"errorMessage":"cannot start: no config","errorType":"Custom.InitFailed"}' >/dev/null
  exit 1
fi
HEADERS=/tmp/headers
while true; do
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  header() { grep -Fi "$1:" "$HEADERS" | cut -d: -f2- | tr -d '\r' | sed 's/^ //'; }
  REQUEST_ID=$(header Lambda-Runtime-Aws-Request-Id)
  echo "handling $REQUEST_ID"
  case "$EVENT" in
    *'"fail"'*)
      curl -sS -X POST -H 'Lambda-Runtime-Function-Error-Type: Custom.Failure' "$API/invocation/$REQUEST_ID/error" \
        -d '{"errorMessage":"asked to fail","errorType":"Custom.Failure"}' >/dev/null ;;
    *'"exit"'*)
      echo "exiting with 3"
      exit 3 ;;
    *)
      BODY=$(printf '{"event":%s,"deadline":"%s","arn":"%s","trace":"%s","clientContext":"%s"}' "$EVENT" \
        "$(header Lambda-Runtime-Deadline-Ms)" "$(header Lambda-Runtime-Invoked-Function-Arn)" \
        "$(header Lambda-Runtime-Trace-Id)" "$(header Lambda-Runtime-Client-Context | sed 's/"/\\"/g')")
      curl -sS -X POST "$API/invocation/$REQUEST_ID/response" -d "$BODY" >/dev/null ;;
  esac
done
'''


def test_a_shell_bootstrap_with_curl_serves_results_errors_and_context(lambda_client, make_custom) -> None:
    if shutil.which("curl") is None or not Path("/usr/bin/curl").exists():
        pytest.skip("curl is not installed in /usr/bin")
    name = make_custom(package({"bootstrap": SHELL_BOOTSTRAP}), MemorySize=ONE_VCPU_MB, Timeout=9)
    client_context = base64.b64encode(json.dumps({"custom": {"from": "test"}}).encode()).decode()
    response, result = invoke_json(lambda_client, name, {"n": 1}, LogType="Tail", ClientContext=client_context)
    assert "FunctionError" not in response, result
    assert result["event"] == {"n": 1}
    assert result["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert result["trace"].startswith("Root=1-")
    assert json.loads(result["clientContext"]) == {"custom": {"from": "test"}}
    assert 0 < int(result["deadline"]) - time.time() * 1000 <= 9000  # epoch ms of the timeout
    log = tail(response)
    # init output comes before START; OS-only runtimes have no AWS_EXECUTION_ENV
    assert log.index("shell bootstrap up, handler function.handler, execution env unset") < log.index("START")
    assert f"handling {request_id(response)}" in log

    response, error = invoke_json(lambda_client, name, {"fail": True}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorMessage": "asked to fail", "errorType": "Custom.Failure"}
    assert f"handling {request_id(response)}" in tail(response)  # output without a marker still lands

    response, error = invoke_json(lambda_client, name, {"exit": True}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id(response)} Error: "
                                                                        "Runtime exited with error: exit status 3"}
    assert "exiting with 3" in tail(response)

    response, result = invoke_json(lambda_client, name, {"n": 2}, LogType="Tail")
    assert result["event"] == {"n": 2}
    assert "Init Duration" in tail(response)  # a new environment after the exit


def test_the_callers_trace_header_reaches_the_runtime(server, make_custom) -> None:
    name = make_custom(package({"bootstrap": SHELL_BOOTSTRAP}), MemorySize=ONE_VCPU_MB)
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    client = server.lambda_client()

    def add_trace_header(request, **_: object) -> None:
        request.headers["X-Amzn-Trace-Id"] = trace

    client.meta.events.register("before-sign.lambda.Invoke", add_trace_header)
    try:
        response, result = invoke_json(client, name, {"traced": True})
    finally:
        client.close()
    assert "FunctionError" not in response, result
    assert result["trace"] == f"{trace};{first_lineage(name)}"


def test_an_init_error_posted_by_the_bootstrap_fails_the_invocation(server, lambda_client, make_custom,
                                                                    tmp_path: Path) -> None:
    name = make_custom(package({"bootstrap": SHELL_BOOTSTRAP}), MemorySize=ONE_VCPU_MB,
                       Environment={"Variables": {"INIT_FAIL": "1"}})
    response, error = invoke_json(lambda_client, name, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorMessage": "cannot start: no config", "errorType": "Custom.InitFailed"}
    assert "shell bootstrap up" in tail(response)
    # the same through the aws CLI: the error is the result, flagged in FunctionError
    out = tmp_path / "out.json"
    completed = server.aws("lambda", "invoke", "--function-name", name, str(out))
    assert json.loads(completed.stdout)["FunctionError"] == "Unhandled"
    assert json.loads(out.read_text())["errorType"] == "Custom.InitFailed"


def test_a_bootstrap_may_come_from_a_layer(lambda_client, make_custom) -> None:
    layer = lambda_client.publish_layer_version(
        LayerName=unique_name("bootstrap-layer"), Content={"ZipFile": package({"bootstrap": SHELL_BOOTSTRAP})})
    name = make_custom(package({"README": "the bootstrap is in a layer"}, executables=()),
                       Layers=[layer["LayerVersionArn"]], MemorySize=ONE_VCPU_MB)
    response, result = invoke_json(lambda_client, name, {"from": "layer"})
    assert "FunctionError" not in response, result
    assert result["event"] == {"from": "layer"}


@pytest.mark.parametrize(("files", "executables", "reason"), [
    ({"main.sh": "#!/bin/sh\n"}, (), "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"),
    ({"bootstrap": "#!/bin/sh\n"}, (), "fork/exec /var/task/bootstrap: permission denied"),
], ids=["missing", "not-executable"])
def test_a_bootstrap_that_cannot_run_is_an_invalid_entrypoint(files: dict[str, str], executables: tuple[str, ...],
                                                              reason: str, lambda_client, make_custom) -> None:
    name = make_custom(package(files, executables))
    response, error = invoke_json(lambda_client, name)
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorType": "Runtime.InvalidEntrypoint",
                     "errorMessage": f"RequestId: {request_id(response)} Error: {reason}"}


def test_the_deprecated_provided_runtime_is_refused_as_aws_does(lambda_client) -> None:
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as caught:
        lambda_client.create_function(FunctionName=unique_name(), Runtime="provided", Role=ROLE, Handler="x",
                                      Code={"ZipFile": package({"bootstrap": "#!/bin/sh\n"})})
    assert caught.value.response["Error"]["Message"] == (
        "The runtime parameter of provided is no longer supported for creating or updating AWS Lambda functions. "
        "We recommend you use the new runtime (provided.al2023) while creating or updating functions.")


# --- the Runtime API's edges, probed by a Python bootstrap -----------------------------------------------------

EDGES_BOOTSTRAP = r'''#!/usr/bin/python3
import http.client, json, os

API = "/2018-06-01/runtime"
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")


def call(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), data.decode()


while True:
    status, headers, event = call("GET", API + "/invocation/next")
    request_id = headers["Lambda-Runtime-Aws-Request-Id"]
    wanted = json.loads(event)
    if wanted.get("oversize"):
        big = json.dumps({"blob": "x" * (6 * 1024 * 1024 + 200)})
        status, _, body = call("POST", f"{API}/invocation/{request_id}/response", big)
        print("oversize answered", status, body, flush=True)
        continue
    seen = {
        "init_error_after_init": call("POST", API + "/init/error", "{}",
                                      {"Lambda-Runtime-Function-Error-Type": "Late"})[::2],
        "unknown_request": call("POST", API + "/invocation/not-a-request/response", "{}")[::2],
        "wrong_method": call("GET", f"{API}/invocation/{request_id}/response")[0],
        "unknown_route": call("GET", API + "/nowhere")[0],
    }
    status, _, body = call("POST", f"{API}/invocation/{request_id}/response", json.dumps(seen))
    print("response answered", status, body, flush=True)
    second = call("POST", f"{API}/invocation/{request_id}/response", "{}")
    print("second response answered", second[0], second[2], flush=True)
'''


def test_runtime_api_edges_answer_as_lambda_does(lambda_client, make_custom) -> None:
    if not SANDBOX_PYTHON.exists():
        pytest.skip(f"{SANDBOX_PYTHON} is missing")
    name = make_custom(package({"bootstrap": EDGES_BOOTSTRAP}), MemorySize=1024)
    response, seen = invoke_json(lambda_client, name, LogType="Tail")
    assert "FunctionError" not in response, seen
    status, body = seen["init_error_after_init"]
    assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"
    assert seen["unknown_request"] == [400, '{"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}']
    assert seen["wrong_method"] == 405
    assert seen["unknown_route"] == 404
    log = tail(response)

    response, error = invoke_json(lambda_client, name, {"oversize": True}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                     "errorType": "Function.ResponseSizeTooLarge"}
    log += tail(response)
    log += tail(invoke_json(lambda_client, name, LogType="Tail")[0])
    # What the bootstrap prints after posting lands in this invocation's log or the next one's.
    assert 'response answered 202 {"status":"OK"}' in log
    assert "second response answered 400" in log  # an answered invocation is no longer current
    assert ("oversize answered 413 " + json.dumps({"errorMessage": "Exceeded maximum allowed payload size "
                                                                    "(6291556 bytes).",
                                                    "errorType": "RequestEntityTooLarge"})) in log


# --- AWS's runtime interface client ----------------------------------------------------------------------------

RIC_BOOTSTRAP = '''#!/bin/sh
# awslambdaric and its dependencies are in the package's vendor folder, built for this python3
export PYTHONPATH="$LAMBDA_TASK_ROOT/vendor"
exec /usr/bin/python3 -m awslambdaric "$_HANDLER"
'''
RIC_APP = '''
import os


def handler(event, context):
    print("awslambdaric handler", context.aws_request_id)
    if event.get("fail"):
        raise ValueError("the client reported this")
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "log_group": context.log_group_name,
        "client_context": context.client_context.custom if context.client_context else None,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "event": event,
    }
'''


@pytest.fixture(scope="module")
def awslambdaric_vendor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """awslambdaric installed from PyPI for the sandbox's python3 (its wheel has a C extension)."""
    if not SANDBOX_PYTHON.exists():
        pytest.skip(f"{SANDBOX_PYTHON} is missing: nothing in the sandbox to run awslambdaric on")
    version = subprocess.run([str(SANDBOX_PYTHON), "-c", "import sys; print(f'{sys.version_info[0]}."
                              "{sys.version_info[1]}')"], capture_output=True, text=True, check=True).stdout.strip()
    vendor = tmp_path_factory.mktemp("ric") / "vendor"
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", str(vendor),
         "--only-binary=:all:", "--python-version", version, "--implementation", "cp", "--platform",
         "manylinux2014_x86_64", AWSLAMBDARIC],
        capture_output=True, text=True, timeout=110, check=False, env={**os.environ, "PIP_NO_INPUT": "1"})
    if completed.returncode != 0:
        pytest.skip(f"cannot build {AWSLAMBDARIC} for python{version} here (offline?): "
                    f"{completed.stderr.strip().splitlines()[-1:]}")
    return vendor


def test_aws_runtime_interface_client_works_unchanged(awslambdaric_vendor: Path, lambda_client,
                                                      make_custom, tmp_path: Path) -> None:
    folder = tmp_path / "package"
    shutil.copytree(awslambdaric_vendor, folder / "vendor")
    name = make_custom(package({"bootstrap": RIC_BOOTSTRAP, "app.py": RIC_APP}, folder=folder), handler="app.handler",
                       MemorySize=1024, Timeout=6)
    client_context = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    response, seen = invoke_json(lambda_client, name, {"q": 1}, LogType="Tail", ClientContext=client_context)
    assert "FunctionError" not in response, seen
    assert seen["function_name"] == name and seen["function_version"] == "$LATEST"
    assert seen["memory"] == "1024"
    assert seen["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert seen["request_id"] == request_id(response)
    assert 0 < seen["remaining_ms"] <= 6000
    assert seen["log_group"] == f"/aws/lambda/{name}"
    assert seen["client_context"] == {"tenant": "t1"}
    assert seen["trace"].startswith("Root=1-")
    assert seen["event"] == {"q": 1}
    assert f"awslambdaric handler {request_id(response)}" in tail(response)

    response, error = invoke_json(lambda_client, name, {"fail": True}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "the client reported this"
    assert error["requestId"] == request_id(response)
    assert any("raise ValueError" in frame for frame in error["stackTrace"]), error
    assert "[ERROR] ValueError: the client reported this" in tail(response)
