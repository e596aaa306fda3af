"""The `ember` console script, run as a user runs it, against a real server."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import pty
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import urllib3

from ember.cli.packaging import zip_folder
from ember.sandbox import SANDBOXES
from tests.functional.conftest import DEFAULT_RUNTIME, VENV_BIN, EmberServer, free_port, unique_name

EMBER = Path(sys.executable).parent / "ember"

HANDLER_V1 = '''
import os

def handler(event, context):
    print("handling", event)
    return {"version": 1, "event": event, "env": {key: os.environ.get(key) for key in ("STAGE", "COLOR")}}
'''

HANDLER_V2 = HANDLER_V1.replace('"version": 1', '"version": 2')

FAILING_HANDLER = '''
def handler(event, context):
    raise ValueError("no luck with " + repr(event))
'''

DEPLOY_FLAGS = ("--runtime", DEFAULT_RUNTIME, "--handler", "index.handler")
SETTINGS_FLAGS = ("--memory", "256", "--timeout", "5", "--env", "STAGE=dev", "--env", "COLOR=blue")
LOG_TAIL_LINE = re.compile(r"^(START|END|REPORT) RequestId: [0-9a-f-]{36}", re.MULTILINE)


def cli_environment(**extra: str) -> dict[str, str]:
    """The environment of a machine never configured for AWS: the CLI must bring its own credentials."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "EMBER_"))}
    return {**environment, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", **extra}


def ember(*args: str, endpoint_url: str | None = None, cwd: Path | None = None,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the `ember` console script and capture its output."""
    global_options = ["--endpoint-url", endpoint_url] if endpoint_url else []
    return subprocess.run([str(EMBER), *global_options, *args], capture_output=True, text=True, cwd=cwd,
                          env=env or cli_environment(), stdin=subprocess.DEVNULL, timeout=60)


def ember_with_tty_stderr(*args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `ember` with stderr on a pseudo-terminal, as in an interactive shell; (result, what the terminal got)."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen([str(EMBER), *args], stdout=subprocess.PIPE, stderr=terminal,
                                   stdin=subprocess.DEVNULL, env=cli_environment())
    finally:
        os.close(terminal)
    received = bytearray()
    try:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            received += chunk
        stdout = process.stdout.read() if process.stdout else b""
        returncode = process.wait(timeout=60)
    finally:
        os.close(controller)
        if process.stdout:
            process.stdout.close()
    completed = subprocess.CompletedProcess(process.args, returncode, stdout.decode(), "")
    return completed, received.decode(errors="replace")


def assert_succeeded(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"ember exited {result.returncode}:\n{result.stderr}"
    assert "Traceback" not in result.stderr


def code_sha256(package: bytes) -> str:
    return base64.b64encode(hashlib.sha256(package).digest()).decode()


def write_source(folder: Path, files: dict[str, str | bytes]) -> Path:
    for relative_path, content in files.items():
        path = folder / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return folder


@pytest.fixture
def function_name(lambda_client) -> Iterator[str]:
    """A fresh function name; whatever the test deploys under it is deleted afterwards."""
    name = unique_name("cli")
    yield name
    with contextlib.suppress(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.delete_function(FunctionName=name)


@pytest.fixture
def deploy(server: EmberServer) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `ember deploy SOURCE --name NAME` with the default runtime and handler plus extra flags."""

    def run(source: Path, name: str, *flags: str) -> subprocess.CompletedProcess[str]:
        return ember("deploy", str(source), "--name", name, *DEPLOY_FLAGS, *flags, endpoint_url=server.url)

    return run


@pytest.fixture
def deployed(tmp_path: Path, function_name: str, deploy) -> str:
    """A function deployed from HANDLER_V1 with SETTINGS_FLAGS; returns its name."""
    assert_succeeded(deploy(write_source(tmp_path / "src", {"index.py": HANDLER_V1}), function_name,
                            *SETTINGS_FLAGS))
    return function_name


# --- deploy ------------------------------------------------------------------------------------


def test_deploy_creates_a_function_with_the_requested_settings(tmp_path: Path, function_name: str, deploy,
                                                               lambda_client) -> None:
    source = write_source(tmp_path / "src", {"index.py": HANDLER_V1, "lib/helper.py": "VALUE = 1\n"})
    result = deploy(source, function_name, *SETTINGS_FLAGS)
    assert_succeeded(result)

    package = zip_folder(source)
    configuration = lambda_client.get_function_configuration(FunctionName=function_name)
    assert configuration["Runtime"] == DEFAULT_RUNTIME
    assert configuration["Handler"] == "index.handler"
    assert configuration["MemorySize"] == 256
    assert configuration["Timeout"] == 5
    assert configuration["Environment"] == {"Variables": {"STAGE": "dev", "COLOR": "blue"}}
    assert configuration["State"] == "Active"
    assert configuration["CodeSha256"] == code_sha256(package)
    assert configuration["CodeSize"] == len(package)
    # What the user is shown is what the server has.
    assert f"CodeSha256:  {configuration['CodeSha256']}" in result.stdout
    assert configuration["FunctionArn"] in result.stdout
    assert f"Creating function {function_name}" in result.stderr


def test_redeploy_updates_the_code_and_only_the_changed_settings(tmp_path: Path, deployed: str, deploy,
                                                                 lambda_client, server: EmberServer) -> None:
    source = tmp_path / "src"
    first_sha = lambda_client.get_function_configuration(FunctionName=deployed)["CodeSha256"]
    (source / "index.py").write_text(HANDLER_V2)

    result = deploy(source, deployed, *SETTINGS_FLAGS)
    assert_succeeded(result)
    assert f"Updating code of function {deployed}" in result.stderr
    assert "Updating configuration" not in result.stderr  # same flags: nothing to change
    configuration = lambda_client.get_function_configuration(FunctionName=deployed)
    assert configuration["CodeSha256"] == code_sha256(zip_folder(source)) != first_sha
    assert configuration["LastUpdateStatus"] == "Successful"
    invoked = ember("invoke", deployed, "--payload", '{"n": 1}', endpoint_url=server.url)
    assert_succeeded(invoked)
    assert json.loads(invoked.stdout) == {"version": 2, "event": {"n": 1}, "env": {"STAGE": "dev", "COLOR": "blue"}}

    # Settings left out stay as they were; given ones that differ are applied, --env replacing all variables.
    result = deploy(source, deployed, "--memory", "512", "--env", "STAGE=prod")
    assert_succeeded(result)
    assert f"Updating configuration of function {deployed}: Environment, MemorySize" in result.stderr
    configuration = lambda_client.get_function_configuration(FunctionName=deployed)
    assert (configuration["MemorySize"], configuration["Timeout"]) == (512, 5)
    assert configuration["Environment"] == {"Variables": {"STAGE": "prod"}}
    invoked = ember("invoke", deployed, endpoint_url=server.url)
    assert json.loads(invoked.stdout)["env"] == {"STAGE": "prod", "COLOR": None}


def test_emberignore_keeps_files_out_of_the_package(tmp_path: Path, function_name: str, deploy,
                                                    lambda_client) -> None:
    source = write_source(tmp_path / "src", {
        "index.py": HANDLER_V1,
        "secrets.txt": "password=hunter2\n",
        "build/output.txt": "artefact\n",
        "lib/helper.py": "VALUE = 1\n",
        "lib/notes.md": "draft\n",
        "lib/__pycache__/helper.cpython-311.pyc": b"\x00compiled",
        ".emberignore": "# local only\nsecrets.txt\nbuild/\n*.md\n",
    })
    assert_succeeded(deploy(source, function_name))

    function = lambda_client.get_function(FunctionName=function_name)
    download = urllib3.request("GET", function["Code"]["Location"], timeout=30)
    assert download.status == 200
    assert code_sha256(download.data) == function["Configuration"]["CodeSha256"]
    with zipfile.ZipFile(io.BytesIO(download.data)) as archive:
        assert archive.namelist() == ["index.py", "lib/helper.py"]
        assert archive.read("index.py").decode() == HANDLER_V1


def test_large_package_upload_shows_progress(tmp_path: Path, function_name: str, deploy, lambda_client,
                                             server: EmberServer) -> None:
    blob = tmp_path / "src" / "model.bin"
    source = write_source(tmp_path / "src", {"index.py": HANDLER_V1, "model.bin": os.urandom(1_500_000)})
    package_size = len(zip_folder(source))
    assert package_size > 1024 * 1024

    # Interactive: a bar that advances to 100 % while CreateFunction sends the package.
    result, terminal = ember_with_tty_stderr("--endpoint-url", server.url, "deploy", str(source),
                                             "--name", function_name, *DEPLOY_FLAGS)
    assert result.returncode == 0, terminal
    assert "Traceback" not in terminal
    percentages = [int(value) for value in re.findall(r"Uploading 1\.4 MiB\s+\[[#-]+\]\s+(\d+)%", terminal)]
    assert percentages[-1] == 100
    assert percentages == sorted(percentages) and len(set(percentages)) > 2, terminal
    configuration = lambda_client.get_function_configuration(FunctionName=function_name)
    assert configuration["CodeSha256"] == code_sha256(zip_folder(source))
    assert configuration["CodeSize"] == package_size

    # Piped: the label alone, no terminal control codes; UpdateFunctionCode sends the new package.
    blob.write_bytes(os.urandom(1_500_000))
    result = deploy(source, function_name)
    assert_succeeded(result)
    assert "Uploading 1.4 MiB" in result.stderr
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert lambda_client.get_function_configuration(FunctionName=function_name)["CodeSha256"] == code_sha256(
        zip_folder(source))
    invoked = ember("invoke", function_name, "--payload", "{}", endpoint_url=server.url)
    assert_succeeded(invoked)
    assert json.loads(invoked.stdout)["version"] == 1


def test_deploy_reports_bad_environment_variables(tmp_path: Path, function_name: str, deploy,
                                                  lambda_client) -> None:
    source = write_source(tmp_path / "src", {"index.py": HANDLER_V1})

    malformed = deploy(source, function_name, "--env", "STAGE")
    assert malformed.returncode == 2
    assert "expected KEY=VALUE, got 'STAGE'" in malformed.stderr

    # Lambda wants names of at least two characters: the server's refusal comes back as one line.
    refused = deploy(source, function_name, "--env", "A=1")
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1].startswith("error: ValidationException: ")
    assert "Traceback" not in refused.stderr
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=function_name)


# --- invoke ------------------------------------------------------------------------------------


def test_invoke_prints_the_result_on_stdout_and_the_log_tail_on_stderr(deployed: str, server: EmberServer) -> None:
    result = ember("invoke", deployed, "--payload", '{"a":1}', endpoint_url=server.url)
    assert_succeeded(result)
    assert json.loads(result.stdout) == {"version": 1, "event": {"a": 1}, "env": {"STAGE": "dev", "COLOR": "blue"}}
    assert [match.group(1) for match in LOG_TAIL_LINE.finditer(result.stderr)] == ["START", "END", "REPORT"]
    assert "handling {'a': 1}" in result.stderr
    assert "RequestId" not in result.stdout


def test_invoke_reads_the_payload_from_a_file(tmp_path: Path, deployed: str, server: EmberServer) -> None:
    event = {"records": [{"id": 1, "body": "héllo"}], "flag": True}
    (tmp_path / "event.json").write_text(json.dumps(event), encoding="utf-8")

    result = ember("invoke", deployed, "--payload", "@event.json", endpoint_url=server.url, cwd=tmp_path)
    assert_succeeded(result)
    assert json.loads(result.stdout)["event"] == event

    missing = ember("invoke", deployed, "--payload", "@absent.json", endpoint_url=server.url, cwd=tmp_path)
    assert missing.returncode == 2
    assert "cannot read payload file absent.json" in missing.stderr


def test_invoke_of_a_failing_function_prints_the_error_and_exits_1(tmp_path: Path, function_name: str, deploy,
                                                                   server: EmberServer) -> None:
    assert_succeeded(deploy(write_source(tmp_path / "src", {"index.py": FAILING_HANDLER}), function_name))

    result = ember("invoke", function_name, "--payload", '{"a": 1}', endpoint_url=server.url)
    assert result.returncode == 1, result.stderr
    error = json.loads(result.stdout)
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "no luck with {'a': 1}"
    assert "REPORT RequestId:" in result.stderr


@pytest.mark.parametrize("payload", ['{"a":', "not json", "{'a': 1}"])
def test_invoke_rejects_a_payload_that_is_not_json(payload: str, server: EmberServer) -> None:
    result = ember("invoke", "whatever", "--payload", payload, endpoint_url=server.url)
    assert result.returncode == 2
    assert "Invalid value for '--payload': payload is not valid JSON" in result.stderr
    assert result.stdout == ""


def test_invoke_of_a_missing_function_is_one_error_line(server: EmberServer) -> None:
    name = unique_name("missing")
    result = ember("invoke", name, endpoint_url=server.url)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ResourceNotFoundException: ")
    assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# --- functions ---------------------------------------------------------------------------------


def test_functions_lists_name_runtime_and_memory(deployed: str, server: EmberServer) -> None:
    # The endpoint may come from the environment instead of --endpoint-url.
    result = ember("functions", env=cli_environment(EMBER_ENDPOINT_URL=server.url))
    assert_succeeded(result)
    header, *rows = [line.split() for line in result.stdout.splitlines()]
    assert header == ["NAME", "RUNTIME", "MEMORY_MB", "TIMEOUT_S", "LAST_MODIFIED", "STATE"]
    listed = {row[0]: row for row in rows}
    assert listed[deployed][1:4] == [DEFAULT_RUNTIME, "256", "5"]
    assert listed[deployed][5] == "Active"
    assert [row[0] for row in rows] == sorted(listed)


# --- failures talking to the server --------------------------------------------------------------


@pytest.mark.parametrize("command", [["invoke", "some-function"], ["functions"], ["deploy", ".", "--name", "fn",
                                                                                  *DEPLOY_FLAGS]])
def test_no_server_at_the_endpoint_points_at_ember_serve(command: list[str], tmp_path: Path) -> None:
    (tmp_path / "index.py").write_text(HANDLER_V1)
    endpoint_url = f"http://127.0.0.1:{free_port()}"
    result = ember(*command, endpoint_url=endpoint_url, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"error: no Ember server answered at {endpoint_url}; start one with `ember serve`")
    assert "Traceback" not in result.stderr


def test_an_endpoint_that_is_not_a_url_is_a_usage_error() -> None:
    result = ember("functions", endpoint_url=f"127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert "Invalid value for '--endpoint-url'" in result.stderr
    assert "Traceback" not in result.stderr


# --- serve -------------------------------------------------------------------------------------


def test_serve_help_lists_its_flags() -> None:
    result = ember("serve", "--help")
    assert_succeeded(result)
    for flag in ("--host", "--port", "--data-dir", "--sandbox", "--keep-alive"):
        assert re.search(rf"^\s+{flag}\b", result.stdout, re.MULTILINE), f"{flag} missing from:\n{result.stdout}"


@pytest.mark.parametrize(("variable", "text"), [("EMBER_KEEP_ALIVE_S", "forever"), ("EMBER_PORT", "http"),
                                                 ("EMBER_MAX_CONNECTIONS", "0")])
def test_serve_names_a_bad_environment_variable(tmp_path: Path, variable: str, text: str) -> None:
    result = subprocess.run([str(VENV_BIN / "ember"), "serve", "--data-dir", str(tmp_path / "d")],
                            env={**os.environ, variable: text}, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert variable in result.stderr and text in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_rejects_an_unknown_sandbox_level(tmp_path: Path) -> None:
    result = ember("serve", "--sandbox", "nonsense", "--port", str(free_port()), "--data-dir", str(tmp_path / "d"))
    assert result.returncode != 0
    assert "nonsense" in result.stderr
    for level in ("auto", *SANDBOXES):
        assert level in result.stderr
    assert "Traceback" not in result.stderr
