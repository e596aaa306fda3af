"""Fixtures that start a real Ember server on a free loopback port and drive it as users do."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
import urllib3
from botocore.config import Config

from tests.functional.helpers import PROBE
from tests.functional.sandbox_levels import (
    AS_NOBODY,
    DEBIAN_PYTHON,
    EMBER_AS_NOBODY,
    NOBODY,
    NOBODY_RUNTIME,
    cannot_run_as_nobody,
    nobody_env,
    readable_site,
)

VENV_BIN = Path(sys.executable).parent
#: the account's root key of the iam-mode servers tests start (iam_mode_server)
ROOT_KEY_ID = "AKIAROOTROOTROOTROOT"
ROOT_SECRET = "root/secret/root/secret/root/secret/root"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
#: the runtime of the interpreter running the tests: present wherever the suite can run
DEFAULT_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class EmberServer:
    """A running `ember serve` subprocess."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_args: list[str] = field(default_factory=list)
    #: environment variables set for the server on top of the tests' own
    env: dict[str, str] = field(default_factory=dict)
    #: how `ember` is started: the venv's console script, or an interpreter run as another user (`-c` and main)
    command: list[str] = field(default_factory=lambda: [str(VENV_BIN / "ember")])
    #: False: the server gets `env` alone (a server run as another user must not inherit root's environment)
    inherits_env: bool = True
    #: the Python runtime this server has an interpreter for
    runtime: str = DEFAULT_RUNTIME
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 20.0) -> EmberServer:
        self.log_path = self.data_dir.parent / f"server-{self.port}-{uuid.uuid4().hex[:6]}.log"
        with open(self.log_path, "wb") as log_file:  # the child keeps its own copy of the fd
            self.process = subprocess.Popen(
                [*self.command, "serve", "--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra_args],
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env} if self.inherits_env else self.env,
                start_new_session=True,  # its own process group, as a terminal gives it: see ctrl_c()
            )
        deadline = time.monotonic() + timeout_s
        http = urllib3.PoolManager(retries=False, timeout=1.0)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ember serve exited early:\n{self.log()}")
            try:
                if http.request("GET", f"{self.url}/_ember/health").status == 200:
                    http.clear()  # no idle keep-alive connection left open: tests count connections
                    return self
            except urllib3.exceptions.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"ember serve did not become ready:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout_s)

    def shut_down(self) -> None:
        """Stop a server if it still runs: SIGTERM first (a SIGKILLed server leaves its environments' mounts for
        the next start), SIGKILL if it does not end."""
        if self.process and self.process.poll() is None:
            try:
                self.stop(signal.SIGTERM, timeout_s=20)
            except subprocess.TimeoutExpired:
                self.stop(signal.SIGKILL)

    def ctrl_c(self) -> None:
        """What Ctrl-C in its terminal does: SIGINT to the server's whole process group."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""

    def lambda_client(self, **config: object):
        return self.client("lambda", **config)

    def client(self, service_name: str, key_id: str = "test", secret: str = "test", token: str | None = None,
               **config: object):
        """A boto3 client of any service Ember serves ("lambda", "logs", "cloudwatch", "iam", "sts"),
        without retries, signing with the key given (the "test" key: any in open mode)."""
        return boto3.client(
            service_name, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id=key_id,
            aws_secret_access_key=secret, aws_session_token=token,
            config=Config(retries={"total_max_attempts": 1}, read_timeout=120, **config),
        )

    def root_client(self, service_name: str, **config: object):
        """A client signing with ROOT_KEY_ID, the root key iam-mode test servers are started with."""
        return self.client(service_name, ROOT_KEY_ID, ROOT_SECRET, **config)

    def aws(self, *args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real `aws` CLI against this server."""
        env = {**os.environ, **CREDENTIALS, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
        completed = subprocess.run([str(VENV_BIN / "aws"), "--endpoint-url", self.url, *args], env=env,
                                   capture_output=True, text=True, cwd=cwd, timeout=120)
        if check and completed.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({completed.returncode}):\n{completed.stderr}")
        return completed


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmberServer]:
    """One Ember for the whole session (tests use unique function names)."""
    ember = EmberServer(tmp_path_factory.mktemp("ember") / "data").start()
    yield ember
    ember.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., EmberServer]]:
    """Start a private Ember (for restarts, shutdown and settings tests); stopped afterwards."""
    started: list[EmberServer] = []

    def start(*extra_args: str, data_dir: Path | None = None, env: dict[str, str] | None = None) -> EmberServer:
        ember = EmberServer(data_dir or tmp_path / "data", extra_args=list(extra_args), env=env or {})
        started.append(ember)  # before start(): a server that never got ready is stopped too
        return ember.start()

    yield start
    for ember in started:
        ember.shut_down()


@pytest.fixture(scope="session")
def nobody_home() -> Iterator[Path]:
    """A home for uid 65534 outside pytest's 0700 temp root, once Debian's python3.11 can import Ember as it
    (skipped, saying why, where the host cannot run Ember as that user)."""
    reason = cannot_run_as_nobody()
    if reason is not None:
        pytest.skip(reason)
    home = Path(tempfile.mkdtemp(prefix="ember-nobody-"))
    try:
        readable_site(home / "site")
        os.chown(home, NOBODY, NOBODY)
        check = subprocess.run([*AS_NOBODY, str(DEBIAN_PYTHON), "-c", "import ember, uvicorn"], env=nobody_env(home),
                               capture_output=True, text=True, timeout=60, check=False)
        if check.returncode != 0:
            raise AssertionError(f"uid {NOBODY} cannot import ember and uvicorn from {home / 'site'}: "
                                 f"{check.stderr.strip()}")
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def level_ember(level: str, folder: Path, request: pytest.FixtureRequest) -> EmberServer:
    """An Ember (not started) at sandbox `level` with its data dir in `folder`; at the rootless level it runs as
    uid 65534, with its data dir in that user's home (see sandbox_levels)."""
    if level != "rootless":
        folder.mkdir(parents=True, exist_ok=True)  # the server's log goes beside its data dir
        return EmberServer(folder / "data", extra_args=["--sandbox", level])
    home: Path = request.getfixturevalue("nobody_home")
    return EmberServer(home / f"data-{uuid.uuid4().hex[:8]}", extra_args=["--sandbox", level], command=EMBER_AS_NOBODY,
                       env=nobody_env(home), inherits_env=False, runtime=NOBODY_RUNTIME)


def start_or_refusal(ember: EmberServer) -> str | None:
    """Start `ember`; None once it serves, or why its host refused the sandbox level it asked for."""
    try:
        ember.start()
    except RuntimeError:
        ember.shut_down()
        if "cannot use sandbox level" not in ember.log():
            raise
        return f"refused on this host: {ember.log().strip().splitlines()[-1]}"
    return None


@pytest.fixture(scope="module")
def level_server(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], EmberServer]]:
    """level_server(level): this module's Ember at sandbox `level`, started on first use and stopped with the
    module. A level the host cannot give skips the test with Ember's own reason (not root, no bubblewrap, no
    user namespaces...)."""
    started: dict[str, EmberServer] = {}
    refusals: dict[str, str] = {}

    def get(level: str) -> EmberServer:
        if level not in started and level not in refusals:
            ember = level_ember(level, tmp_path_factory.mktemp(level), request)
            refusal = start_or_refusal(ember)
            if refusal is None:
                started[level] = ember
            else:
                refusals[level] = f"--sandbox {level} {refusal}"
        if level in refusals:
            pytest.skip(refusals[level])
        return started[level]

    yield get
    for ember in started.values():
        ember.shut_down()


@pytest.fixture
def start_level_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., EmberServer]]:
    """start_level_server(level): a private Ember at sandbox `level` (for shutdown tests), stopped after the test;
    skipped as level_server is where the host cannot give the level."""
    started: list[EmberServer] = []

    def start(level: str) -> EmberServer:
        ember = level_ember(level, tmp_path / f"{level}-{len(started)}", request)
        started.append(ember)
        refusal = start_or_refusal(ember)
        if refusal is not None:
            pytest.skip(f"--sandbox {level} {refusal}")
        return ember

    yield start
    for ember in started:
        ember.shut_down()


@pytest.fixture(scope="session")
def plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmberServer]:
    """An Ember at the plain level, for tests that watch a function from the host side
    (host files it writes, host pids it reports): no namespaces hide them there."""
    ember = EmberServer(tmp_path_factory.mktemp("ember-plain") / "data", extra_args=["--sandbox", "plain"]).start()
    yield ember
    ember.stop()


@pytest.fixture(scope="session")
def sandbox_level(server: EmberServer) -> str:
    """The isolation level the session server chose on this host (auto: the strongest)."""
    return json.loads(urllib3.request("GET", f"{server.url}/_ember/health").data)["sandbox"]["level"]


@pytest.fixture(scope="session")
def lambda_client(server: EmberServer):
    return server.lambda_client()


@pytest.fixture(scope="session")
def available_runtimes(server: EmberServer) -> set[str]:
    """Runtimes the server found interpreters for (from /_ember/health)."""
    health = json.loads(urllib3.request("GET", f"{server.url}/_ember/health").data)
    return {name for name, interpreter in health["runtimes"].items() if interpreter}


@pytest.fixture(scope="module")
def node_runtime(available_runtimes: set[str]) -> str:
    """A Node.js runtime this host can run (nodejs20.x on the reference host)."""
    for runtime in ("nodejs20.x", "nodejs22.x", "nodejs18.x"):
        if runtime in available_runtimes:
            return runtime
    pytest.skip("this host has no Node.js 18, 20 or 22 (install nodejs, or set EMBER_NODEJS20_X)")


def make_zip(files: dict[str, str | bytes], executables: tuple[str, ...] = ()) -> bytes:
    """A deployment package with `files` (name → content), those named in `executables` executable."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in executables else 0o644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def unique_name(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def functions_on(client, runtime: str = DEFAULT_RUNTIME, role: str = ROLE) -> Iterator[Callable[..., str]]:
    """make(code or files=..., **settings): create a function from inline source through `client`, `runtime` and
    `role` unless told otherwise; each is deleted on leaving the block (its environments retired). Returns its name."""
    created: list[str] = []

    def make(code: str | None = None, *, files: dict[str, str | bytes] | None = None,
             executables: tuple[str, ...] = (), handler: str = "index.handler", runtime: str = runtime,
             role: str = role, **settings: object) -> str:
        name = str(settings.pop("name", None) or unique_name())
        package = make_zip(files if files is not None else {"index.py": code or ""}, executables)
        client.create_function(FunctionName=name, Runtime=runtime, Role=role, Handler=handler,
                               Code={"ZipFile": package}, **settings)
        created.append(name)
        return name

    try:
        yield make
    finally:
        for name in created:
            try:
                client.delete_function(FunctionName=name)
            except client.exceptions.ResourceNotFoundException:
                pass


@pytest.fixture
def make_function(lambda_client) -> Iterator[Callable[..., str]]:
    """Create a function from inline source; deleted after the test. Returns its name."""
    with functions_on(lambda_client) as make:
        yield make


# The sandbox tests: each module defines `sandbox_server` (its Ember at the level under test, from level_server);
# these drive it.

@pytest.fixture(scope="module")
def sandbox_client(sandbox_server: EmberServer):
    client = sandbox_server.lambda_client()
    yield client
    client.close()


@pytest.fixture
def deploy(sandbox_server: EmberServer, sandbox_client) -> Iterator[Callable[..., str]]:
    """make_function on the module's sandbox server, in the runtime it has an interpreter for."""
    with functions_on(sandbox_client, sandbox_server.runtime) as make:
        yield make


@pytest.fixture(scope="module")
def probe(sandbox_server: EmberServer, sandbox_client) -> Iterator[Callable[..., object]]:
    """Run a snippet in one long-lived function (128 MB) on the module's sandbox server; returns the snippet's
    `result` (see PROBE)."""
    with functions_on(sandbox_client, sandbox_server.runtime) as make:
        name = make(PROBE)

        def run(code: str, **event: object) -> object:
            response, result = invoke_json(sandbox_client, name, {"code": code, **event})
            assert "FunctionError" not in response, result
            return result

        run.function_name = name  # type: ignore[attr-defined]
        yield run


def invoke_json(client, name: str, payload: object = None, **kwargs: object) -> tuple[dict, object]:
    """Invoke synchronously; (raw response, decoded JSON payload)."""
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload if payload is not None else {}),
                             **kwargs)
    body = response["Payload"].read()
    return response, json.loads(body) if body else None


#: a trust policy letting Lambda assume a role: iam mode gives functions no other
LAMBDA_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


def execution_role(iam, name: str = "fn-exec") -> str:
    """The ARN of a role Lambda may assume, made through the IAM client `iam` on first use."""
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]["Arn"])


def iam_mode_server(data_dir: Path, *extra_args: str, env: dict[str, str] | None = None) -> EmberServer:
    """A started server in `--auth iam` with the root key ROOT_KEY_ID, at the plain level so its
    functions reach it on 127.0.0.1."""
    return EmberServer(data_dir, extra_args=["--auth", "iam", "--sandbox", "plain", *extra_args],
                       env={"EMBER_ROOT_ACCESS_KEY_ID": ROOT_KEY_ID, "EMBER_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET,
                            **(env or {})}).start()


def first_lineage(function_name: str) -> str:
    """The Lineage field Ember adds to a trace id the first time a chain invokes `function_name`."""
    return f"Lineage={hashlib.sha256(function_name.encode()).hexdigest()[:8]}:0"
