"""The rootless and plain sandbox levels, and the isolated level's refusal without root.

Rootless runs Ember as an unprivileged user (uid 65534, on Debian's python3.11, since the venv's
interpreter lives under /root where that user cannot go): namespaces hide the host, a watchdog
holds memory. Plain hides nothing and says so everywhere, but still ends runaway trees.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, free_port, invoke_json, make_zip, unique_name
from tests.functional.helpers import PROBE, health, marked_pids, request_id, tail
from tests.functional.sandbox_levels import EMBER_AS_NOBODY, NOBODY, NOBODY_RUNTIME, nobody_env

ROOTLESS_RUNTIME = NOBODY_RUNTIME

CONTEXT = '''
result = {"request_id": context.aws_request_id, "function_name": context.function_name,
          "memory": context.memory_limit_in_mb, "remaining_ms": context.get_remaining_time_in_millis(),
          "arn": context.invoked_function_arn}
'''

PROCESSES = '''
import os, subprocess
child = subprocess.Popen(["sleep", "30"])
result = {"pids": sorted(int(entry) for entry in os.listdir("/proc") if entry.isdigit()), "own_pid": os.getpid(),
          "child_pid": child.pid}
child.kill()
child.wait()
'''

READ_HOST = '''
import os
result = {"data_dir": outcome(os.listdir, event["data_dir"]), "root": outcome(os.listdir, "/root"),
          "own_code": outcome(os.listdir, "/var/task")}
'''

CONNECT = '''
import socket
def connect(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        return "connected"
result = {"host": outcome(connect, event["port"]), "runtime_api": outcome(connect, 9001)}
'''

WRITES = '''
import os
def write(path):
    with open(path, "x") as handle:  # a new file only: never clobbers one
        handle.write("data")
    with open(path) as handle:
        return handle.read()
result = {"task": outcome(write, "/var/task/" + event["name"]), "tmp": outcome(write, "/tmp/" + event["name"])}
'''

MEMORY_HOG = '''
import time

def handler(event, context):
    chunks = []
    for _ in range(event["mb"] // 10):
        chunks.append(b"\\x01" * (10 * 1024 * 1024))  # written, so resident
        time.sleep(0.02)  # the watchdog samples every 50 ms
    return {"held_mb": 10 * len(chunks)}
'''

#: leaves a setsid() child and a double-forked grandchild behind, both sleeping forever
ESCAPEES = '''
import os, subprocess, time

def handler(event, context):
    subprocess.Popen(["sleep", "1000"], start_new_session=True)
    middle = os.fork()
    if middle == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "1000"])
        os._exit(0)
    os.waitpid(middle, 0)
    time.sleep(30)
    return "returned"
'''


NODE_HANDLER = """export const handler = async (event, context) =>
  ({echo: event, taskRoot: process.env.LAMBDA_TASK_ROOT, requestId: context.awsRequestId});
"""
#: a custom runtime's bootstrap in Python: the host's /usr/bin/python3 is visible at every level
CUSTOM_BOOTSTRAP = """#!/usr/bin/python3
import http.client, json, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    answer = conn.getresponse()
    event, request_id = json.loads(answer.read()), answer.getheader("Lambda-Runtime-Aws-Request-Id")
    print("custom runtime handling", request_id, flush=True)
    body = json.dumps({"echo": event, "taskRoot": os.environ["LAMBDA_TASK_ROOT"]})
    conn.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body)
    conn.getresponse().read()
"""
#: an extension that only prints what it gets (the plain level's /tmp is the host's)
ECHO_EXTENSION = """#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2020-01-01/extension"
ID=$(curl -sS -i -X POST "$API/register" -H "Lambda-Extension-Name: echoer" -d '{"events":["INVOKE","SHUTDOWN"]}' \\
  | grep -i '^Lambda-Extension-Identifier:' | cut -d: -f2 | tr -d ' \\r')
while true; do
  EVENT=$(curl -sS "$API/event/next" -H "Lambda-Extension-Identifier: $ID")
  echo "[echoer] $EVENT"
  case "$EVENT" in *SHUTDOWN*) exit 0 ;; esac
done
"""


def executable_zip(files: dict[str, str], executables: tuple[str, ...]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in executables else 0o644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def assert_node_and_custom_runtimes_run(server: EmberServer, client) -> None:
    """A Node.js function (when the host has a node) and a custom runtime with an extension both work."""
    runtimes = health(server)["runtimes"]
    node = next((name for name in ("nodejs20.x", "nodejs22.x", "nodejs18.x") if runtimes.get(name)), None)
    if node is not None:
        name = unique_name("sbx-node")
        client.create_function(FunctionName=name, Runtime=node, Role=ROLE, Handler="index.handler",
                               Code={"ZipFile": make_zip({"index.mjs": NODE_HANDLER})})
        response, result = invoke_json(client, name, {"n": 1})
        assert "FunctionError" not in response, result
        assert result["echo"] == {"n": 1} and result["requestId"] == request_id(response)
    layers = []
    if Path("/usr/bin/curl").exists():
        layer = client.publish_layer_version(LayerName=unique_name("echoer"), Content={"ZipFile": executable_zip(
            {"extensions/echoer": ECHO_EXTENSION}, ("extensions/echoer",))})
        layers.append(layer["LayerVersionArn"])
    name = unique_name("sbx-custom")
    client.create_function(FunctionName=name, Runtime="provided.al2023", Role=ROLE, Handler="unused", MemorySize=1024,
                           Code={"ZipFile": executable_zip({"bootstrap": CUSTOM_BOOTSTRAP}, ("bootstrap",))},
                           Layers=layers)
    response, result = invoke_json(client, name, {"n": 2}, LogType="Tail")
    assert "FunctionError" not in response, result
    assert result["echo"] == {"n": 2}
    log = tail(response)
    assert f"custom runtime handling {request_id(response)}" in log
    if layers:
        assert '[echoer] {"eventType": "INVOKE"' in log, log


def create(client, code: str, runtime: str, *, memory: int = 128, timeout: int = 10,
           env: dict[str, str] | None = None) -> str:
    name = unique_name("sbx")
    settings: dict[str, object] = {"MemorySize": memory, "Timeout": timeout}
    if env:
        settings["Environment"] = {"Variables": env}
    client.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": make_zip({"index.py": code})}, **settings)
    return name


def probe_runner(client, runtime: str) -> Callable[..., object]:
    """Run a snippet in one long-lived function; returns the snippet's `result`."""
    name = create(client, PROBE, runtime)

    def run(code: str, **event: object) -> object:
        response, result = invoke_json(client, name, {"code": code, **event})
        assert "FunctionError" not in response, result
        return result

    return run


def escapees(marker: str) -> set[int]:
    """The marked `sleep 1000` processes: what ESCAPEES leaves behind (a parked runtime, started before its
    function was known, does not carry the function's variables itself; its children do)."""
    found = set()
    for pid in marked_pids(marker):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if cmdline.read().split(b"\0")[:2] == [b"sleep", b"1000"]:
                    found.add(pid)
        except OSError:
            continue
    return found


def assert_timeout_leaves_nothing(client, runtime: str) -> None:
    """A Timeout=1 function leaves a setsid() child and a double-forked grandchild: the kill takes both."""
    marker = uuid.uuid4().hex
    name = create(client, ESCAPEES, runtime, timeout=1, env={"MARKER": marker})
    seen: set[int] = set()
    with ThreadPoolExecutor(1) as pool:
        invoking = pool.submit(invoke_json, client, name)
        while not invoking.done():
            seen |= escapees(marker)
            time.sleep(0.02)
        _, error = invoking.result()
    assert error["errorType"] == "Sandbox.Timedout", error
    assert len(seen) == 2, seen  # the setsid() child and the grandchild were out: the scan does see them
    deadline = time.monotonic() + 30
    while (left := marked_pids(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:  # so a failed test leaves nothing running either
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert left == set()


def assert_memory_hog_is_ended(client, runtime: str) -> None:
    name = create(client, MEMORY_HOG, runtime, memory=128)
    response, error = invoke_json(client, name, {"mb": 400})
    assert response.get("FunctionError") == "Unhandled", error
    assert error == {"errorType": "Runtime.OutOfMemory",
                     "errorMessage": f"RequestId: {request_id(response)} Error: Runtime exited with error: "
                                     "signal: killed"}
    response, result = invoke_json(client, name, {"mb": 10})
    assert "FunctionError" not in response and result == {"held_mb": 10}


# --- rootless ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rootless(level_server) -> EmberServer:
    return level_server("rootless")


@pytest.fixture(scope="module")
def rootless_client(rootless: EmberServer):
    client = rootless.lambda_client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def rootless_probe(rootless_client) -> Callable[..., object]:
    return probe_runner(rootless_client, ROOTLESS_RUNTIME)


def test_rootless_server_runs_unprivileged_and_says_rootless(rootless: EmberServer) -> None:
    assert rootless.process is not None
    with open(f"/proc/{rootless.process.pid}/status") as status:
        uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
    # setpriv execs the interpreter, so the server itself is the unprivileged process
    assert uids == [str(NOBODY)] * 4
    sandbox = health(rootless)["sandbox"]
    assert sandbox["level"] == "rootless"
    assert sandbox["warning"] is None
    assert "sandbox level: rootless" in rootless.log()


def test_rootless_function_runs_with_a_working_context(rootless_client) -> None:
    name = create(rootless_client, PROBE, ROOTLESS_RUNTIME, timeout=7)
    response, seen = invoke_json(rootless_client, name, {"code": CONTEXT})
    assert "FunctionError" not in response, seen
    assert seen["request_id"] == request_id(response)
    assert seen["function_name"] == name and seen["memory"] == "128"
    assert seen["arn"].endswith(f":function:{name}")
    assert 5000 < seen["remaining_ms"] <= 7000


def test_rootless_function_sees_only_its_own_processes(rootless_probe) -> None:
    seen = rootless_probe(PROCESSES)
    assert set(seen["pids"]) == {1, seen["own_pid"], seen["child_pid"]}, seen
    assert seen["own_pid"] == 2


def test_rootless_function_cannot_read_the_data_dir_or_root(rootless: EmberServer, rootless_probe) -> None:
    data_dir = rootless.data_dir.resolve()
    assert data_dir.is_dir() and data_dir.stat().st_uid == NOBODY  # Ember's own files, as the function's uid
    seen = rootless_probe(READ_HOST, data_dir=str(data_dir))
    assert seen["own_code"][0] == "ok"
    assert seen["data_dir"][0] == "FileNotFoundError", seen
    assert seen["root"][0] in ("FileNotFoundError", "PermissionError"), seen


def test_rootless_function_cannot_reach_a_host_loopback_port(rootless_probe) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        seen = rootless_probe(CONNECT, port=listener.getsockname()[1])
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert seen["runtime_api"] == ["ok", "'connected'"]  # the control: connecting works where something listens
    assert seen["host"][0] != "ok", seen


def test_rootless_task_is_read_only_and_tmp_is_writable(rootless_probe) -> None:
    seen = rootless_probe(WRITES, name=f"ember-write-{uuid.uuid4().hex}")
    assert seen["task"][0] in ("OSError", "PermissionError"), seen
    assert seen["task"][1] in (30, 13, 1), seen  # EROFS, EACCES, EPERM
    assert seen["tmp"] == ["ok", "'data'"]


def test_rootless_memory_hog_is_ended_by_the_watchdog(rootless_client) -> None:
    assert_memory_hog_is_ended(rootless_client, ROOTLESS_RUNTIME)


def test_rootless_timeout_leaves_nothing_behind(rootless_client) -> None:
    assert_timeout_leaves_nothing(rootless_client, ROOTLESS_RUNTIME)


def test_rootless_runs_node_and_custom_runtimes_through_the_host_python(rootless: EmberServer,
                                                                         rootless_client) -> None:
    # The listener shim is Python: for these runtimes it runs on /usr/bin/python3.
    assert health(rootless)["runtimes"]["provided.al2023"] is not None
    assert_node_and_custom_runtimes_run(rootless, rootless_client)


def test_isolated_is_refused_without_root(nobody_home: Path) -> None:
    port = free_port()
    refused = subprocess.run(
        [*EMBER_AS_NOBODY, "serve", "--sandbox", "isolated", "--port", str(port),
         "--data-dir", str(nobody_home / "refused")],
        env=nobody_env(nobody_home), capture_output=True, text=True, timeout=60, check=False,
    )
    assert refused.returncode != 0
    message = refused.stdout + refused.stderr
    assert "isolated" in message and "needs root" in message, message
    with socket.socket() as probe_socket:
        assert probe_socket.connect_ex(("127.0.0.1", port)) != 0  # it never served


# --- plain ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmberServer]:
    ember = EmberServer(tmp_path_factory.mktemp("plain") / "data", extra_args=["--sandbox", "plain"]).start()
    yield ember
    ember.stop()


@pytest.fixture(scope="module")
def plain_client(plain: EmberServer):
    client = plain.lambda_client()
    yield client
    client.close()


def test_plain_warns_of_no_isolation_everywhere(plain: EmberServer, plain_client) -> None:
    sandbox = health(plain)["sandbox"]
    assert sandbox["level"] == "plain"
    assert "NO ISOLATION" in sandbox["warning"]
    assert "NO ISOLATION" in plain.log()
    name = create(plain_client, "def handler(event, context):\n    print('hi')\n    return event\n", DEFAULT_RUNTIME)
    for payload in ({"cold": True}, {"warm": True}):
        response, result = invoke_json(plain_client, name, payload, LogType="Tail")
        assert result == payload
        reports = [line for line in tail(response).splitlines() if line.startswith("REPORT ")]
        assert len(reports) == 1
        assert all("NO ISOLATION" in line for line in reports), reports


def test_plain_memory_hog_is_ended_by_the_watchdog(plain_client) -> None:
    assert_memory_hog_is_ended(plain_client, DEFAULT_RUNTIME)


def test_plain_timeout_kills_setsid_children_and_grandchildren(plain_client) -> None:
    assert_timeout_leaves_nothing(plain_client, DEFAULT_RUNTIME)


def test_plain_runs_node_and_custom_runtimes(plain: EmberServer, plain_client) -> None:
    assert_node_and_custom_runtimes_run(plain, plain_client)
