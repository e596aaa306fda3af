"""The server's life: state across restarts and crashes, clean shutdown with invokes in flight, health."""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import urllib3
from botocore.exceptions import ClientError

import ember
from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, invoke_json, make_zip

HANDLER = '''
import os
import tempfile
import time
import uuid

ENV_ID = uuid.uuid4().hex  # one per environment: in pid namespaces every runtime has the same pid


def note(name):
    """Leave ENV_ID in file `name` of this environment's temporary folder (see function_note)."""
    path = os.path.join(tempfile.gettempdir(), name)
    with open(path + ".part", "w") as handle:
        handle.write(ENV_ID)
    os.replace(path + ".part", path)


if "INIT_STARTED" in os.environ:  # a slow cold start
    note(os.environ["INIT_STARTED"])
    time.sleep(8)

def handler(event, context):
    if "started" in event:
        note(event["started"])
    time.sleep(event.get("sleep", 0))
    return {"greeting": os.environ.get("GREETING"), "event": event, "env": ENV_ID}
'''


EVENT_WRITER = '''
import time

def handler(event, context):
    open(event["started"], "w").close()
    time.sleep(1)
    with open(event["finished"], "w") as handle:
        handle.write(context.aws_request_id)
'''


def create(client, name: str, marker: str = "", extra_variables: dict[str, str] | None = None,
           **settings: object) -> dict:
    variables = {"GREETING": f"hello from {name}", "EMBER_TEST_MARKER": marker or uuid.uuid4().hex,
                 **(extra_variables or {})}
    return client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                                  Code={"ZipFile": make_zip({"index.py": HANDLER})},
                                  Environment={"Variables": variables}, **settings)


def processes_with(marker: str) -> list[int]:
    """Live (non-zombie) pids whose environment carries EMBER_TEST_MARKER=`marker`."""
    needle = f"EMBER_TEST_MARKER={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat_file:
                if stat_file.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{entry}/environ", "rb") as environ_file:
                if needle in environ_file.read().split(b"\0"):
                    found.append(int(entry))
        except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
            continue
    return found


def function_note(marker: str, name: str) -> str | None:
    """The file `name` a live function carrying `marker` left in its temporary folder, if any.

    Read from the host through /proc/<pid>/root, the process's own view of the file system, so
    it works at every level (a function in namespaces cannot write to a host path the test names):
    /tmp at the namespaced levels, TMPDIR (a host folder) at the plain level.
    """
    for pid in processes_with(marker):
        try:
            variables = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            tmp_dir = next((v.split(b"=", 1)[1].decode() for v in variables if v.startswith(b"TMPDIR=")), "/tmp")
            return (Path(f"/proc/{pid}/root") / tmp_dir.lstrip("/") / name).read_text()
        except OSError:  # not that process (e.g. bwrap outside the namespaces), or it just ended
            continue
    return None


def wait_until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_for_note(marker: str, name: str, what: str, timeout_s: float = 10.0) -> str:
    """The content of function_note(marker, name) once there is one."""
    notes: list[str | None] = [None]

    def noted() -> bool:
        notes[0] = function_note(marker, name)
        return notes[0] is not None

    wait_until(noted, timeout_s, what)
    assert notes[0] is not None
    return notes[0]


def test_functions_survive_a_clean_restart(start_server) -> None:
    first = start_server()
    marker = uuid.uuid4().hex
    client = first.lambda_client()
    try:
        created = create(client, "survivor", marker=marker, Description="kept across restarts", MemorySize=256,
                         Timeout=9, Tags={"team": "ember", "cost-centre": "42"})
        create(client, "second-survivor")
        before = client.get_function(FunctionName="survivor")
        _, result = invoke_json(client, "survivor", {"n": 1})
        assert result["greeting"] == "hello from survivor"
    finally:
        client.close()
    assert processes_with(marker)  # the invoke left a warm environment...
    assert first.stop(signal.SIGTERM) == 0, first.log()
    assert processes_with(marker) == []  # ...which the shutdown ended

    second = start_server(data_dir=first.data_dir)
    assert second.port != first.port
    client = second.lambda_client()
    try:
        names = sorted(f["FunctionName"] for f in client.list_functions()["Functions"])
        assert names == ["second-survivor", "survivor"]
        after = client.get_function(FunctionName="survivor")
        configuration = after["Configuration"]
        for key in ("FunctionArn", "Runtime", "Handler", "Description", "MemorySize", "Timeout", "Environment",
                    "CodeSha256", "CodeSize", "RevisionId", "LastModified"):
            assert configuration[key] == created[key], key
        assert configuration["State"] == "Active"
        assert after["Tags"] == {"team": "ember", "cost-centre": "42"}
        assert client.list_tags(Resource=created["FunctionArn"])["Tags"] == after["Tags"]
        assert before["Configuration"]["CodeSha256"] == configuration["CodeSha256"]

        code = urllib3.request("GET", after["Code"]["Location"])
        assert code.status == 200
        assert code.data == make_zip({"index.py": HANDLER})

        response, result = invoke_json(client, "survivor", {"n": 2})
        assert "FunctionError" not in response, result
        assert result["greeting"] == "hello from survivor" and result["event"] == {"n": 2}
        _, result = invoke_json(client, "second-survivor")
        assert result["greeting"] == "hello from second-survivor"
    finally:
        client.close()


def test_an_acknowledged_create_survives_sigkill(start_server) -> None:
    first = start_server()
    marker = uuid.uuid4().hex
    client = first.lambda_client()
    try:
        warm = create(client, "warm-before-crash", marker=marker)
        invoke_json(client, "warm-before-crash")  # leaves a warm environment behind
        created = create(client, "created-before-crash")
        assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    finally:
        client.close()
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    # the orphaned runtime notices its Runtime API is gone and leaves
    wait_until(lambda: not processes_with(marker), 5.0, "the crashed server's environments to exit")

    second = start_server(data_dir=first.data_dir)
    client = second.lambda_client()
    try:
        for name, before in (("created-before-crash", created), ("warm-before-crash", warm)):
            configuration = client.get_function_configuration(FunctionName=name)
            assert configuration["CodeSha256"] == before["CodeSha256"]
            response, result = invoke_json(client, name, {"after": "crash"})
            assert "FunctionError" not in response, result
            assert result["greeting"] == f"hello from {name}"
    finally:
        client.close()


class InvokeInThread(threading.Thread):
    """One synchronous invoke in the background; its outcome and when it came."""

    def __init__(self, ember: EmberServer, name: str, payload: dict) -> None:
        super().__init__(daemon=True)
        self.ember, self.name, self.payload = ember, name, payload
        self.result: object = None
        self.error: BaseException | None = None
        self.finished_at: float | None = None

    def run(self) -> None:
        client = self.ember.lambda_client()
        try:
            self.result = invoke_json(client, self.name, self.payload)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.finished_at = time.monotonic()
            client.close()


def invoke_until_started(ember: EmberServer, name: str, marker: str, sleep_s: float) -> tuple[InvokeInThread, str]:
    """A synchronous invoke of `name` (made by create()) sleeping `sleep_s`, in the background, once
    its handler runs; with the id of the environment it runs in."""
    started = f"started-{marker}"
    invoke = InvokeInThread(ember, name, {"sleep": sleep_s, "started": started})
    invoke.start()
    return invoke, wait_for_note(marker, started, "the function to start", timeout_s=30)


@pytest.fixture
def short_grace_server(start_server, monkeypatch: pytest.MonkeyPatch) -> EmberServer:
    """A private server whose shutdown grace is 2 s (the server reads it from its environment)."""
    monkeypatch.setenv("EMBER_SHUTDOWN_GRACE_S", "2")
    return start_server()


def test_sigterm_ends_a_long_invoke_with_an_error_and_kills_its_environment(short_grace_server: EmberServer,
                                                                            start_server) -> None:
    ember = short_grace_server
    marker = uuid.uuid4().hex
    client = ember.lambda_client()
    try:
        create(client, "sleeper", marker=marker, Timeout=300)
    finally:
        client.close()
    invoke, _ = invoke_until_started(ember, "sleeper", marker, sleep_s=240)
    assert processes_with(marker)

    assert ember.process is not None
    signalled_at = time.monotonic()
    ember.process.send_signal(signal.SIGTERM)
    invoke.join(timeout=90)
    assert not invoke.is_alive(), "the in-flight invoke hung through shutdown"
    assert invoke.finished_at is not None
    # ended by the 2 s grace, not by the function's 240 s (the margin is for a busy machine)
    assert invoke.finished_at - signalled_at < 90
    assert isinstance(invoke.error, ClientError), (invoke.error, invoke.result)
    assert invoke.error.response["Error"]["Code"] == "ServiceException"
    assert invoke.error.response["ResponseMetadata"]["HTTPStatusCode"] >= 500

    assert ember.process.wait(timeout=15) == 0, ember.log()
    assert processes_with(marker) == []
    assert "Ember stopped" in ember.log()

    # The invocation cut off by the shutdown is in its function's log, START to REPORT.
    request_id = invoke.error.response["ResponseMetadata"]["RequestId"]
    restarted = start_server(data_dir=ember.data_dir)
    events = restarted.client("logs").filter_log_events(logGroupName="/aws/lambda/sleeper")["events"]
    messages = [event["message"] for event in events if request_id in event["message"]]
    assert [message.split()[0] for message in messages] == ["START", "END", "REPORT"], messages


def test_sigterm_during_a_cold_start_ends_it_with_an_error(short_grace_server: EmberServer) -> None:
    ember = short_grace_server
    marker = uuid.uuid4().hex
    started = f"init-started-{marker}"
    client = ember.lambda_client()
    try:
        create(client, "slow-start", marker=marker, extra_variables={"INIT_STARTED": started})
    finally:
        client.close()
    invoke = InvokeInThread(ember, "slow-start", {})
    invoke.start()
    wait_for_note(marker, started, "the function's init to start")

    assert ember.process is not None
    ember.process.send_signal(signal.SIGTERM)
    invoke.join(timeout=15)
    assert not invoke.is_alive(), "the in-flight invoke hung through shutdown"
    # the server's shutdown, not the function, ended the init: no Runtime.ExitError blaming the function
    assert isinstance(invoke.error, ClientError), (invoke.error, invoke.result)
    assert invoke.error.response["Error"]["Code"] == "ServiceException"
    assert ember.process.wait(timeout=15) == 0, ember.log()
    assert processes_with(marker) == []


def test_sigterm_lets_a_short_invoke_finish(short_grace_server: EmberServer) -> None:
    ember = short_grace_server
    marker = uuid.uuid4().hex
    client = ember.lambda_client()
    try:
        create(client, "quick", marker=marker)
    finally:
        client.close()
    invoke, started_env = invoke_until_started(ember, "quick", marker, sleep_s=1)

    assert ember.process is not None
    ember.process.send_signal(signal.SIGTERM)
    invoke.join(timeout=15)
    assert invoke.error is None, invoke.error
    response, result = invoke.result
    assert response["StatusCode"] == 200 and "FunctionError" not in response, result
    assert result["event"]["sleep"] == 1
    assert result["env"] == started_env

    assert ember.process.wait(timeout=15) == 0, ember.log()
    assert processes_with(marker) == []


@pytest.fixture
def short_grace_plain_server(start_server, monkeypatch: pytest.MonkeyPatch) -> EmberServer:
    """short_grace_server at the plain level, for a test that reads host files its function wrote."""
    monkeypatch.setenv("EMBER_SHUTDOWN_GRACE_S", "2")
    return start_server("--sandbox", "plain")


def test_sigterm_lets_an_event_invoke_finish(short_grace_plain_server: EmberServer, tmp_path: Path) -> None:
    # At the plain level: the proof that the invocation finished is a host file it writes, which
    # must outlive its environment. Nothing a namespaced function writes does (its /tmp goes with
    # it), and at shutdown an Event invocation's environment is killed as soon as it has ended.
    ember = short_grace_plain_server
    client = ember.lambda_client()
    try:
        client.create_function(FunctionName="event-writer", Runtime=DEFAULT_RUNTIME, Role=ROLE,
                               Handler="index.handler", Code={"ZipFile": make_zip({"index.py": EVENT_WRITER})})
        started, finished = tmp_path / "started", tmp_path / "finished"
        response = client.invoke(FunctionName="event-writer", InvocationType="Event",
                                 Payload=json.dumps({"started": str(started), "finished": str(finished)}))
        assert response["StatusCode"] == 202
    finally:
        client.close()
    wait_until(started.exists, 10.0, "the Event invocation to start")
    assert ember.process is not None
    ember.process.send_signal(signal.SIGTERM)
    assert ember.process.wait(timeout=15) == 0, ember.log()
    assert finished.exists(), "an accepted Event invocation was killed at shutdown within the grace"


def test_health(server: EmberServer, plain_server: EmberServer) -> None:
    first = urllib3.request("GET", f"{server.url}/_ember/health")
    assert first.status == 200
    assert first.headers["content-type"] == "application/json"
    document = json.loads(first.data)
    assert document["status"] == "ready"
    assert document["version"] == ember.__version__
    # the session server runs at auto: the strongest level this host gives; only plain warns
    level = document["sandbox"]["level"]
    assert level in ("isolated", "rootless", "plain")
    assert document["sandbox"]["description"]
    assert (document["sandbox"]["warning"] is not None) == (level == "plain")
    plain = json.loads(urllib3.request("GET", f"{plain_server.url}/_ember/health").data)
    assert plain["sandbox"]["level"] == "plain"
    assert "NO ISOLATION" in plain["sandbox"]["warning"]
    assert isinstance(document["uptime_s"], float | int) and document["uptime_s"] >= 0
    assert DEFAULT_RUNTIME in document["runtimes"]
    time.sleep(0.05)
    later = json.loads(urllib3.request("GET", f"{server.url}/_ember/health").data)
    assert later["uptime_s"] > document["uptime_s"]


def test_the_data_dir_is_private_and_fixed_at_every_start(start_server, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ember = start_server(data_dir=data_dir)
    ember.lambda_client().create_function(FunctionName="private", Runtime=DEFAULT_RUNTIME, Role=ROLE,
                                          Handler="index.handler",
                                          Code={"ZipFile": make_zip({"index.py": HANDLER})},
                                          Environment={"Variables": {"SECRET": "hunter2"}})
    ember.stop()

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    databases = sorted(data_dir.glob("*.db*"))
    assert {path.name for path in databases} >= {"ember.db", "async-queue.db", "logs.db", "metrics.db"}
    assert mode(data_dir) == 0o700
    assert {path.name: mode(path) for path in databases} == {path.name: 0o600 for path in databases}
    zips = [path for path in (data_dir / "code").rglob("*") if path.is_file()]
    assert zips and all(mode(path) == 0o600 for path in zips)

    # a data dir from before (or loosened by hand) is made private again by the next start
    data_dir.chmod(0o755)
    for path in (*databases, *zips):
        path.chmod(0o644)
    start_server(data_dir=data_dir)
    assert mode(data_dir) == 0o700
    assert all(mode(path) == 0o600 for path in (*databases, *zips) if path.exists())


def test_ctrl_c_lets_an_in_flight_invoke_finish_within_the_grace(start_server) -> None:
    ember = start_server(env={"EMBER_SHUTDOWN_GRACE_S": "60"})
    marker = uuid.uuid4().hex
    client = ember.lambda_client()
    try:
        create(client, "through-ctrl-c", marker=marker)
    finally:
        client.close()
    invoke, _ = invoke_until_started(ember, "through-ctrl-c", marker, sleep_s=2)
    ember.ctrl_c()  # the terminal's SIGINT reaches every process in the group
    invoke.join(timeout=60)
    assert invoke.error is None, invoke.error
    response, result = invoke.result
    assert "FunctionError" not in response, result  # not Runtime.ExitError: signal: SIGINT
    assert result["event"]["sleep"] == 2
    assert ember.process is not None and ember.process.wait(timeout=60) == 0, ember.log()


def test_an_event_interrupted_by_shutdown_runs_again_without_using_an_attempt(start_server, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ember = start_server(data_dir=data_dir, env={"EMBER_SHUTDOWN_GRACE_S": "1"})
    marker = uuid.uuid4().hex
    client = ember.lambda_client()
    try:
        create(client, "interrupted", marker=marker, Timeout=300)
        # no retries: an interruption counted as a failed attempt would discard the event
        client.put_function_event_invoke_config(FunctionName="interrupted", MaximumRetryAttempts=0)
        client.invoke(FunctionName="interrupted", InvocationType="Event",
                      Payload=json.dumps({"started": "started", "sleep": 240}))
    finally:
        client.close()
    first_env = wait_for_note(marker, "started", "the Event invocation to start", timeout_s=30)
    ember.ctrl_c()
    assert ember.process is not None and ember.process.wait(timeout=60) == 0, ember.log()
    assert processes_with(marker) == []

    start_server(data_dir=data_dir, env={"EMBER_SHUTDOWN_GRACE_S": "1"})
    second_env = wait_for_note(marker, "started", "the interrupted Event invocation to run again", timeout_s=60)
    assert second_env != first_env


def test_store_and_queue_urls_choose_where_the_databases_are(start_server, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ember = start_server(env={"EMBER_STORE_URL": f"sqlite://{elsewhere / 'meta.db'}",
                              "EMBER_QUEUE_URL": f"sqlite://{elsewhere / 'queue.db'}"})
    client = ember.lambda_client()
    try:
        create(client, "kept-elsewhere")
        assert client.get_function(FunctionName="kept-elsewhere")["Configuration"]["FunctionName"] == "kept-elsewhere"
    finally:
        client.close()
    assert (elsewhere / "meta.db").is_file() and (elsewhere / "queue.db").is_file()
    assert not (ember.data_dir / "ember.db").exists() and not (ember.data_dir / "async-queue.db").exists()
