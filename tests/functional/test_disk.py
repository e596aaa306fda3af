"""Ember's data disk: packages unpacked quickly and safely, space given back when code is no longer
used, and a full disk answered with AWS-shaped errors rather than a broken server."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, unique_name

HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


def error_of(call: Callable[..., object], **params: object) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    error = caught.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Message"]


def staging_leftovers(data_dir: Path) -> list[str]:
    unpacked = data_dir / "unpacked"
    return [p.name for p in unpacked.iterdir() if p.name.startswith(".")] if unpacked.is_dir() else []


# ---- packages -------------------------------------------------------------------------------------------

def test_a_zip_entry_with_an_empty_name_is_refused_and_leaves_nothing(server: EmberServer) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", HANDLER)
        archive.writestr(zipfile.ZipInfo(""), "nameless")
    client = server.lambda_client()

    code, status, message = error_of(client.create_function, FunctionName=unique_name("empty"),
                                     Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                                     Code={"ZipFile": buffer.getvalue()})

    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == ("Could not unzip uploaded file: an entry of the zip has an empty name. "
                       "Please check your file, then try to upload again.")
    assert staging_leftovers(server.data_dir) == []


def test_a_100k_file_package_is_created_within_the_sdks_default_read_timeout(server: EmberServer) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.py", "from pkg.d99 import f99999\n"
                                     "def handler(event, context):\n    return f99999.VALUE\n")
        for number in range(100_000):
            archive.writestr(f"pkg/d{number // 1000}/f{number}.py", f"VALUE = {number}\n")
    # The SDK's defaults (60 s read timeout), as a user's client has them; no retries hide a timeout.
    client = boto3.client("lambda", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}))
    name = unique_name("many-files")

    client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": buffer.getvalue()})
    try:
        assert client.invoke(FunctionName=name)["Payload"].read() == b"99999"
    finally:
        client.delete_function(FunctionName=name)
