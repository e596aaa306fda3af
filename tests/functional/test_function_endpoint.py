"""Ember's own AWS APIs from inside every execution environment: AWS_ENDPOINT_URL.

The functions here name no endpoint and no keys: boto3 finds the endpoint in AWS_ENDPOINT_URL and the
execution role's credentials in the environment, as on Lambda. At the plain level the endpoint is a
listener of the server's on the host's loopback; at the isolated and rootless levels a listener inside the
environment's own network (127.0.0.1:4566 there), which the server serves until the environment ends.
Either way it answers Ember's AWS APIs only: its own routes (/_ember/*, /metrics) are refused."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable, Iterator

import pytest

from tests.functional.conftest import (
    ROLE,
    ROOT_KEY_ID,
    ROOT_SECRET,
    EmberServer,
    execution_role,
    functions_on,
    iam_mode_server,
    invoke_json,
    level_ember,
    start_or_refusal,
    unique_name,
)

#: lists functions, invokes `callee` synchronously if asked, writes a log event, and tries Ember's own routes
CALLER = """
import json
import os
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=120)


def error_code(error):
    return error.response["Error"]["Code"]


def handler(event, context):
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    result = {"endpoint": endpoint}
    lam = boto3.client("lambda", config=CONFIG)
    try:
        result["functions"] = sorted(f["FunctionName"] for f in lam.list_functions()["Functions"])
    except ClientError as error:
        result["list_error"] = error_code(error)
    if event.get("callee"):
        try:
            response = lam.invoke(FunctionName=event["callee"], Payload=json.dumps({"from": context.function_name}))
            result["callee"] = json.loads(response["Payload"].read())
        except ClientError as error:
            result["invoke_error"] = error_code(error)
    if event.get("log_group"):
        logs = boto3.client("logs", config=CONFIG)
        try:
            logs.create_log_stream(logGroupName=event["log_group"], logStreamName=context.function_name)
            logs.put_log_events(logGroupName=event["log_group"], logStreamName=context.function_name,
                                logEvents=[{"timestamp": int(time.time() * 1000), "message": "hello from inside"}])
            result["logged"] = True
        except ClientError as error:
            result["log_error"] = error_code(error)
    if event.get("download_own_code"):
        location = lam.get_function(FunctionName=context.function_name)["Code"]["Location"]
        with urllib.request.urlopen(location, timeout=30) as answer:
            result["own_code"] = [answer.status, answer.read(2).decode()]
    own = {}
    for path in ("/_ember/health", "/_ember/async", "/metrics"):
        try:
            with urllib.request.urlopen(endpoint + path, timeout=30) as answer:
                own[path] = answer.status
        except urllib.error.HTTPError as refused:
            own[path] = refused.code
    result["own_routes"] = own
    return result
"""

#: the function A invokes: says who called it
CALLEE = """
import os

def handler(event, context):
    return {"called_by": event.get("from"), "me": context.function_name, "endpoint": os.environ["AWS_ENDPOINT_URL"]}
"""

#: the iam-mode servers run as root (iam_mode_server): the rootless level, run by an unprivileged user, is
#: covered in open mode
LEVELS = ["plain", "isolated"]
OPEN_MODE_LEVELS = [*LEVELS, "rootless"]
REFUSED = {"/_ember/health": 404, "/_ember/async": 404, "/metrics": 404}


@contextlib.contextmanager
def made_functions(client, role: str) -> Iterator[Callable[..., str]]:
    """functions_on's make, as `role` and with time for a chain of calls (120 s) unless told."""
    with functions_on(client, role=role) as make:
        yield functools.partial(make, Timeout=120)


def run(client, name: str, event: dict) -> dict:
    response, payload = invoke_json(client, name, event)
    assert "FunctionError" not in response, payload
    assert isinstance(payload, dict)
    return payload


def logged_messages(logs, group: str, stream: str) -> list[str]:
    return [event["message"] for event in logs.get_log_events(logGroupName=group, logStreamName=stream)["events"]]


@contextlib.contextmanager
def log_group(logs) -> Iterator[str]:
    """A log group of its own for the functions to write to; deleted on leaving."""
    group = f"/ember-test/{unique_name('endpoint')}"
    logs.create_log_group(logGroupName=group)
    try:
        yield group
    finally:
        logs.delete_log_group(logGroupName=group)


@pytest.mark.parametrize("level", OPEN_MODE_LEVELS)
def test_a_function_calls_embers_apis_with_no_endpoint_or_keys_in_its_code(
        level: str, level_server: Callable[[str], EmberServer]) -> None:
    ember = level_server(level)
    lam, logs = ember.lambda_client(), ember.client("logs")
    with made_functions(lam, ROLE) as make, log_group(logs) as group:
        callee = make(CALLEE)
        caller = make(CALLER)
        result = run(lam, caller, {"callee": callee, "log_group": group, "download_own_code": True})
        if level != "plain":
            assert result["endpoint"] == "http://127.0.0.1:4566"  # inside its own network
        else:
            assert result["endpoint"].startswith("http://127.0.0.1:")
            assert result["endpoint"] != ember.url  # a listener apart from the server's own
        assert {caller, callee} <= set(result["functions"])
        # A invoked B synchronously through the endpoint, and got B's result.
        assert result["callee"] == {"called_by": caller, "me": callee, "endpoint": result["endpoint"]}
        assert result["logged"] is True
        assert logged_messages(logs, group, caller) == ["hello from inside"]
        assert result["own_routes"] == REFUSED
        assert result["own_code"] == [200, "PK"]  # its presigned code URL works from inside too


@pytest.mark.parametrize("level", OPEN_MODE_LEVELS)
def test_a_functions_own_endpoint_variable_wins(level: str, level_server: Callable[[str], EmberServer]) -> None:
    lam = level_server(level).lambda_client()
    with made_functions(lam, ROLE) as make:
        name = make("import os\ndef handler(event, context):\n    return os.environ['AWS_ENDPOINT_URL']\n",
                    Environment={"Variables": {"AWS_ENDPOINT_URL": "http://example.invalid:1"}})
        assert invoke_json(lam, name)[1] == "http://example.invalid:1"


def open_sockets(pid: int) -> int:
    """How many sockets process `pid` holds (listeners and connections alike)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except FileNotFoundError:
            pass  # closed meanwhile
    return count


def settled_sockets(pid: int, quiet_s: float = 1.0, timeout_s: float = 60.0) -> int:
    """open_sockets(pid) once it has not changed for `quiet_s` (environments starting or ending meanwhile)."""
    deadline = time.monotonic() + timeout_s
    count, since = open_sockets(pid), time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.1)
        now = open_sockets(pid)
        if now != count:
            count, since = now, time.monotonic()
    return count


@pytest.mark.parametrize("level", LEVELS)
def test_an_environments_endpoint_is_closed_when_it_ends(level: str,
                                                         level_server: Callable[[str], EmberServer]) -> None:
    ember = level_server(level)
    assert ember.process is not None
    pid = ember.process.pid
    lam = ember.lambda_client()
    # The test's own connection to the server, and at the isolated level the environments parked ahead for
    # the runtime (started once a function uses it, refilled as they are taken), exist from here on.
    with made_functions(lam, ROLE) as make:
        run(lam, make(CALLEE), {})
    before = settled_sockets(pid)
    with made_functions(lam, ROLE) as make:
        callee = make(CALLEE)
        caller = make(CALLER)
        assert run(lam, caller, {"callee": callee})["callee"]["me"] == callee
        assert open_sockets(pid) > before  # two environments, with their listeners
    # Deleting the functions retires their environments: every socket they held is closed.
    deadline = time.monotonic() + 60
    while open_sockets(pid) > before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert settled_sockets(pid) <= before


#: a role for CALLER: list and invoke functions, write logs; nothing else
ALLOWED = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["lambda:ListFunctions", "lambda:InvokeFunction"], "Resource": "*"},
    {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": "*"}]}


@pytest.fixture(scope="module", params=OPEN_MODE_LEVELS)
def iam_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmberServer]:
    if request.param != "rootless":
        ember = iam_mode_server(tmp_path_factory.mktemp(f"endpoint-iam-{request.param}") / "data",
                                "--sandbox", request.param)
    else:  # run as it is meant to be, by an unprivileged user (see sandbox_levels)
        ember = level_ember("rootless", tmp_path_factory.mktemp("endpoint-iam-rootless"), request)
        ember.extra_args += ["--auth", "iam"]
        ember.env = {**ember.env, "EMBER_ROOT_ACCESS_KEY_ID": ROOT_KEY_ID, "EMBER_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET}
        refusal = start_or_refusal(ember)
        if refusal is not None:
            pytest.skip(f"--sandbox rootless {refusal}")
    yield ember
    ember.shut_down()


def test_in_iam_mode_the_roles_policies_decide(iam_server: EmberServer) -> None:
    iam, lam, logs = (iam_server.root_client(name) for name in ("iam", "lambda", "logs"))
    allowed_role = execution_role(iam, "endpoint-allowed")
    iam.put_role_policy(RoleName="endpoint-allowed", PolicyName="calls", PolicyDocument=json.dumps(ALLOWED))
    bare_role = execution_role(iam, "endpoint-bare")  # no policy at all
    with made_functions(lam, allowed_role) as make, log_group(logs) as group:
        callee = make(CALLEE)
        allowed = make(CALLER)
        bare = make(CALLER, role=bare_role)
        result = run(lam, allowed, {"callee": callee, "log_group": group})
        assert allowed in result["functions"]
        assert result["callee"]["called_by"] == allowed
        assert result["logged"] is True
        assert logged_messages(logs, group, allowed) == ["hello from inside"]
        assert result["own_routes"] == REFUSED
        denied = run(lam, bare, {"callee": callee, "log_group": group})
        assert denied["list_error"] == "AccessDeniedException"
        assert denied["invoke_error"] == "AccessDeniedException"
        assert denied["log_error"] == "AccessDeniedException"
        assert "callee" not in denied and "logged" not in denied
        assert denied["own_routes"] == REFUSED
