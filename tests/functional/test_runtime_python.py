"""The Python runtimes: the context and environment a handler sees, init errors, crashes, logging."""

from __future__ import annotations

import base64
import re

import pytest

from tests.functional.conftest import DEFAULT_RUNTIME, invoke_json

PYTHON_RUNTIMES = ["python3.9", "python3.10", "python3.11", "python3.12", "python3.13"]

INSPECT_HANDLER = '''
import os
import sys

VARIABLES = ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
             "AWS_REGION", "AWS_DEFAULT_REGION", "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_LAMBDA_LOG_GROUP_NAME",
             "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_EXECUTION_ENV", "AWS_LAMBDA_RUNTIME_API", "TZ")


def handler(event, context):
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_context": context.client_context,
        "env": {name: os.environ.get(name) for name in VARIABLES},
        "version": list(sys.version_info[:2]),
        "cwd": os.getcwd(),
        "file": __file__,
    }
'''


@pytest.mark.parametrize("runtime", PYTHON_RUNTIMES)
def test_context_and_environment(runtime: str, available_runtimes: set[str], lambda_client, make_function) -> None:
    if runtime not in available_runtimes:
        pytest.skip(f"this host has no {runtime} interpreter")
    name = make_function(INSPECT_HANDLER, runtime=runtime, Timeout=7, MemorySize=256)
    response, seen = invoke_json(lambda_client, name)
    assert "FunctionError" not in response, seen
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]

    assert seen["function_name"] == name
    assert seen["function_version"] == "$LATEST"
    assert seen["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert seen["memory_limit_in_mb"] == "256"  # a string on Lambda too
    assert seen["aws_request_id"] == request_id
    assert seen["log_group_name"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", seen["log_stream_name"])
    assert 0 < seen["remaining_ms"] <= 7000
    assert seen["identity"] == [None, None]
    assert seen["client_context"] is None
    assert seen["version"] == [int(part) for part in runtime.removeprefix("python").split(".")]

    env = seen["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "index.handler"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == seen["log_group_name"]
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == seen["log_stream_name"]
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{runtime}"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert env["TZ"] == ":UTC"
    assert env["LAMBDA_TASK_ROOT"] == seen["cwd"]
    assert seen["file"] == env["LAMBDA_TASK_ROOT"] + "/index.py"


def test_handlers_in_packages(lambda_client, make_function) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/mod.py": "from pkg.helper import VALUE\n\ndef handler(event, context):\n    return VALUE\n",
        "pkg/helper.py": "VALUE = 'from the package'\n",
    }
    for handler in ("pkg/mod.handler", "pkg.mod.handler"):
        name = make_function(files=files, handler=handler)
        response, result = invoke_json(lambda_client, name)
        assert "FunctionError" not in response, result
        assert result == "from the package"


def test_a_user_module_may_share_a_name_with_the_stdlib_or_bootstrap(lambda_client, make_function) -> None:
    files = {"bootstrap.py": "def handler(event, context):\n    return 'mine'\n", "json.py": "X = 1\n"}
    name = make_function(files=files, handler="bootstrap.handler")
    response, result = invoke_json(lambda_client, name)
    assert "FunctionError" not in response, result
    assert result == "mine"


@pytest.mark.parametrize(("files", "handler", "error_type", "message"), [
    ({"index.py": "def handler(e, c):\n    return 1\n"}, "missing.handler", "Runtime.ImportModuleError",
     "Unable to import module 'missing': No module named 'missing'"),
    ({"index.py": "import not_installed_anywhere\n"}, "index.handler", "Runtime.ImportModuleError",
     "Unable to import module 'index': No module named 'not_installed_anywhere'"),
    ({"index.py": "def handler(e, c):\n    return 1\n"}, "index.nope", "Runtime.HandlerNotFound",
     "Handler 'nope' missing on module 'index'"),
    ({"index.py": "def handler(e, c)\n    return 1\n"}, "index.handler", "Runtime.UserCodeSyntaxError",
     "Syntax error in module 'index': "),
    ({"index.py": "def handler(e, c):\n    return 1\n"}, "index", "Runtime.MalformedHandlerName",
     "Bad handler 'index': not enough values to unpack (expected 2, got 1)"),
    ({"index.py": "raise RuntimeError('cannot start: ' + 'config missing')\n"}, "index.handler", "RuntimeError",
     "cannot start: config missing"),
], ids=["missing-module", "missing-dependency", "handler-not-found", "syntax-error", "malformed-handler",
        "exception-at-import"])
def test_init_errors(files: dict[str, str], handler: str, error_type: str, message: str, lambda_client,
                     make_function) -> None:
    name = make_function(files=files, handler=handler)
    for _ in range(2):  # the init is retried on the next invoke, and fails the same way
        response, error = invoke_json(lambda_client, name, LogType="Tail")
        assert response["StatusCode"] == 200
        assert response["FunctionError"] == "Unhandled"
        assert error["errorType"] == error_type
        assert error["errorMessage"].startswith(message), error["errorMessage"]
        assert isinstance(error.get("stackTrace"), list)
        log = base64.b64decode(response["LogResult"]).decode()
        assert f"[ERROR] {error_type}: " in log
        assert "REPORT RequestId: " in log


CRASHING_HANDLER = '''
import os
import signal
import sys
import uuid

ENV_ID = uuid.uuid4().hex  # one per environment: in pid namespaces every runtime has the same pid

def handler(event, context):
    how = event.get("crash")
    print("about to", how)
    if how == "exit1":
        sys.exit(1)
    if how == "exit0":
        os._exit(0)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    return ENV_ID
'''


@pytest.mark.parametrize(("crash", "reason"), [
    ("exit1", "Runtime exited with error: exit status 1"),
    ("exit0", "Runtime exited without providing a reason"),
    ("kill", "Runtime exited with error: signal: killed"),
])
def test_a_crashing_handler_is_an_exit_error_and_the_next_invoke_works(crash: str, reason: str, lambda_client,
                                                                       make_function) -> None:
    name = make_function(CRASHING_HANDLER)
    _, first_env = invoke_json(lambda_client, name)
    response, error = invoke_json(lambda_client, name, {"crash": crash}, LogType="Tail")
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorType": "Runtime.ExitError", "errorMessage": f"RequestId: {request_id} Error: {reason}"}
    log = base64.b64decode(response["LogResult"]).decode()
    assert f"about to {crash}" in log
    assert f"END RequestId: {request_id}" in log

    response, env = invoke_json(lambda_client, name, LogType="Tail")
    assert "FunctionError" not in response, env
    assert isinstance(env, str) and env != first_env  # a fresh environment
    assert "Init Duration" in base64.b64decode(response["LogResult"]).decode()


def test_exit_during_init_is_an_exit_error(lambda_client, make_function) -> None:
    name = make_function("import sys\nprint('initialising')\nsys.exit(3)\n")
    response, error = invoke_json(lambda_client, name, LogType="Tail")
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorType": "Runtime.ExitError",
                     "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status 3"}
    log = base64.b64decode(response["LogResult"]).decode()
    assert log.startswith("initialising\n")
    assert f"END RequestId: {request_id}" in log


def test_logging_records_carry_level_time_and_request_id(lambda_client, make_function) -> None:
    code = ("import logging\n\ndef handler(event, context):\n"
            "    logging.getLogger().warning('careful: %s', event['what'])\n"
            "    logging.getLogger('child').error('child logger')\n"
            "    logging.getLogger().debug('not shown at the default level')\n")
    name = make_function(code)
    response, _ = invoke_json(lambda_client, name, {"what": "thin ice"}, LogType="Tail")
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    log = base64.b64decode(response["LogResult"]).decode()
    timestamp = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"
    assert re.search(rf"^\[WARNING\]\t{timestamp}\t{re.escape(request_id)}\tcareful: thin ice$", log, re.M), log
    assert re.search(rf"^\[ERROR\]\t{timestamp}\t{re.escape(request_id)}\tchild logger$", log, re.M), log
    assert "not shown" not in log


def test_default_runtime_is_available(available_runtimes: set[str]) -> None:
    assert DEFAULT_RUNTIME in available_runtimes
