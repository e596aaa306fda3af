"""The README's quick start, as the `aws` CLI runs it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.functional.conftest import EmberServer

HANDLER = '''
import os

def handler(event, context):
    return {"received": event, "KEY1": os.environ.get("KEY1"), "KEY2": os.environ.get("KEY2")}
'''


def test_create_invoke_and_configure_with_the_aws_cli(server: EmberServer, tmp_path: Path,
                                                       available_runtimes: set[str]) -> None:
    if "python3.12" not in available_runtimes:
        pytest.skip("this host has no python3.12 interpreter")
    with zipfile.ZipFile(tmp_path / "function.zip", "w") as archive:
        archive.writestr("index.py", HANDLER)
    name = "my-function"
    created = server.aws("lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
                         "--role", "arn:aws:iam::000000000000:role/lambda-role", "--handler", "index.handler",
                         "--zip-file", "fileb://function.zip", cwd=tmp_path)
    configuration = json.loads(created.stdout)
    assert configuration["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:my-function"
    assert configuration["State"] == "Active"

    invoked = server.aws("lambda", "invoke", "--function-name", name, "--payload", '{"key": "value"}',
                         "response.json", cwd=tmp_path)
    assert json.loads(invoked.stdout)["StatusCode"] == 200
    assert json.loads((tmp_path / "response.json").read_text())["received"] == {"key": "value"}

    updated = server.aws("lambda", "update-function-configuration", "--function-name", name,
                         "--environment", "Variables={KEY1=VALUE1,KEY2=VALUE2}")
    assert json.loads(updated.stdout)["Environment"]["Variables"] == {"KEY1": "VALUE1", "KEY2": "VALUE2"}

    server.aws("lambda", "invoke", "--function-name", name, "--payload", '{"key": "value"}', "response.json",
               cwd=tmp_path)
    result = json.loads((tmp_path / "response.json").read_text())
    assert (result["KEY1"], result["KEY2"]) == ("VALUE1", "VALUE2")

    server.aws("lambda", "delete-function", "--function-name", name)
    missing = server.aws("lambda", "get-function", "--function-name", name, check=False)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr
