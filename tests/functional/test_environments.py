"""Execution environments: warm reuse, concurrency, keep-alive, timeouts, and retiring on updates."""

from __future__ import annotations

import base64
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, invoke_json, make_zip

WARM_HANDLER = '''
import os
import tempfile

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
    return {"count": COUNTER, "marker_existed": existed, "marker_lines": len(lines), "pid": os.getpid(),
            "version": VERSION if "VERSION" in globals() else None, "stage": os.environ.get("STAGE")}
'''

PID_HANDLER = '''
import os
import time

def handler(event, context):
    started = time.time()
    time.sleep(event.get("sleep", 0))
    if event.get("times"):
        return [os.getpid(), started, time.time()]
    return os.getpid()
'''


def tail_of(response: dict) -> str:
    return base64.b64decode(response["LogResult"]).decode()


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
    assert len({r["pid"] for r in results}) == 1
    assert ["Init Duration" in tail for tail in tails] == [True, False, False]


def test_tmp_is_private_to_each_environment(lambda_client, make_function) -> None:
    first = make_function(WARM_HANDLER)
    second = make_function(WARM_HANDLER)
    _, one = invoke_json(lambda_client, first)
    _, two = invoke_json(lambda_client, second)
    assert one["marker_existed"] is False
    assert two["marker_existed"] is False  # not the first function's /tmp


def test_concurrent_invokes_run_in_parallel_in_separate_environments(lambda_client, make_function) -> None:
    name = make_function(PID_HANDLER)
    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda _: invoke_json(lambda_client, name, {"sleep": 1, "times": True}), range(4)))
    elapsed = time.monotonic() - started
    assert all("FunctionError" not in response for response, _ in outcomes), outcomes
    pids = {pid for _, (pid, _, _) in outcomes}
    assert len(pids) == 4
    # every handler was running at one same moment
    assert max(start for _, (_, start, _) in outcomes) < min(end for _, (_, _, end) in outcomes)
    assert elapsed < 2.5, f"4 invokes of 1 s took {elapsed:.2f} s: not in parallel"


def test_idle_environments_retire_after_keep_alive(start_server) -> None:
    ember = start_server("--keep-alive", "1")
    client = ember.lambda_client()
    try:
        client.create_function(FunctionName="keep-alive", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                               Code={"ZipFile": make_zip({"index.py": PID_HANDLER})})
        first, first_pid = invoke_json(client, "keep-alive", LogType="Tail")
        assert "Init Duration" in tail_of(first)
        warm, warm_pid = invoke_json(client, "keep-alive", LogType="Tail")
        assert warm_pid == first_pid and "Init Duration" not in tail_of(warm)
        deadline = time.monotonic() + 4.0  # keep-alive 1 s, and the reaper looks every 0.5 s
        while is_alive(first_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not is_alive(first_pid), "the idle environment was not retired"
        cold, cold_pid = invoke_json(client, "keep-alive", LogType="Tail")
        assert cold_pid != first_pid
        assert "Init Duration" in tail_of(cold)
    finally:
        client.close()


def test_timeout_is_reported_as_aws_does_and_the_next_invoke_works(lambda_client, make_function) -> None:
    name = make_function(PID_HANDLER, Timeout=1)
    _, first_pid = invoke_json(lambda_client, name)
    started = time.monotonic()
    response, error = invoke_json(lambda_client, name, {"sleep": 5}, LogType="Tail")
    elapsed = time.monotonic() - started
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert elapsed < 3.5, f"a 1 s timeout took {elapsed:.2f} s"
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorType": "Sandbox.Timedout",
                     "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds"}
    log = tail_of(response)
    assert "Task timed out after 1.00 seconds" in log
    assert f"END RequestId: {request_id}" in log and f"REPORT RequestId: {request_id}" in log
    assert not is_alive(first_pid)

    response, pid = invoke_json(lambda_client, name, LogType="Tail")
    assert "FunctionError" not in response, pid
    assert pid != first_pid
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


def test_a_timeout_kills_the_whole_process_tree(lambda_client, make_function, tmp_path: Path) -> None:
    name = make_function(ESCAPING_HANDLER, Timeout=1)
    pids_file = tmp_path / "pids"
    response, error = invoke_json(lambda_client, name, {"pids": str(pids_file)})
    assert error["errorType"] == "Sandbox.Timedout"
    words = pids_file.read_text().split()
    assert words[-1] == "ready", words
    pids = [int(word) for word in words[:-1]]
    assert len(pids) == 3
    deadline = time.monotonic() + 2.0
    while any(is_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in pids if is_alive(pid)]
    assert not survivors, f"still running after the timeout: {survivors}"

    response, pid = invoke_json(lambda_client, name)
    assert "FunctionError" not in response, pid
    assert pid not in pids  # a new environment


def test_update_function_code_retires_old_environments(lambda_client, make_function) -> None:
    name = make_function(WARM_HANDLER + "\nVERSION = 1\n")
    _, before = invoke_json(lambda_client, name)
    assert before["version"] == 1
    lambda_client.update_function_code(FunctionName=name,
                                       ZipFile=make_zip({"index.py": WARM_HANDLER + "\nVERSION = 2\n"}))
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    response, after = invoke_json(lambda_client, name, LogType="Tail")
    assert after["version"] == 2
    assert after["pid"] != before["pid"]
    assert after["count"] == 1
    assert "Init Duration" in tail_of(response)
    assert not is_alive(before["pid"])


def test_update_function_configuration_retires_old_environments(lambda_client, make_function) -> None:
    name = make_function(WARM_HANDLER, Environment={"Variables": {"STAGE": "one"}})
    _, before = invoke_json(lambda_client, name)
    assert before["stage"] == "one"
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "two"}})
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    response, after = invoke_json(lambda_client, name, LogType="Tail")
    assert after["stage"] == "two"
    assert after["pid"] != before["pid"]
    assert after["count"] == 1
    assert "Init Duration" in tail_of(response)


def test_environments_are_not_shared_between_functions(lambda_client, make_function) -> None:
    first = make_function(PID_HANDLER)
    second = make_function(PID_HANDLER)
    _, first_pid = invoke_json(lambda_client, first)
    response, second_pid = invoke_json(lambda_client, second, LogType="Tail")
    assert second_pid != first_pid
    assert "Init Duration" in tail_of(response)
    _, again = invoke_json(lambda_client, first)
    assert again == first_pid
    assert os.getpid() not in (first_pid, second_pid)
