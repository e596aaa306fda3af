"""Functions' environment variables are sealed in the data dir, readable only with its master key;
KMSKeyArn is recorded and returned as AWS does."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, invoke_json, make_zip

SECRET = "pa55word-that-must-never-be-written-in-the-clear"
KEY_ARN = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def data_dir_bytes(data_dir: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(data_dir.rglob("*"))
                    if path.is_file() and not path.is_symlink() and "environments" not in path.parts)


def test_environment_variables_are_sealed_on_disk_and_survive_a_restart(
        start_server: Callable[..., EmberServer]) -> None:
    ember = start_server()
    client = ember.lambda_client()
    client.create_function(FunctionName="sealed", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": make_zip({"index.py": "import os\n"
                                                      "def handler(event, context):\n"
                                                      "    return os.environ['DB_PASSWORD']\n"})},
                           Environment={"Variables": {"DB_PASSWORD": SECRET}}, KMSKeyArn=KEY_ARN)
    client.publish_version(FunctionName="sealed")
    ember.stop()
    assert SECRET.encode() not in data_dir_bytes(ember.data_dir)
    key_file = ember.data_dir / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    ember.start()
    client = ember.lambda_client()
    configuration = client.get_function_configuration(FunctionName="sealed")
    assert configuration["Environment"]["Variables"] == {"DB_PASSWORD": SECRET}
    assert configuration["KMSKeyArn"] == KEY_ARN
    assert invoke_json(client, "sealed")[1] == SECRET
    assert invoke_json(client, "sealed", Qualifier="1")[1] == SECRET
    assert SECRET not in ember.log()


def test_kms_key_arn_is_changed_and_cleared_by_update(server: EmberServer, make_function) -> None:
    client = server.lambda_client()
    name = make_function("def handler(event, context):\n    return 1\n")
    assert "KMSKeyArn" not in client.get_function_configuration(FunctionName=name)
    client.update_function_configuration(FunctionName=name, KMSKeyArn=KEY_ARN)
    client.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert client.get_function_configuration(FunctionName=name)["KMSKeyArn"] == KEY_ARN
    client.update_function_configuration(FunctionName=name, KMSKeyArn="")
    client.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert "KMSKeyArn" not in client.get_function_configuration(FunctionName=name)
