"""Every bad input gets AWS's error code and status, and a message that says what to fix; none gets a 500.

boto3 checks some parameters itself (MemorySize's minimum, say); these tests go past that with
`parameter_validation=False` or raw HTTP, so it is the server's answer that is checked.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import urllib3
from botocore.exceptions import ClientError

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, make_zip, unique_name

ARN_PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"
HANDLER = "def handler(event, context):\n    return {'ok': True}\n"
UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."
#: the edge's per-request log line: "... ember.edge: lambda.CreateFunction 400 1.7ms"
ACCESS_LINE = re.compile(r"ember\.edge: .* (?P<status>\d{3}) [\d.]+ms$", re.MULTILINE)


@pytest.fixture(scope="module")
def raw_client(server: EmberServer):
    """A boto3 client that sends whatever it is given: the server does the validating."""
    return server.lambda_client(parameter_validation=False)


@pytest.fixture(scope="module", autouse=True)
def log_start(server: EmberServer) -> int:
    """Where the server log stood before this module's requests (the server is shared)."""
    return len(server.log())


@pytest.fixture(scope="module")
def existing(server: EmberServer, raw_client, log_start: int) -> Iterator[str]:
    """One function for the tests that need a valid target."""
    name = unique_name("bad-target")
    raw_client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                               Code={"ZipFile": make_zip({"index.py": HANDLER})})
    yield name
    raw_client.delete_function(FunctionName=name)


def create_error(client, **overrides: object) -> tuple[str, int, str]:
    """Try CreateFunction with `overrides` on good defaults; AWS's (code, status, message)."""
    params: dict[str, object] = {
        "FunctionName": unique_name("bad"), "Runtime": DEFAULT_RUNTIME, "Role": ROLE, "Handler": "index.handler",
        "Code": {"ZipFile": make_zip({"index.py": HANDLER})},
    }
    params.update(overrides)
    return error_of(client.create_function, **params)


def error_of(call, **params: object) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def zip_entries(entries: list[tuple[str, bytes | str, int]]) -> bytes:
    """A zip of (name, content, st_mode) entries, so symlinks can be made."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = mode << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def raw(server: EmberServer, method: str, path: str, body: bytes | None = None,
        headers: dict[str, str] | None = None) -> urllib3.BaseHTTPResponse:
    return urllib3.request(method, server.url + path, body=body, headers=headers, timeout=30, retries=False)


# ---- names ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["has space", "bad!name", "semi;colon", "dots.are.not.allowed"])
def test_a_function_name_breaking_the_pattern_is_a_validation_error(raw_client, name: str) -> None:
    code, status, message = create_error(raw_client, FunctionName=name)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy "
                              "constraint: Member must satisfy regular expression pattern: ")


def test_a_function_name_over_64_characters_is_refused(raw_client) -> None:
    name = "a" * 65
    assert create_error(raw_client, FunctionName=name) == (
        "InvalidParameterValueException", 400,
        f"1 validation error detected: Value '{name}' at 'functionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64")
    # In an ARN, it is the name part that is measured.
    assert create_error(raw_client, FunctionName=ARN_PREFIX + name)[0] == "InvalidParameterValueException"


def test_a_function_arn_over_140_characters_is_a_validation_error(raw_client) -> None:
    arn = ARN_PREFIX + "a" * 100
    code, status, message = create_error(raw_client, FunctionName=arn)
    assert (code, status) == ("ValidationException", 400)
    assert message == (f"1 validation error detected: Value '{arn}' at 'functionName' failed to satisfy "
                       "constraint: Member must have length less than or equal to 140")


def test_a_role_that_is_not_an_iam_role_arn_is_refused(raw_client) -> None:
    code, status, message = create_error(raw_client, Role="r1")
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: "
                              "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::")


# ---- settings ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("setting", "value", "path", "constraint"), [
    ("MemorySize", 127, "memorySize", "greater than or equal to 128"),
    ("MemorySize", 10241, "memorySize", "less than or equal to 10240"),
    ("Timeout", 0, "timeout", "greater than or equal to 1"),
    ("Timeout", 901, "timeout", "less than or equal to 900"),
    ("EphemeralStorage", {"Size": 511}, "ephemeralStorage.size", "greater than or equal to 512"),
    ("EphemeralStorage", {"Size": 10241}, "ephemeralStorage.size", "less than or equal to 10240"),
])
def test_settings_out_of_range_are_validation_errors(raw_client, existing: str, setting: str, value: object,
                                                     path: str, constraint: str) -> None:
    shown = value["Size"] if isinstance(value, dict) else value
    expected = ("ValidationException", 400, f"1 validation error detected: Value '{shown}' at '{path}' failed to "
                f"satisfy constraint: Member must have value {constraint}")

    assert create_error(raw_client, **{setting: value}) == expected
    assert error_of(raw_client.update_function_configuration, FunctionName=existing, **{setting: value}) == expected


def test_the_limits_themselves_are_accepted(raw_client, existing: str) -> None:
    for settings in ({"MemorySize": 128, "Timeout": 1}, {"MemorySize": 10240, "Timeout": 900},
                     {"EphemeralStorage": {"Size": 10240}}):
        raw_client.update_function_configuration(FunctionName=existing, **settings)
    configuration = raw_client.get_function_configuration(FunctionName=existing)
    assert (configuration["MemorySize"], configuration["Timeout"]) == (10240, 900)
    assert configuration["EphemeralStorage"] == {"Size": 10240}


def test_several_bad_settings_are_reported_together(raw_client) -> None:
    code, status, message = create_error(raw_client, Timeout=0, MemorySize=127)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("2 validation errors detected: ")
    assert "Value '0' at 'timeout'" in message and "Value '127' at 'memorySize'" in message
    assert message.count("; ") == 1


def test_environment_over_4_kb_is_refused_and_measured(raw_client, existing: str) -> None:
    variables = {"SMALL_VAR": "ok", "LARGE_VAR": "x" * 4096}
    measured = json.dumps(variables, separators=(",", ":"))  # compact, in the order given
    expected = ("InvalidParameterValueException", 400,
                "Lambda was unable to configure your environment variables because the environment variables you "
                f"have provided exceeded the 4KB limit. String measured: {measured}")

    assert create_error(raw_client, Environment={"Variables": variables}) == expected
    assert error_of(raw_client.update_function_configuration, FunctionName=existing,
                    Environment={"Variables": variables}) == expected


def test_a_reserved_environment_key_is_refused(raw_client, existing: str) -> None:
    code, status, message = create_error(raw_client, Environment={"Variables": {"AWS_REGION": "eu-west-1",
                                                                                "MINE": "fine"}})
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "reserved keys" in message
    assert message.endswith("Reserved keys used in this request: AWS_REGION")
    code, _, message = error_of(raw_client.update_function_configuration, FunctionName=existing,
                                Environment={"Variables": {"AWS_LAMBDA_FUNCTION_NAME": "x"}})
    assert code == "InvalidParameterValueException"
    assert message.endswith("Reserved keys used in this request: AWS_LAMBDA_FUNCTION_NAME")


def test_an_unknown_runtime_is_an_invalid_parameter(raw_client, existing: str) -> None:
    for call, params in ((raw_client.create_function, None),
                         (raw_client.update_function_configuration, {"FunctionName": existing})):
        if params is None:
            code, status, message = create_error(raw_client, Runtime="python3.99")
        else:
            code, status, message = error_of(call, Runtime="python3.99", **params)
        assert (code, status) == ("InvalidParameterValueException", 400)
        assert message.startswith("Value python3.99 at 'runtime' failed to satisfy constraint: "
                                  "Member must satisfy enum value set: [")
        assert "python3.12" in message
        assert message.endswith("] or be a valid ARN")


def test_a_deprecated_runtime_is_refused_with_a_recommendation(raw_client, existing: str) -> None:
    code, status, message = create_error(raw_client, Runtime="python3.7")
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert re.fullmatch(r"The runtime parameter of python3\.7 is no longer supported for creating or updating AWS "
                        r"Lambda functions\. We recommend you use the new runtime \(python3\.\d+\) while creating "
                        r"or updating functions\.", message)
    assert error_of(raw_client.update_function_configuration, FunctionName=existing, Runtime="python3.7")[0] == \
        "InvalidParameterValueException"


def test_a_duplicate_function_is_a_conflict(raw_client, existing: str) -> None:
    assert create_error(raw_client, FunctionName=existing) == (
        "ResourceConflictException", 409, f"Function already exist: {existing}")


# ---- code packages -------------------------------------------------------------------------------------------

def test_s3_code_is_refused_with_a_pointer_to_zip_file(raw_client, existing: str) -> None:
    code, status, message = create_error(raw_client, Code={"S3Bucket": "my-bucket", "S3Key": "function.zip"})
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "S3Bucket/S3Key" in message and "ZipFile" in message
    code, _, message = error_of(raw_client.update_function_code, FunctionName=existing, S3Bucket="my-bucket",
                                S3Key="function.zip")
    assert code == "InvalidParameterValueException"
    assert "ZipFile" in message


def test_a_body_that_is_not_a_zip_is_refused(raw_client, existing: str) -> None:
    expected = ("InvalidParameterValueException", 400, UNZIP_FAILED)
    assert create_error(raw_client, Code={"ZipFile": b"this is not a zip"}) == expected
    assert error_of(raw_client.update_function_code, FunctionName=existing, ZipFile=b"PK\x03\x04 truncated") == \
        expected


@pytest.mark.parametrize("entry", ["../evil.py", "lib/../../evil.py", "/etc/evil"])
def test_entries_outside_the_package_root_are_refused(raw_client, entry: str) -> None:
    package = make_zip({"index.py": HANDLER, entry: "print('pwned')"})
    code, status, message = create_error(raw_client, Code={"ZipFile": package})
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == (f"Could not unzip uploaded file: the entry '{entry}' would be written outside the package "
                       "root. Use paths relative to the root of the zip.")


def test_a_symlink_out_of_the_tree_is_refused(raw_client) -> None:
    package = zip_entries([("index.py", HANDLER, stat.S_IFREG | 0o644),
                           ("passwd", "../../etc/passwd", 0o120777)])
    code, status, message = create_error(raw_client, Code={"ZipFile": package})
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message == ("Could not unzip uploaded file: the symlink 'passwd' points to '../../etc/passwd', outside "
                       "the package. Symlinks may only point inside the package.")


def test_a_symlink_that_only_reads_as_inside_is_refused(server: EmberServer, raw_client) -> None:
    # `a/up` → `..` is the package root, so `a/up/l` → `../..` is two levels above it, though the text
    # `a/up/../..` normalises to the root. A file written "inside" l would land in the data dir.
    marker = f"escaped-{unique_name()}.txt"
    package = zip_entries([("index.py", HANDLER, stat.S_IFREG | 0o644), ("a/up", "..", 0o120777),
                           ("a/up/l", "../..", 0o120777), (f"a/up/l/{marker}", "pwned", stat.S_IFREG | 0o644)])

    code, status, message = create_error(raw_client, Code={"ZipFile": package})

    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "would be written outside the package root through a symlink" in message
    assert list(server.data_dir.parent.rglob(marker)) == []


def test_a_symlink_inside_the_tree_is_accepted_and_works(raw_client) -> None:
    name = unique_name("bad-symlink-ok")
    package = zip_entries([("lib/real.py", HANDLER, stat.S_IFREG | 0o644),
                           ("index.py", "lib/real.py", 0o120777)])
    raw_client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                               Code={"ZipFile": package})
    try:
        response = raw_client.invoke(FunctionName=name, Payload=b"{}")
        assert "FunctionError" not in response
        assert json.loads(response["Payload"].read()) == {"ok": True}
    finally:
        raw_client.delete_function(FunctionName=name)


def test_a_damaged_zip_is_refused_not_a_500(raw_client) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("index.py", HANDLER + "# AAAA\n")
    damaged = buffer.getvalue().replace(b"AAAA", b"BBBB")  # the CRC no longer matches the data

    assert create_error(raw_client, Code={"ZipFile": damaged}) == ("InvalidParameterValueException", 400,
                                                                   UNZIP_FAILED)


@pytest.fixture(scope="module")
def oversized_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A zip just over 50 MB (random bytes, stored): its base64 still fits CreateFunction's request limit."""
    path = tmp_path_factory.mktemp("zips") / "oversized.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("index.py", HANDLER)
        with archive.open(zipfile.ZipInfo("blob.bin"), "w") as sink:
            remaining = 52_428_800 + 50_000
            while remaining > 0:
                chunk = os.urandom(min(remaining, 4 << 20))
                sink.write(chunk)
                remaining -= len(chunk)
    data = path.read_bytes()
    assert 52_428_800 < len(data) < 52_600_000
    return data


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small zip that unpacks to 270 MB of zeros, written in chunks to keep memory low."""
    path = tmp_path_factory.mktemp("zips") / "bomb.zip"
    zeros = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.py", HANDLER)
        for part in range(3):
            info = zipfile.ZipInfo(f"zeros-{part}.bin")
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as sink:
                for _ in range(90):
                    sink.write(zeros)
    data = path.read_bytes()
    assert len(data) < 1 << 20
    return data


def test_a_zip_over_50_mb_is_too_large(raw_client, existing: str, oversized_zip: bytes) -> None:
    expected = ("RequestEntityTooLargeException", 413, "Zipped size must be smaller than 52428800 bytes")
    assert create_error(raw_client, Code={"ZipFile": oversized_zip}) == expected
    assert error_of(raw_client.update_function_code, FunctionName=existing, ZipFile=oversized_zip) == expected


def test_a_zip_unpacking_to_over_250_mb_is_refused(raw_client, existing: str, zip_bomb: bytes) -> None:
    expected = ("InvalidParameterValueException", 400, "Unzipped size must be smaller than 262144000 bytes")
    assert create_error(raw_client, Code={"ZipFile": zip_bomb}) == expected
    assert error_of(raw_client.update_function_code, FunctionName=existing, ZipFile=zip_bomb) == expected
    # The function kept its code.
    assert raw_client.invoke(FunctionName=existing, Payload=b"{}")["StatusCode"] == 200


# ---- missing things ------------------------------------------------------------------------------------------

def test_a_missing_function_is_not_found_everywhere(raw_client) -> None:
    name = unique_name("bad-missing")
    arn = ARN_PREFIX + name
    calls = [
        (raw_client.get_function, {"FunctionName": name}),
        (raw_client.get_function_configuration, {"FunctionName": name}),
        (raw_client.update_function_code, {"FunctionName": name, "ZipFile": make_zip({"index.py": HANDLER})}),
        (raw_client.update_function_configuration, {"FunctionName": name, "Timeout": 5}),
        (raw_client.delete_function, {"FunctionName": name}),
        (raw_client.get_policy, {"FunctionName": name}),
        (raw_client.list_tags, {"Resource": arn}),
        (raw_client.tag_resource, {"Resource": arn, "Tags": {"a": "b"}}),
        (raw_client.add_permission, {"FunctionName": name, "StatementId": "s", "Action": "lambda:InvokeFunction",
                                     "Principal": "s3.amazonaws.com"}),
    ]
    for call, params in calls:
        assert error_of(call, **params) == ("ResourceNotFoundException", 404, f"Function not found: {arn}"), call
    code, status, message = error_of(raw_client.invoke, FunctionName=name, Payload=b"{}")
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert message in (f"Function not found: {arn}", f"Function not found: {arn}:$LATEST")
    assert error_of(raw_client.remove_permission, FunctionName=name, StatementId="s") == (
        "ResourceNotFoundException", 404, f"No policy found for: {arn}")


def test_a_qualifier_that_does_not_exist_is_not_found(raw_client, existing: str) -> None:
    expected = ("ResourceNotFoundException", 404, f"Function not found: {ARN_PREFIX}{existing}:42")
    assert error_of(raw_client.get_function, FunctionName=existing, Qualifier="42") == expected
    assert error_of(raw_client.get_function_configuration, FunctionName=f"{existing}:42") == expected
    assert error_of(raw_client.invoke, FunctionName=existing, Qualifier="42", Payload=b"{}") == expected
    assert error_of(raw_client.get_function, FunctionName=f"{existing}:1", Qualifier="2") == (
        "InvalidParameterValueException", 400,
        "The derived qualifier from the function name does not match the specified qualifier.")


def test_a_function_in_another_region_is_not_reachable(raw_client, existing: str) -> None:
    arn = f"arn:aws:lambda:eu-west-1:000000000000:function:{existing}"
    assert error_of(raw_client.get_function, FunctionName=arn) == (
        "ResourceNotFoundException", 404, "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')")


# ---- Invoke --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload", [b"{not json", b"\x87\x00", b"[1, 2", b"{'single': 'quotes'}"])
def test_an_invoke_payload_that_is_not_json_is_refused(raw_client, existing: str, payload: bytes) -> None:
    code, status, message = error_of(raw_client.invoke, FunctionName=existing, Payload=payload)
    assert (code, status) == ("InvalidRequestContentException", 400)
    assert message.startswith("Could not parse request body into json: Could not parse payload into json: ")


def test_an_invoke_payload_over_6_mb_is_too_large(raw_client, existing: str) -> None:
    payload = json.dumps("x" * (6 * 1024 * 1024)).encode()
    assert error_of(raw_client.invoke, FunctionName=existing, Payload=payload) == (
        "RequestTooLargeException", 413, "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
    # The connection and the function are fine afterwards.
    assert raw_client.invoke(FunctionName=existing, Payload=b"{}")["StatusCode"] == 200


def test_a_bad_client_context_is_refused(raw_client, existing: str) -> None:
    code, status, message = error_of(raw_client.invoke, FunctionName=existing, Payload=b"{}",
                                     ClientContext="not base64 json!")
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "Client context must be a valid Base64-encoded JSON object." in message


# ---- raw HTTP ------------------------------------------------------------------------------------------------

def test_list_functions_max_items_0_is_a_validation_error(server: EmberServer) -> None:
    response = raw(server, "GET", "/2015-03-31/functions/?MaxItems=0")
    assert response.status == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert response.headers["content-type"] == "application/json"
    body = json.loads(response.data)
    assert body["message"] == ("1 validation error detected: Value '0' at 'maxItems' failed to satisfy constraint: "
                               "Member must have value greater than or equal to 1")


def test_list_functions_max_items_not_a_number_is_refused(server: EmberServer) -> None:
    response = raw(server, "GET", "/2015-03-31/functions/?MaxItems=lots")
    assert response.status == 400
    assert response.headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert "lots" in json.loads(response.data)["message"]


def test_a_bad_marker_is_refused(raw_client) -> None:
    code, status, message = error_of(raw_client.list_functions, Marker="%%% not a marker")
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "NextMarker" in message


def test_an_unknown_path_is_404_not_500(server: EmberServer) -> None:
    for method, path in (("GET", "/no/such/path"), ("GET", "/2015-03-31/functions/f/no-such-thing"),
                         ("PATCH", "/2015-03-31/functions/f"), ("POST", "/2015-03-31/nothing-here")):
        response = raw(server, method, path, headers={"content-type": "application/json"}, body=b"{}")
        assert response.status == 404, (method, path)
        assert response.headers["x-amzn-errortype"] == "UnknownOperationException"
        assert path in json.loads(response.data)["message"]


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"FunctionName": 7}', b"\xff\xfe"])
def test_a_malformed_create_function_body_is_bad_content(server: EmberServer, body: bytes) -> None:
    response = raw(server, "POST", "/2015-03-31/functions", body=body, headers={"content-type": "application/json"})
    assert response.status == 400
    assert response.headers["x-amzn-errortype"] == "InvalidRequestContentException"
    assert json.loads(response.data)["message"].startswith("Could not parse request body into json")


def test_a_create_function_body_missing_everything_lists_what_is_needed(server: EmberServer) -> None:
    response = raw(server, "POST", "/2015-03-31/functions", body=b"{}", headers={"content-type": "application/json"})
    assert response.status == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    message = json.loads(response.data)["message"]
    assert message.startswith("3 validation errors detected: ")
    for member in ("functionName", "role", "code"):
        assert f"Value null at '{member}' failed to satisfy constraint: Member must not be null" in message


def test_missing_runtime_or_handler_for_a_zip_is_refused(raw_client) -> None:
    for missing in ("Runtime", "Handler"):
        params = {"FunctionName": unique_name("bad"), "Runtime": DEFAULT_RUNTIME, "Role": ROLE,
                  "Handler": "index.handler", "Code": {"ZipFile": make_zip({"index.py": HANDLER})}}
        del params[missing]
        code, status, message = error_of(raw_client.create_function, **params)
        assert (code, status) == ("InvalidParameterValueException", 400)
        assert message == ("Runtime and Handler are mandatory parameters for functions created with deployment "
                           "packages.")


# ---- values no member can hold ------------------------------------------------------------------------------
# Each of these once answered 500 with a traceback in the server's log.

def json_rpc(server: EmberServer, service: str, target: str, body: bytes) -> urllib3.BaseHTTPResponse:
    """A raw JSON-protocol request (CloudWatch Logs, CloudWatch) routed by its credential scope."""
    version = "1.1" if service == "logs" else "1.0"
    return raw(server, "POST", "/", body=body, headers={
        "x-amz-target": target, "content-type": f"application/x-amz-json-{version}",
        "authorization": f"AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, "
                         "SignedHeaders=host, Signature=00"})


def refusal(response: urllib3.BaseHTTPResponse) -> tuple[int, str, str]:
    """(status, error type, message) of an error answer."""
    return response.status, response.headers.get("x-amzn-errortype", ""), json.loads(response.data)["message"]


def test_a_layer_version_number_past_64_bits_is_refused(raw_client) -> None:
    for version in (2**63, 2**64 + 5):
        code, status, message = error_of(raw_client.get_layer_version, LayerName="some-layer", VersionNumber=version)
        assert (code, status) == ("InvalidRequestContentException", 400)
        assert message == (f"Could not parse path value '{version}' as long: Numeric value ({version}) out of range "
                           "of long (-9223372036854775808 - 9223372036854775807)")
    code, status, _ = error_of(raw_client.delete_layer_version, LayerName="some-layer", VersionNumber=2**63)
    assert (code, status) == ("InvalidRequestContentException", 400)


def test_the_largest_layer_version_number_is_merely_not_found(raw_client) -> None:
    code, status, _ = error_of(raw_client.get_layer_version, LayerName="some-layer", VersionNumber=2**63 - 1)
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_a_null_in_the_layers_list_is_a_validation_error(server: EmberServer, existing: str) -> None:
    response = raw(server, "PUT", f"/2015-03-31/functions/{existing}/configuration", body=b'{"Layers": [null]}',
                   headers={"content-type": "application/json"})
    assert refusal(response) == (400, "ValidationException", (
        "1 validation error detected: Value '[null]' at 'layers' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must not be null]"))


@pytest.mark.parametrize(("token", "expected"), [
    (b"NaN", "Non-standard token 'NaN': JSON numbers must be finite"),
    (b"1e999", "Numeric value (inf) out of range of int for Timeout"),
    (b"-1e999", "Numeric value (-inf) out of range of int for Timeout"),
    (b"4294967296", "Numeric value (4294967296) out of range of int (-2147483648 - 2147483647) for Timeout"),
])
def test_a_timeout_no_integer_can_hold_is_bad_content(server: EmberServer, existing: str, token: bytes,
                                                      expected: str) -> None:
    response = raw(server, "PUT", f"/2015-03-31/functions/{existing}/configuration",
                   body=b'{"Timeout": ' + token + b"}", headers={"content-type": "application/json"})
    assert refusal(response) == (400, "InvalidRequestContentException",
                                 f"Could not parse request body into json: {expected}")


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_a_body_nested_100k_levels_deep_is_bad_content(server: EmberServer, body: bytes) -> None:
    response = raw(server, "POST", "/2015-03-31/functions", body=body, headers={"content-type": "application/json"})
    status, code, message = refusal(response)
    assert (status, code) == (400, "InvalidRequestContentException")
    assert message == ("Could not parse request body into json: the document nests arrays or objects too deeply "
                       "(at most about 900 levels)")
    response = json_rpc(server, "logs", "Logs_20140328.DescribeLogGroups", body)
    assert refusal(response)[:2] == (400, "SerializationException")


def test_an_invoke_payload_nested_100k_levels_deep_is_bad_content(raw_client, existing: str) -> None:
    code, status, message = error_of(raw_client.invoke, FunctionName=existing,
                                     Payload=b"[" * 100_000 + b"]" * 100_000)
    assert (code, status) == ("InvalidRequestContentException", 400)
    assert message.startswith("Could not parse request body into json: Could not parse payload into json: ")
    assert "too deeply" in message


def test_a_lone_surrogate_in_a_function_name_is_a_validation_error(server: EmberServer) -> None:
    # json.dumps writes the lone surrogate as the escape \ud800, as a careless client would
    body = json.dumps({"FunctionName": "bad\ud800name", "Role": ROLE, "Code": {"ZipFile": ""}}).encode()
    assert b'"bad\\ud800name"' in body
    response = raw(server, "POST", "/2015-03-31/functions", body=body, headers={"content-type": "application/json"})
    status, code, message = refusal(response)
    assert (status, code) == (400, "ValidationException")
    assert ("Value 'bad\\ud800name' at 'functionName' failed to satisfy constraint: Member must be valid Unicode: "
            "it holds a lone UTF-16 surrogate") in message


def test_a_lone_surrogate_in_a_description_is_refused_and_nothing_is_stored(server: EmberServer, raw_client,
                                                                           existing: str) -> None:
    response = raw(server, "PUT", f"/2015-03-31/functions/{existing}/configuration",
                   body=b'{"Description": "\\udfff"}', headers={"content-type": "application/json"})
    assert refusal(response)[:2] == (400, "ValidationException")
    assert raw_client.get_function_configuration(FunctionName=existing)["Description"] == ""


def test_a_lone_surrogate_encoded_in_the_path_is_a_validation_error(server: EmberServer) -> None:
    # %ED%A0%80 is \ud800 as UTF-8 would spell it, which UTF-8 forbids: the name is unreadable
    response = raw(server, "GET", "/2015-03-31/functions/%ED%A0%80")
    assert refusal(response)[:2] == (400, "ValidationException")


def test_a_null_log_event_is_an_invalid_parameter(server: EmberServer) -> None:
    response = json_rpc(server, "logs", "Logs_20140328.PutLogEvents",
                        b'{"logGroupName": "g", "logStreamName": "s", "logEvents": [null]}')
    assert refusal(response) == (400, "InvalidParameterException", (
        "1 validation error detected: Value '[null]' at 'logEvents' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must not be null]"))


@pytest.mark.parametrize("target", ["GraniteServiceVersion20100801.GetMetricStatistics",
                                    "GraniteServiceVersion20100801.ListMetrics"])
def test_a_null_dimension_is_a_validation_error(server: EmberServer, target: str) -> None:
    response = json_rpc(server, "monitoring", target, (
        b'{"Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": [null], "StartTime": 1700000000, '
        b'"EndTime": 1700003600, "Period": 60, "Statistics": ["Sum"]}'))
    status, code, message = refusal(response)
    assert (status, code) == (400, "ValidationException")
    assert ("Value '[null]' at 'dimensions' failed to satisfy constraint: Member must satisfy constraint: "
            "[Member must not be null]") in message


@pytest.mark.parametrize("start", [b"1e20", b"-1e20", b"NaN", b'{"a": null}'])
def test_a_start_time_no_clock_can_hold_is_a_serialization_error(server: EmberServer, start: bytes) -> None:
    response = json_rpc(server, "monitoring", "GraniteServiceVersion20100801.GetMetricStatistics", (
        b'{"Namespace": "AWS/Lambda", "MetricName": "Errors", "StartTime": ' + start
        + b', "EndTime": 1700003600, "Period": 60, "Statistics": ["Sum"]}'))
    assert refusal(response)[:2] == (400, "SerializationException")


def test_deleting_a_provisioned_concurrency_config_that_is_not_there_is_idempotent(raw_client, existing: str) -> None:
    response = raw_client.delete_provisioned_concurrency_config(FunctionName=existing, Qualifier="1")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204


# ---- and the server is fine --------------------------------------------------------------------------------

def test_the_server_still_answers_and_gave_no_500(server: EmberServer, raw_client, log_start: int) -> None:
    health = raw(server, "GET", "/_ember/health")
    assert health.status == 200
    assert json.loads(health.data)["status"] == "ready"
    assert raw_client.list_functions(MaxItems=1)["ResponseMetadata"]["HTTPStatusCode"] == 200

    since = server.log()[log_start:]
    answers = list(ACCESS_LINE.finditer(since))
    assert len(answers) > 50, "the access log shows this module's requests"
    server_errors = [m.group(0) for m in answers if m["status"].startswith("5")]
    assert server_errors == []
    assert "unexpected error handling" not in since


def test_the_data_dir_holds_no_leftover_staging(server: EmberServer) -> None:
    unpacked = Path(server.data_dir) / "unpacked"
    assert [p.name for p in unpacked.iterdir() if p.name.startswith(".unpacking-")] == []
