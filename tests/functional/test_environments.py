"""Execution environments: warm reuse, concurrency, keep-alive, timeouts, and retiring on updates.

These run at whatever level the session server chose, so an environment is known by an id its
function draws at import (in their pid namespaces all runtimes have the same pid), and its processes
by a marker in their environment, which the host finds in its /proc at every level.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import urllib3

from tests.functional.conftest import (
    DEFAULT_RUNTIME,
    ROLE,
    EmberServer,
    functions_on,
    invoke_json,
    make_zip,
)
from tests.functional.test_server_lifecycle import processes_with

#: Module code for a function whose processes the host finds by their EMBER_TEST_MARKER (see
#: marked): a child process started with the function's variables. The runtime's own
#: /proc/<pid>/environ may not have them: one started before it was given its function (parked)
#: receives them later, in memory. The child goes with its environment like every process of it.
SENTINEL = '''
import os
import subprocess

if "EMBER_TEST_MARKER" in os.environ:
    SENTINEL = subprocess.Popen(["sleep", "3600"])
'''

WARM_HANDLER = SENTINEL + '''
import os
import tempfile
import uuid

ENV_ID = uuid.uuid4().hex  # one per environment: pids repeat across pid namespaces
COUNTER = 0
MARKER = os.path.join(tempfile.gettempdir(), "ember-warm-marker")


def handler(event, context):
    global COUNTER
    COUNTER += 1
    existed = os.path.exists(MARKER)
    with open(MARKER, "a") as handle:
        handle.write(context.aws_request_id + "\\n")
    with open(MARKER) as handle:
        lines = handle.read().splitlines()
    return {"count": COUNTER, "marker_existed": existed, "marker_lines": len(lines), "env": ENV_ID,
            "version": VERSION if "VERSION" in globals() else None, "stage": os.environ.get("STAGE")}
'''

ENV_HANDLER = SENTINEL + '''
import time
import uuid

ENV_ID = uuid.uuid4().hex  # one per environment: pids repeat across pid namespaces

def handler(event, context):
    started = time.time()
    time.sleep(event.get("sleep", 0))
    if event.get("times"):
        return [ENV_ID, started, time.time()]
    return ENV_ID
'''


def tail_of(response: dict) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def marked(marker: str, **variables: str) -> dict:
    """Function settings whose environment carries EMBER_TEST_MARKER=`marker` (see processes_with)."""
    return {"Environment": {"Variables": {"EMBER_TEST_MARKER": marker, **variables}}}


def environment_count(ember: EmberServer) -> int:
    return json.loads(urllib3.request("GET", f"{ember.url}/_ember/health").data)["environments"]


def left_after_kill(processes: Callable[[], set[int]], timeout_s: float = 2.0) -> set[int]:
    """What `processes()` still finds after up to `timeout_s`: killed processes take a moment to go."""
    deadline = time.monotonic() + timeout_s
    while (left := processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def is_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (orphans may wait a while to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            return stat_file.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def test_warm_environment_keeps_module_state_and_tmp(lambda_client, make_function) -> None:
    name = make_function(WARM_HANDLER)
    results, tails = [], []
    for _ in range(3):
        response, result = invoke_json(lambda_client, name, LogType="Tail")
        assert "FunctionError" not in response, result
        results.append(result)
        tails.append(tail_of(response))
    assert [r["count"] for r in results] == [1, 2, 3]
    assert [r["marker_existed"] for r in results] == [False, True, True]
    assert [r["marker_lines"] for r in results] == [1, 2, 3]
    assert len({r["env"] for r in results}) == 1
    assert ["Init Duration" in tail for tail in tails] == [True, False, False]


def test_tmp_is_private_to_each_environment(lambda_client, make_function) -> None:
    first = make_function(WARM_HANDLER)
    second = make_function(WARM_HANDLER)
    _, one = invoke_json(lambda_client, first)
    _, two = invoke_json(lambda_client, second)
    assert one["marker_existed"] is False
    assert two["marker_existed"] is False  # not the first function's /tmp


def test_concurrent_invokes_run_in_parallel_in_separate_environments(lambda_client, make_function) -> None:
    name = make_function(ENV_HANDLER, Timeout=30)
    with ThreadPoolExecutor(4) as pool:
        # 4 s each: four cold starts on a busy machine still overlap inside that
        outcomes = list(pool.map(lambda _: invoke_json(lambda_client, name, {"sleep": 4, "times": True}), range(4)))
    assert all("FunctionError" not in response for response, _ in outcomes), outcomes
    environments = {env for _, (env, _, _) in outcomes}
    assert len(environments) == 4
    # every handler was running at one same moment: in parallel, however slow the machine
    assert max(start for _, (_, start, _) in outcomes) < min(end for _, (_, _, end) in outcomes)


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_idle_environments_retire_after_keep_alive(start_server, how: str) -> None:
    ember = start_server("--keep-alive", "1") if how == "flag" else start_server(env={"EMBER_KEEP_ALIVE_S": "1"})
    marker = uuid.uuid4().hex
    client = ember.lambda_client()
    try:
        client.create_function(FunctionName="keep-alive", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                               Code={"ZipFile": make_zip({"index.py": ENV_HANDLER})}, **marked(marker))
        first, first_env = invoke_json(client, "keep-alive", LogType="Tail")
        assert "Init Duration" in tail_of(first)
        warm, warm_env = invoke_json(client, "keep-alive", LogType="Tail")
        assert warm_env == first_env and "Init Duration" not in tail_of(warm)
        assert processes_with(marker) and environment_count(ember) == 1
        deadline = time.monotonic() + 30.0  # keep-alive 1 s, and the reaper looks every 0.5 s: room for a busy host
        while processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert processes_with(marker) == [], "the idle environment was not retired"
        assert environment_count(ember) == 0
        cold, cold_env = invoke_json(client, "keep-alive", LogType="Tail")
        assert cold_env != first_env
        assert "Init Duration" in tail_of(cold)
    finally:
        client.close()


def test_the_keep_alive_flag_beats_its_environment_variable(start_server) -> None:
    ember = start_server("--keep-alive", "300", env={"EMBER_KEEP_ALIVE_S": "0.5"})
    assert "keep_alive_s=300.0 (from --keep-alive)" in ember.log()
    client = ember.lambda_client()
    try:
        client.create_function(FunctionName="kept", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                               Code={"ZipFile": make_zip({"index.py": ENV_HANDLER})})
        _, first_env = invoke_json(client, "kept")
        time.sleep(3)  # six times the variable's keep-alive: retired by now if it had applied
        _, later_env = invoke_json(client, "kept")
        assert later_env == first_env
    finally:
        client.close()


def test_timeout_is_reported_as_aws_does_and_the_next_invoke_works(lambda_client, make_function) -> None:
    marker = uuid.uuid4().hex
    name = make_function(ENV_HANDLER, Timeout=1, **marked(marker))
    _, first_env = invoke_json(lambda_client, name)
    assert processes_with(marker)
    started = time.monotonic()
    response, error = invoke_json(lambda_client, name, {"sleep": 60}, LogType="Tail")
    elapsed = time.monotonic() - started
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert elapsed < 40, f"a 1 s timeout took {elapsed:.2f} s: the 60 s handler was not stopped"
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorType": "Sandbox.Timedout",
                     "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds"}
    log = tail_of(response)
    assert "Task timed out after 1.00 seconds" in log
    assert f"END RequestId: {request_id}" in log and f"REPORT RequestId: {request_id}" in log
    assert not left_after_kill(lambda: set(processes_with(marker)))  # every process of the environment

    response, env = invoke_json(lambda_client, name, LogType="Tail")
    assert "FunctionError" not in response, env
    assert env != first_env
    assert "Init Duration" in tail_of(response)


ESCAPING_HANDLER = '''
import os
import subprocess
import time

def handler(event, context):
    if "pids" not in event:
        return os.getpid()
    pids = event["pids"]
    escapee = subprocess.Popen(["sleep", "60"], start_new_session=True)
    with open(pids, "a") as handle:
        handle.write(f"{os.getpid()}\\n{escapee.pid}\\n")
    if os.fork() == 0:  # double fork: the grandchild is orphaned and re-parented
        os.setsid()
        if os.fork() == 0:
            with open(pids, "a") as handle:
                handle.write(f"{os.getpid()}\\n")
            time.sleep(60)
        os._exit(0)
    deadline = time.time() + 5
    while time.time() < deadline:
        with open(pids) as handle:
            if len(handle.read().split()) >= 3:
                break
        time.sleep(0.01)
    with open(pids, "a") as handle:
        handle.write("ready\\n")
    time.sleep(10)
    return "not reached"
'''


@pytest.fixture(scope="module")
def plain_client(plain_server: EmberServer):
    client = plain_server.lambda_client()
    yield client
    client.close()


@pytest.fixture
def make_plain_function(plain_client) -> Iterator[Callable[..., str]]:
    """Like make_function, on the plain-level server; deleted after the test."""
    with functions_on(plain_client) as make:
        yield make


def test_a_timeout_kills_the_whole_process_tree(plain_client, make_plain_function, tmp_path: Path) -> None:
    # At the plain level: the function writes its host pids to a host file and this test watches
    # them in the host's /proc. That is where the kill must find setsid() escapees and double-forked
    # orphans by itself; at the namespaced levels killing the pid namespace's init takes them all.
    name = make_plain_function(ESCAPING_HANDLER, Timeout=1)
    pids_file = tmp_path / "pids"
    response, error = invoke_json(plain_client, name, {"pids": str(pids_file)})
    assert error["errorType"] == "Sandbox.Timedout"
    words = pids_file.read_text().split()
    assert words[-1] == "ready", words
    pids = [int(word) for word in words[:-1]]
    assert len(pids) == 3
    deadline = time.monotonic() + 30.0
    while any(is_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in pids if is_alive(pid)]
    assert not survivors, f"still running after the timeout: {survivors}"

    response, pid = invoke_json(plain_client, name)
    assert "FunctionError" not in response, pid
    assert pid not in pids  # a new environment


def test_update_function_code_retires_old_environments(lambda_client, make_function) -> None:
    marker = uuid.uuid4().hex
    name = make_function(WARM_HANDLER + "\nVERSION = 1\n", **marked(marker))
    _, before = invoke_json(lambda_client, name)
    assert before["version"] == 1
    old_processes = set(processes_with(marker))
    assert old_processes
    lambda_client.update_function_code(FunctionName=name,
                                       ZipFile=make_zip({"index.py": WARM_HANDLER + "\nVERSION = 2\n"}))
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    response, after = invoke_json(lambda_client, name, LogType="Tail")
    assert after["version"] == 2
    assert after["env"] != before["env"]
    assert after["count"] == 1
    assert "Init Duration" in tail_of(response)
    assert not left_after_kill(lambda: old_processes & set(processes_with(marker))), "the old environment runs"


def test_update_function_configuration_retires_old_environments(lambda_client, make_function) -> None:
    name = make_function(WARM_HANDLER, Environment={"Variables": {"STAGE": "one"}})
    _, before = invoke_json(lambda_client, name)
    assert before["stage"] == "one"
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "two"}})
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    response, after = invoke_json(lambda_client, name, LogType="Tail")
    assert after["stage"] == "two"
    assert after["env"] != before["env"]
    assert after["count"] == 1
    assert "Init Duration" in tail_of(response)


def test_environments_are_not_shared_between_functions(lambda_client, make_function) -> None:
    first_marker, second_marker = uuid.uuid4().hex, uuid.uuid4().hex
    first = make_function(ENV_HANDLER, **marked(first_marker))
    second = make_function(ENV_HANDLER, **marked(second_marker))
    _, first_env = invoke_json(lambda_client, first)
    response, second_env = invoke_json(lambda_client, second, LogType="Tail")
    assert second_env != first_env
    assert "Init Duration" in tail_of(response)
    _, again = invoke_json(lambda_client, first)
    assert again == first_env
    # separate processes too, none of them the test's own
    first_processes, second_processes = set(processes_with(first_marker)), set(processes_with(second_marker))
    assert first_processes and second_processes
    assert not first_processes & second_processes
    assert os.getpid() not in first_processes | second_processes
