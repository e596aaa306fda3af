"""Layers through boto3 and the aws CLI: publishing, reading, listing, deleting, permissions, and functions
that run with their layers merged under /opt.

Exact messages are the ones AWS answers (as recorded in LocalStack's AWS-validated snapshots and provider).
"""

from __future__ import annotations

import base64
import ctypes
import glob
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import urllib3
from botocore.exceptions import ClientError

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, invoke_json, make_zip, unique_name

ACCOUNT = "000000000000"
REGION = "us-east-1"
LAYER_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:"
STALE_LAYER_REVISION = ("The Revision Id provided does not match the latest Revision Id. "
                        "Call the GetLayerPolicy API to retrieve the latest Revision Id")
MAX_UNZIPPED_BYTES = 262_144_000
MIB = 1024 * 1024


def layer_zip(files: dict[str, str | bytes], executables: tuple[str, ...] = ()) -> bytes:
    """A layer package; `executables` get mode 0755, the rest 0644."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in executables else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def code_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def without_metadata(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def described(layer_version: dict) -> dict:
    """A layer version as answered, less what differs per call on AWS (the presigned Location)."""
    content = {key: value for key, value in layer_version["Content"].items() if key != "Location"}
    return {**without_metadata(layer_version), "Content": content}


def run(client, function_name: str, **kwargs: object) -> dict:
    response, result = invoke_json(client, function_name, **kwargs)
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response, result
    return result


@pytest.fixture
def publish(lambda_client) -> Callable[..., dict]:
    def publish_layer(name: str, files: dict[str, str | bytes] | None = None, *, data: bytes | None = None,
                      **settings: object) -> dict:
        content = data if data is not None else layer_zip(files or {"python/placeholder.py": "X = 1\n"})
        return lambda_client.publish_layer_version(LayerName=name, Content={"ZipFile": content}, **settings)

    return publish_layer


# ---- PublishLayerVersion, GetLayerVersion, GetLayerVersionByArn ---------------------------------------------

def test_publish_layer_version_answers_as_aws_does(lambda_client, publish) -> None:
    name = unique_name("layer")
    data = layer_zip({"python/helper.py": "HELP = 'yes'\n", "bin/tool": "#!/bin/sh\necho hi\n"}, ("bin/tool",))

    published = publish(name, data=data, Description="helpers", CompatibleRuntimes=[DEFAULT_RUNTIME],
                        CompatibleArchitectures=["x86_64"], LicenseInfo="MIT")

    assert published["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert published["LayerArn"] == LAYER_PREFIX + name
    assert published["LayerVersionArn"] == f"{LAYER_PREFIX}{name}:1"
    assert published["Version"] == 1
    assert (published["Description"], published["LicenseInfo"]) == ("helpers", "MIT")
    assert published["CompatibleRuntimes"] == [DEFAULT_RUNTIME]
    assert published["CompatibleArchitectures"] == ["x86_64"]
    assert published["Content"]["CodeSha256"] == code_sha256(data)
    assert published["Content"]["CodeSize"] == len(data)
    download = urllib3.request("GET", published["Content"]["Location"], timeout=30)
    assert (download.status, download.data) == (200, data)

    by_name = lambda_client.get_layer_version(LayerName=name, VersionNumber=1)
    by_layer_arn = lambda_client.get_layer_version(LayerName=LAYER_PREFIX + name, VersionNumber=1)
    by_arn = lambda_client.get_layer_version_by_arn(Arn=f"{LAYER_PREFIX}{name}:1")
    assert by_name["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert described(by_name) == described(by_layer_arn) == described(by_arn) == described(published)
    download = urllib3.request("GET", by_arn["Content"]["Location"], timeout=30)
    assert (download.status, download.data) == (200, data)

    second = publish(name, {"python/helper.py": "HELP = 'more'\n"})
    assert (second["Version"], second["LayerVersionArn"]) == (2, f"{LAYER_PREFIX}{name}:2")
    assert second["Content"]["CodeSha256"] != published["Content"]["CodeSha256"]
    assert lambda_client.get_layer_version(LayerName=name, VersionNumber=1)["Content"]["CodeSha256"] \
        == code_sha256(data)  # version 1 is untouched

    for call in (lambda: lambda_client.get_layer_version(LayerName=name, VersionNumber=3),
                 lambda: lambda_client.get_layer_version_by_arn(Arn=f"{LAYER_PREFIX}{name}:3"),
                 lambda: lambda_client.get_layer_version(LayerName=unique_name("nolayer"), VersionNumber=1)):
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught) == ("ResourceNotFoundException", 404, "The resource you requested does not exist.")


def test_the_aws_cli_publishes_and_reads_layers(server: EmberServer, tmp_path: Path) -> None:
    name = unique_name("layer-cli")
    data = layer_zip({"python/cli_helper.py": "FROM = 'cli'\n"})
    (tmp_path / "layer.zip").write_bytes(data)

    published = json.loads(server.aws("lambda", "publish-layer-version", "--layer-name", name, "--zip-file",
                                      "fileb://layer.zip", "--compatible-runtimes", DEFAULT_RUNTIME,
                                      cwd=tmp_path).stdout)

    assert (published["Version"], published["LayerVersionArn"]) == (1, f"{LAYER_PREFIX}{name}:1")
    assert published["Content"]["CodeSha256"] == code_sha256(data)
    fetched = json.loads(server.aws("lambda", "get-layer-version-by-arn", "--arn",
                                    published["LayerVersionArn"]).stdout)
    assert described(fetched) == described(published)
    listed = json.loads(server.aws("lambda", "list-layer-versions", "--layer-name", name).stdout)
    assert [v["LayerVersionArn"] for v in listed["LayerVersions"]] == [published["LayerVersionArn"]]
    missing = server.aws("lambda", "get-layer-version", "--layer-name", name, "--version-number", "2", check=False)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr


def test_publish_layer_version_takes_a_multi_megabyte_zip(lambda_client, publish) -> None:
    # Lambda takes layer zips up to 50 MB inline, as it does function code: not only under 1 MB.
    name = unique_name("layer-big")
    data = layer_zip({"python/blob.bin": os.urandom(3 * MIB)})

    published = publish(name, data=data)

    assert published["Version"] == 1
    assert published["Content"]["CodeSize"] == len(data)
    assert published["Content"]["CodeSha256"] == code_sha256(data)


# ---- ListLayerVersions, ListLayers, DeleteLayerVersion ------------------------------------------------------

def test_list_layer_versions_newest_first_and_filtered(lambda_client, publish) -> None:
    name = unique_name("layer-list")
    publish(name, CompatibleRuntimes=[DEFAULT_RUNTIME])
    publish(name, CompatibleRuntimes=["python3.12", "python3.13"], Description="second")
    publish(name)

    listed = lambda_client.list_layer_versions(LayerName=name)["LayerVersions"]

    assert [v["Version"] for v in listed] == [3, 2, 1]
    assert [v["LayerVersionArn"] for v in listed] == [f"{LAYER_PREFIX}{name}:{n}" for n in (3, 2, 1)]
    assert listed[1]["Description"] == "second"
    assert listed[1]["CompatibleRuntimes"] == ["python3.12", "python3.13"]
    assert all("Content" not in v for v in listed)  # the list items carry no Content
    assert [v["Version"] for v in lambda_client.list_layer_versions(
        LayerName=name, CompatibleRuntime=DEFAULT_RUNTIME)["LayerVersions"]] == [1]
    assert [v["Version"] for v in lambda_client.list_layer_versions(
        LayerName=name, CompatibleRuntime="python3.13")["LayerVersions"]] == [2]
    assert lambda_client.list_layer_versions(LayerName=name, CompatibleRuntime="python3.9")["LayerVersions"] == []
    assert lambda_client.list_layer_versions(LayerName=LAYER_PREFIX + name)["LayerVersions"] == listed

    first = lambda_client.list_layer_versions(LayerName=name, MaxItems=2)
    assert [v["Version"] for v in first["LayerVersions"]] == [3, 2]
    rest = lambda_client.list_layer_versions(LayerName=name, MaxItems=2, Marker=first["NextMarker"])
    assert [v["Version"] for v in rest["LayerVersions"]] == [1]
    assert "NextMarker" not in rest
    assert lambda_client.list_layer_versions(LayerName=unique_name("nolayer"))["LayerVersions"] == []


def test_list_layers_shows_the_latest_matching_version(lambda_client, publish) -> None:
    name = unique_name("layer-latest")
    publish(name, CompatibleRuntimes=[DEFAULT_RUNTIME])
    publish(name, CompatibleRuntimes=["python3.12"])
    publish(name, Description="newest")

    def latest(**filters: object) -> dict | None:
        pages = lambda_client.get_paginator("list_layers").paginate(**filters)
        found = [layer for page in pages for layer in page["Layers"] if layer["LayerName"] == name]
        assert len(found) <= 1
        return found[0] if found else None

    everything = latest()
    assert everything is not None
    assert everything["LayerArn"] == LAYER_PREFIX + name
    assert everything["LatestMatchingVersion"]["Version"] == 3
    assert everything["LatestMatchingVersion"]["LayerVersionArn"] == f"{LAYER_PREFIX}{name}:3"
    assert everything["LatestMatchingVersion"]["Description"] == "newest"
    assert latest(CompatibleRuntime="python3.12")["LatestMatchingVersion"]["Version"] == 2
    assert latest(CompatibleRuntime=DEFAULT_RUNTIME)["LatestMatchingVersion"]["Version"] == 1
    assert latest(CompatibleRuntime="python3.9") is None

    lambda_client.delete_layer_version(LayerName=name, VersionNumber=3)
    assert latest()["LatestMatchingVersion"]["Version"] == 2


def test_delete_layer_version_keeps_numbers_unused(lambda_client, publish) -> None:
    name = unique_name("layer-delete")
    publish(name)
    publish(name)

    deleted = lambda_client.delete_layer_version(LayerName=name, VersionNumber=2)

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        lambda_client.get_layer_version(LayerName=name, VersionNumber=2)
    assert error_of(caught) == ("ResourceNotFoundException", 404, "The resource you requested does not exist.")
    again = lambda_client.delete_layer_version(LayerName=name, VersionNumber=2)  # already gone: still 204
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert [v["Version"] for v in lambda_client.list_layer_versions(LayerName=name)["LayerVersions"]] == [1]

    third = publish(name)
    assert (third["Version"], third["LayerVersionArn"]) == (3, f"{LAYER_PREFIX}{name}:3")
    assert [v["Version"] for v in lambda_client.list_layer_versions(LayerName=name)["LayerVersions"]] == [3, 1]


# ---- layer version permissions ------------------------------------------------------------------------------

def test_layer_version_permissions(lambda_client, publish) -> None:
    name = unique_name("layer-perm")
    publish(name)
    publish(name)
    arn = f"{LAYER_PREFIX}{name}:1"

    with pytest.raises(ClientError) as caught:
        lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert error_of(caught) == ("ResourceNotFoundException", 404, "No policy is associated with the given resource.")

    public = lambda_client.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="public",
                                                        Action="lambda:GetLayerVersion", Principal="*")
    assert public["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(public["Statement"]) == {"Sid": "public", "Effect": "Allow", "Principal": "*",
                                               "Action": "lambda:GetLayerVersion", "Resource": arn}
    with pytest.raises(ClientError) as caught:
        lambda_client.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="account",
                                                   Action="lambda:GetLayerVersion", Principal="210987654321",
                                                   RevisionId="00000000-0000-0000-0000-000000000000")
    assert error_of(caught) == ("PreconditionFailedException", 412, STALE_LAYER_REVISION)
    account = lambda_client.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="account",
                                                         Action="lambda:GetLayerVersion", Principal="210987654321",
                                                         RevisionId=public["RevisionId"])
    assert json.loads(account["Statement"])["Principal"] == {"AWS": "arn:aws:iam::210987654321:root"}
    assert account["RevisionId"] != public["RevisionId"]
    with pytest.raises(ClientError) as caught:
        lambda_client.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="public",
                                                   Action="lambda:GetLayerVersion", Principal="*")
    assert error_of(caught)[:2] == ("ResourceConflictException", 409)

    policy = lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=1)
    assert policy["RevisionId"] == account["RevisionId"]
    statements = json.loads(policy["Policy"])["Statement"]
    assert [(s["Sid"], s["Principal"], s["Resource"]) for s in statements] == [
        ("public", "*", arn), ("account", {"AWS": "arn:aws:iam::210987654321:root"}, arn)]
    with pytest.raises(ClientError) as caught:  # version 2 has a policy of its own: none
        lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=2)
    assert error_of(caught)[:2] == ("ResourceNotFoundException", 404)

    with pytest.raises(ClientError) as caught:
        lambda_client.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="public",
                                                      RevisionId=public["RevisionId"])
    assert error_of(caught) == ("PreconditionFailedException", 412, STALE_LAYER_REVISION)
    removed = lambda_client.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="public",
                                                            RevisionId=account["RevisionId"])
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    remaining = json.loads(lambda_client.get_layer_version_policy(LayerName=name, VersionNumber=1)["Policy"])
    assert [s["Sid"] for s in remaining["Statement"]] == ["account"]
    with pytest.raises(ClientError) as caught:
        lambda_client.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="public")
    assert error_of(caught) == ("ResourceNotFoundException", 404, "Statement public is not found in resource policy.")

    with pytest.raises(ClientError) as caught:
        lambda_client.add_layer_version_permission(LayerName=name, VersionNumber=9, StatementId="x",
                                                   Action="lambda:GetLayerVersion", Principal="*")
    assert error_of(caught) == ("ResourceNotFoundException", 404,
                                f"Layer version {LAYER_PREFIX}{name}:9 does not exist.")


# ---- functions with layers ----------------------------------------------------------------------------------

SITE_PACKAGES = f"python/lib/{DEFAULT_RUNTIME}/site-packages"

LAYERED = '''
import os
import subprocess


def handler(event, context):
    import shared
    import only_in_a
    import site_b
    tool = subprocess.run(["ember-layer-tool"], capture_output=True, text=True, timeout=10)
    return {
        "shared": shared.ORIGIN,
        "shared_file": shared.__file__,
        "only_in_a": only_in_a.VALUE,
        "site_b": site_b.VALUE,
        "site_b_file": site_b.__file__,
        "tool": tool.stdout.strip(),
        "tool_rc": tool.returncode,
        "path": os.environ["PATH"].split(":"),
        "ld_library_path": os.environ["LD_LIBRARY_PATH"].split(":"),
        "opt": sorted(os.listdir("/opt")),
        "opt_python": sorted(os.listdir("/opt/python")),
    }
'''

LAYER_A = {
    "python/shared.py": "ORIGIN = 'a'\n",
    "python/only_in_a.py": "VALUE = 'from a'\n",
    "bin/ember-layer-tool": "#!/bin/sh\necho \"tool of layer a at $0\"\n",
}
LAYER_B = {
    "python/shared.py": "ORIGIN = 'b'\n",
    f"{SITE_PACKAGES}/site_b.py": "VALUE = 'site-packages of b'\n",
    "bin/ember-layer-tool": "#!/bin/sh\necho \"tool of layer b at $0\"\n",
    "lib/.keep": "",
}


def test_a_function_sees_its_layers_merged_under_opt(lambda_client, make_function, publish) -> None:
    layer_a = publish(unique_name("layer-a"), data=layer_zip(LAYER_A, ("bin/ember-layer-tool",)))
    layer_b = publish(unique_name("layer-b"), data=layer_zip(LAYER_B, ("bin/ember-layer-tool",)))
    arns = [layer_a["LayerVersionArn"], layer_b["LayerVersionArn"]]

    name = make_function(LAYERED, Layers=arns)

    configuration = lambda_client.get_function_configuration(FunctionName=name)
    assert configuration["Layers"] == [{"Arn": layer_a["LayerVersionArn"], "CodeSize": layer_a["Content"]["CodeSize"]},
                                       {"Arn": layer_b["LayerVersionArn"], "CodeSize": layer_b["Content"]["CodeSize"]}]
    result = run(lambda_client, name)
    assert result["shared"] == "b"  # in both layers: the later one wins
    assert result["shared_file"] == "/opt/python/shared.py"
    assert result["only_in_a"] == "from a"  # folders merge: a's other files stay
    assert result["site_b"] == "site-packages of b"
    assert result["site_b_file"] == f"/opt/{SITE_PACKAGES}/site_b.py"
    assert (result["tool_rc"], result["tool"]) == (0, "tool of layer b at /opt/bin/ember-layer-tool")
    assert "/opt/bin" in result["path"]
    assert "/opt/lib" in result["ld_library_path"]
    assert result["opt"] == ["bin", "lib", "python"]
    assert result["opt_python"] == ["lib", "only_in_a.py", "shared.py"]


def _host_libz() -> bytes | None:
    for pattern in ("/lib/x86_64-linux-gnu/libz.so.1*", "/usr/lib/x86_64-linux-gnu/libz.so.1*",
                    "/lib/aarch64-linux-gnu/libz.so.1*", "/usr/lib/aarch64-linux-gnu/libz.so.1*",
                    "/usr/lib64/libz.so.1*", "/lib64/libz.so.1*", "/usr/lib/libz.so.1*"):
        for path in sorted(glob.glob(pattern)):
            if os.path.isfile(path) and not os.path.islink(path):
                return Path(path).read_bytes()
    return None


LOADS_A_LIBRARY = '''
import ctypes


def handler(event, context):
    library = ctypes.CDLL("libemberprobe.so")  # found only through LD_LIBRARY_PATH
    library.zlibVersion.restype = ctypes.c_char_p
    return {"zlib_version": library.zlibVersion().decode()}
'''


def test_a_shared_library_in_a_layer_loads_from_opt_lib(lambda_client, make_function, publish,
                                                        tmp_path: Path) -> None:
    library = _host_libz()
    if library is None:
        pytest.skip("no libz.so.1 on this host to put in a layer")
    (tmp_path / "libemberprobe.so").write_bytes(library)
    probe = ctypes.CDLL(str(tmp_path / "libemberprobe.so"))
    probe.zlibVersion.restype = ctypes.c_char_p
    layer = publish(unique_name("layer-lib"), {"lib/libemberprobe.so": library})

    name = make_function(LOADS_A_LIBRARY, Layers=[layer["LayerVersionArn"]])

    assert run(lambda_client, name) == {"zlib_version": probe.zlibVersion().decode()}
    lambda_client.update_function_configuration(FunctionName=name, Layers=[])
    response, error = invoke_json(lambda_client, name)
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "OSError"
    assert "libemberprobe.so" in error["errorMessage"]


SHOWS_SHARED = '''
def handler(event, context):
    try:
        import shared
    except ImportError:
        return {"shared": None}
    return {"shared": shared.ORIGIN}
'''


def test_update_function_configuration_changes_layers_on_the_next_invoke(lambda_client, make_function,
                                                                        publish) -> None:
    a = publish(unique_name("layer-a"), {"python/shared.py": "ORIGIN = 'a'\n"})["LayerVersionArn"]
    b = publish(unique_name("layer-b"), {"python/shared.py": "ORIGIN = 'b'\n"})["LayerVersionArn"]
    name = make_function(SHOWS_SHARED, Layers=[a, b])
    assert run(lambda_client, name) == {"shared": "b"}
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "1"

    updated = lambda_client.update_function_configuration(FunctionName=name, Layers=[b, a])

    assert [layer["Arn"] for layer in updated["Layers"]] == [b, a]
    assert run(lambda_client, name) == {"shared": "a"}
    assert run(lambda_client, name, Qualifier="1") == {"shared": "b"}  # the version keeps its layers
    assert [layer["Arn"] for layer in lambda_client.get_function_configuration(
        FunctionName=name, Qualifier="1")["Layers"]] == [a, b]

    cleared = lambda_client.update_function_configuration(FunctionName=name, Layers=[])
    assert "Layers" not in cleared
    assert run(lambda_client, name) == {"shared": None}
    assert "Layers" not in lambda_client.get_function_configuration(FunctionName=name)
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"  # layers are part of a version


def test_layers_a_function_names_are_checked(lambda_client, make_function, publish) -> None:
    layer = publish(unique_name("layer-check"))
    arn = layer["LayerVersionArn"]
    missing = f"{layer['LayerArn']}:7"
    name = make_function(SHOWS_SHARED, Layers=[arn])

    with pytest.raises(ClientError) as caught:
        make_function(SHOWS_SHARED, Layers=[missing])
    assert error_of(caught) == ("InvalidParameterValueException", 400, f"Layer version {missing} does not exist.")
    with pytest.raises(ClientError) as caught:
        lambda_client.update_function_configuration(FunctionName=name, Layers=[arn, missing])
    assert error_of(caught) == ("InvalidParameterValueException", 400, f"Layer version {missing} does not exist.")

    others = [publish(unique_name("layer-many"))["LayerVersionArn"] for _ in range(5)]
    with pytest.raises(ClientError) as caught:
        make_function(SHOWS_SHARED, Layers=[arn, *others])
    assert error_of(caught) == ("InvalidParameterValueException", 400, "Cannot reference more than 5 layers.")
    with pytest.raises(ClientError) as caught:
        lambda_client.update_function_configuration(FunctionName=name, Layers=[arn, *others])
    assert error_of(caught) == ("InvalidParameterValueException", 400, "Cannot reference more than 5 layers.")

    assert [entry["Arn"] for entry in lambda_client.get_function_configuration(FunctionName=name)["Layers"]] \
        == [arn]
    five = lambda_client.update_function_configuration(FunctionName=name, Layers=others)
    assert [entry["Arn"] for entry in five["Layers"]] == others


USES_A_DELETED_LAYER = '''
import os
import uuid

ENVIRONMENT_ID = uuid.uuid4().hex


def handler(event, context):
    import kept
    return {"kept": kept.VALUE, "stage": os.environ.get("STAGE"), "environment_id": ENVIRONMENT_ID}
'''


def test_deleting_a_layer_version_does_not_break_functions_using_it(lambda_client, make_function,
                                                                    publish) -> None:
    layer = publish(unique_name("layer-gone"), {"python/kept.py": "VALUE = 'still here'\n"})
    arn = layer["LayerVersionArn"]
    name = make_function(USES_A_DELETED_LAYER, Layers=[arn], Environment={"Variables": {"STAGE": "one"}})
    before = run(lambda_client, name)
    assert (before["kept"], before["stage"]) == ("still here", "one")

    lambda_client.delete_layer_version(LayerName=layer["LayerArn"], VersionNumber=1)

    with pytest.raises(ClientError) as caught:
        lambda_client.get_layer_version(LayerName=layer["LayerArn"], VersionNumber=1)
    assert error_of(caught)[:2] == ("ResourceNotFoundException", 404)
    assert run(lambda_client, name)["kept"] == "still here"
    # A change to something else starts a new environment, which still gets the deleted layer.
    updated = lambda_client.update_function_configuration(FunctionName=name,
                                                          Environment={"Variables": {"STAGE": "two"}})
    assert [entry["Arn"] for entry in updated["Layers"]] == [arn]
    after = run(lambda_client, name)
    assert (after["kept"], after["stage"]) == ("still here", "two")
    assert after["environment_id"] != before["environment_id"]
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "1"
    assert run(lambda_client, name, Qualifier="1")["kept"] == "still here"

    # ...but a deleted version cannot be added anew.
    with pytest.raises(ClientError) as caught:
        lambda_client.update_function_configuration(FunctionName=name, Layers=[arn])
    assert error_of(caught) == ("InvalidParameterValueException", 400, f"Layer version {arn} does not exist.")
    with pytest.raises(ClientError) as caught:
        make_function(USES_A_DELETED_LAYER, Layers=[arn])
    assert error_of(caught)[:2] == ("InvalidParameterValueException", 400)


def _zeros_zip(path: Path, entry: str, size: int) -> bytes:
    """A zip holding `size` zero bytes as `entry`, written as a stream (never `size` bytes in memory)."""
    chunk = bytes(MIB)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(entry, "w") as stream:
            for _ in range(size // MIB):
                stream.write(chunk)
    return path.read_bytes()


READS_THE_BIG_FILE = '''
import os


def handler(event, context):
    return {"size": os.path.getsize("/opt/zeros/blob.bin")}
'''


def test_a_function_and_its_layers_over_250_mb_unzipped_are_refused(lambda_client, make_function, publish,
                                                                    tmp_path: Path) -> None:
    big = 130 * MIB  # each fits; two do not
    data = _zeros_zip(tmp_path / "zeros.zip", "zeros/blob.bin", big)
    assert len(data) < 1 * MIB
    first = publish(unique_name("layer-zeros"), data=data)["LayerVersionArn"]
    second = publish(unique_name("layer-zeros"), data=data)["LayerVersionArn"]
    code_size = len(READS_THE_BIG_FILE.encode())
    too_big = (f"Function code combined with layers exceeds the maximum allowed size of {MAX_UNZIPPED_BYTES} "
               f"bytes. The actual size is {2 * big + code_size} bytes.")

    name = make_function(READS_THE_BIG_FILE, Layers=[first])
    assert run(lambda_client, name) == {"size": big}

    with pytest.raises(ClientError) as caught:
        lambda_client.update_function_configuration(FunctionName=name, Layers=[first, second])
    assert error_of(caught) == ("InvalidParameterValueException", 400, too_big)
    assert [entry["Arn"] for entry in lambda_client.get_function_configuration(FunctionName=name)["Layers"]] \
        == [first]

    refused_name = unique_name("fn-too-big")
    with pytest.raises(ClientError) as caught:
        lambda_client.create_function(FunctionName=refused_name, Runtime=DEFAULT_RUNTIME, Role=ROLE,
                                      Handler="index.handler", Code={"ZipFile": make_zip(
                                          {"index.py": READS_THE_BIG_FILE})}, Layers=[first, second])
    assert error_of(caught) == ("InvalidParameterValueException", 400, too_big)
    with pytest.raises(ClientError) as caught:
        lambda_client.get_function(FunctionName=refused_name)
    assert error_of(caught)[:2] == ("ResourceNotFoundException", 404)
