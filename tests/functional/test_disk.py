"""Ember's data disk: packages unpacked quickly and safely, space given back when code is no longer
used, and a full disk answered with AWS-shaped errors rather than a broken server."""

from __future__ import annotations

import concurrent.futures
import errno
import hashlib
import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
import urllib3
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, make_zip, unique_name

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


def test_a_100k_file_package_is_created_and_runs(server: EmberServer) -> None:
    """How long it takes (about 10 s here, inside the SDK's 60 s read timeout) is bench/many_files.py's
    to measure: on a busy machine a timed assertion would fail for the machine's sake."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.py", "from pkg.d99 import f99999\n"
                                     "def handler(event, context):\n    return f99999.VALUE\n")
        for number in range(100_000):
            archive.writestr(f"pkg/d{number // 1000}/f{number}.py", f"VALUE = {number}\n")
    client = boto3.client("lambda", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test",
                          config=Config(retries={"total_max_attempts": 1}, read_timeout=600))
    name = unique_name("many-files")

    client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": buffer.getvalue()})
    try:
        assert client.invoke(FunctionName=name)["Payload"].read() == b"99999"
    finally:
        client.delete_function(FunctionName=name)


# ---- code nothing uses is deleted -------------------------------------------------------------------------

def stored_zips(data_dir: Path) -> set[str]:
    code = data_dir / "code"
    return {p.name for p in code.glob("*/*") if not p.name.startswith(".")} if code.is_dir() else set()


def unpacked_trees(data_dir: Path) -> set[str]:
    unpacked = data_dir / "unpacked"
    return {p.name for p in unpacked.iterdir() if not p.name.startswith(".")} if unpacked.is_dir() else set()


def wait_until(check: Callable[[], bool], timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def package(marker: str) -> bytes:
    return make_zip({"index.py": f"# {marker}\n" + HANDLER})


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_delete_function_deletes_its_zip_and_tree_but_not_code_others_use(start_server) -> None:
    ember = start_server()
    client = ember.lambda_client()
    own, shared = package("own"), package("shared")
    for name, data in (("a", own), ("b", shared), ("c", shared)):
        client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                               Code={"ZipFile": data})
    client.invoke(FunctionName="a")  # a warm environment reading the tree, retired by the delete
    assert {sha256_hex(own), sha256_hex(shared)} <= stored_zips(ember.data_dir)

    client.delete_function(FunctionName="a")
    client.delete_function(FunctionName="b")

    assert wait_until(lambda: sha256_hex(own) not in stored_zips(ember.data_dir)
                      and sha256_hex(own) not in unpacked_trees(ember.data_dir))
    assert sha256_hex(shared) in stored_zips(ember.data_dir)  # c still uses it
    assert json.loads(client.invoke(FunctionName="c")["Payload"].read()) == {"ok": True}


def test_replaced_code_is_deleted_unless_a_version_keeps_it(start_server) -> None:
    ember = start_server()
    client = ember.lambda_client()
    first, second, third = package("1"), package("2"), package("3")
    client.create_function(FunctionName="f", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": first}, Publish=True)  # version 1 keeps the first zip
    client.update_function_code(FunctionName="f", ZipFile=second)
    client.update_function_code(FunctionName="f", ZipFile=third)

    assert wait_until(lambda: sha256_hex(second) not in stored_zips(ember.data_dir)
                      and sha256_hex(second) not in unpacked_trees(ember.data_dir))
    assert {sha256_hex(first), sha256_hex(third)} <= stored_zips(ember.data_dir)
    assert json.loads(client.invoke(FunctionName="f", Qualifier="1")["Payload"].read()) == {"ok": True}

    client.delete_function(FunctionName="f", Qualifier="1")
    assert wait_until(lambda: sha256_hex(first) not in stored_zips(ember.data_dir))


def test_a_dry_run_and_a_refused_package_leave_no_zip_behind(start_server) -> None:
    ember = start_server()
    client = ember.lambda_client()
    kept, dry = package("kept"), package("dry")
    client.create_function(FunctionName="f", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": kept})
    client.update_function_code(FunctionName="f", ZipFile=dry, DryRun=True)
    # Refused after storing: the zip's text passes, but a layer it names does not exist.
    refused = package("refused")
    code, status, _ = error_of(client.create_function, FunctionName="g", Runtime=DEFAULT_RUNTIME, Role=ROLE,
                               Handler="index.handler", Code={"ZipFile": refused},
                               Layers=["arn:aws:lambda:us-east-1:000000000000:layer:none:1"])
    assert (code, status) == ("InvalidParameterValueException", 400)

    assert wait_until(lambda: stored_zips(ember.data_dir) == {sha256_hex(kept)}
                      and unpacked_trees(ember.data_dir) == {sha256_hex(kept)})


def test_a_deleted_layer_version_is_kept_while_a_function_uses_it(start_server) -> None:
    ember = start_server()
    client = ember.lambda_client()
    layer_zip = make_zip({"python/shared_value.py": "VALUE = 'from the layer'\n"})
    arn = client.publish_layer_version(LayerName="lib", Content={"ZipFile": layer_zip})["LayerVersionArn"]
    client.create_function(FunctionName="f", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": make_zip({"index.py": "import shared_value\n"
                                                      "def handler(event, context):\n"
                                                      "    return shared_value.VALUE\n"})}, Layers=[arn])
    assert json.loads(client.invoke(FunctionName="f")["Payload"].read()) == "from the layer"
    client.delete_layer_version(LayerName="lib", VersionNumber=1)
    time.sleep(1)  # a collection pass would have run by now
    assert sha256_hex(layer_zip) in stored_zips(ember.data_dir)

    client.delete_function(FunctionName="f")

    assert wait_until(lambda: sha256_hex(layer_zip) not in stored_zips(ember.data_dir)
                      and unpacked_trees(ember.data_dir) == set())  # the layer's tree and its merge too


def test_a_running_invocation_keeps_its_tree_until_it_ends(start_server, tmp_path: Path) -> None:
    ember = start_server()
    client = ember.lambda_client()
    code = make_zip({"index.py": "import time\n"
                                 "def handler(event, context):\n"
                                 "    time.sleep(3)\n"
                                 "    return open('late.txt').read()\n",
                     "late.txt": "read after the delete"})
    client.create_function(FunctionName="slow", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": code}, Timeout=60)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(lambda: client.invoke(FunctionName="slow")["Payload"].read())
        assert wait_until(lambda: health(ember)["environments"] == 1)
        client.delete_function(FunctionName="slow")
        assert json.loads(running.result(timeout=60)) == "read after the delete"

    # Collected once its environment retired: at the next retry, or at the next start.
    ember.stop()
    ember = start_server(data_dir=ember.data_dir)
    assert stored_zips(ember.data_dir) == set() and unpacked_trees(ember.data_dir) == set()


def test_leftovers_of_a_crash_are_collected_at_the_next_start(start_server) -> None:
    ember = start_server()
    client = ember.lambda_client()
    kept = package("kept")
    client.create_function(FunctionName="f", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": kept})
    ember.stop()
    orphan = "ab" + "0" * 62  # a zip no record uses, as a kill -9 between storing and committing leaves
    (ember.data_dir / "code" / "ab").mkdir(exist_ok=True)
    (ember.data_dir / "code" / "ab" / orphan).write_bytes(b"zip")
    (ember.data_dir / "code" / "ab" / ".incoming-x").write_bytes(b"half a zip")
    (ember.data_dir / "unpacked" / orphan).mkdir()
    (ember.data_dir / "unpacked" / ".unpacking-x").mkdir()

    ember = start_server(data_dir=ember.data_dir)

    assert stored_zips(ember.data_dir) == {sha256_hex(kept)}
    assert unpacked_trees(ember.data_dir) == {sha256_hex(kept)}
    assert staging_leftovers(ember.data_dir) == []
    assert not (ember.data_dir / "code" / "ab" / ".incoming-x").exists()
    assert json.loads(ember.lambda_client().invoke(FunctionName="f")["Payload"].read()) == {"ok": True}


def test_code_missing_from_the_unpacked_folder_is_unpacked_again_from_the_stored_zip(start_server) -> None:
    ember = start_server()
    client = ember.lambda_client()
    layer = client.publish_layer_version(
        LayerName="lib", Content={"ZipFile": make_zip({"python/shared_lib.py": "VALUE = 'from the layer'\n"})})
    code = make_zip({"index.py": "import os, shared_lib\n"
                                 "def handler(event, context):\n"
                                 "    return [shared_lib.VALUE, os.environ.get('ROUND')]\n"})
    client.create_function(FunctionName="f", Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": code}, Layers=[layer["LayerVersionArn"]])

    def invoke() -> list:
        return json.loads(client.invoke(FunctionName="f")["Payload"].read())

    assert invoke() == ["from the layer", None]

    # With the server stopped (or a worker that never had it): every tree, the merged /opt too.
    ember.stop()
    shutil.rmtree(ember.data_dir / "unpacked")
    ember = start_server(data_dir=ember.data_dir)
    client = ember.lambda_client()
    assert invoke() == ["from the layer", None]
    assert sha256_hex(code) in unpacked_trees(ember.data_dir)

    # While the server runs and no environment reads it (a configuration change retired them).
    client.update_function_configuration(FunctionName="f", Environment={"Variables": {"ROUND": "2"}})
    client.get_waiter("function_updated_v2").wait(FunctionName="f")
    assert wait_until(lambda: health(ember)["environments"] == 0)
    shutil.rmtree(ember.data_dir / "unpacked" / sha256_hex(code))
    assert invoke() == ["from the layer", "2"]


def health(ember: EmberServer) -> dict:
    return json.loads(urllib3.request("GET", f"{ember.url}/_ember/health").data)


# ---- a small or full data disk ----------------------------------------------------------------------------

SMALL_DISK_MB = 96


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A SMALL_DISK_MB ext4 file system, loop-mounted (as root) as a data dir; unmounted after. The
    server's own log goes beside it (EmberServer writes it to the data dir's parent), on the big disk."""
    if os.geteuid() != 0 or not shutil.which("mkfs.ext4") or not shutil.which("mount"):
        pytest.skip("needs root, mkfs.ext4 and mount for a loop-mounted file system")
    image, mount_point = tmp_path / "disk.img", tmp_path / "data"
    with open(image, "wb") as handle:
        handle.truncate(SMALL_DISK_MB * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True, capture_output=True, timeout=60)
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-o", "loop", str(image), str(mount_point)], capture_output=True,
                             timeout=60)
    if mounted.returncode != 0:
        pytest.skip(f"cannot loop-mount here: {mounted.stderr.decode(errors='replace')}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True, timeout=60)


def fill(folder: Path) -> Path:
    """Write a file in `folder` until its file system has no block left."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 512):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        os.fsync(fd)
    finally:
        os.close(fd)
    return filler


def create(client, name: str, data: bytes) -> dict:
    return client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                                  Code={"ZipFile": data})


def test_a_full_disk_refuses_new_code_keeps_deletes_and_logs_and_says_degraded(small_disk: Path,
                                                                              start_server) -> None:
    ember = start_server("--sandbox", "plain", data_dir=small_disk)  # plain: no /tmp images
    client = ember.lambda_client()
    create(client, "doomed", package("doomed"))
    create(client, "kept", make_zip({"index.py": "def handler(event, context):\n"
                                                 "    print(event['line'])\n"
                                                 "    return 1\n"}))
    client.invoke(FunctionName="kept", Payload=b'{"line": "warming up"}')  # an environment ready to run
    assert health(ember)["status"] == "ready"

    filler = fill(small_disk)

    document = health(ember)
    assert document["status"] == "degraded"
    assert document["reason"].startswith("Ember's data disk is full")
    code, status, message = error_of(create, client=client, name="new", data=package("new"))
    assert (code, status) == ("ServiceException", 500)
    assert message.startswith("Ember's data disk is full") and "Delete unused functions" in message
    # A warm environment runs (its log cannot be written yet); a new one cannot start.
    assert client.invoke(FunctionName="kept", Payload=b'{"line": "logged while the disk was full"}'
                         )["Payload"].read() == b"1"
    code, status, message = error_of(client.invoke, FunctionName="doomed")
    assert (code, status) == ("ServiceException", 500)
    assert message.startswith("Ember's data disk is full")
    client.delete_function(FunctionName="doomed")  # deleting is how space is freed: it must work
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function(FunctionName="doomed")

    filler.unlink()

    assert wait_until(lambda: health(ember)["status"] == "ready")
    create(client, "new", package("new"))
    logs = ember.client("logs")
    assert wait_until(lambda: any("logged while the disk was full" in event["message"] for event in
                                  logs.filter_log_events(logGroupName="/aws/lambda/kept")["events"]))
    assert sha256_hex(package("doomed")) not in stored_zips(ember.data_dir)


def test_an_environment_the_disk_cannot_hold_is_refused_with_a_service_exception(small_disk: Path,
                                                                               start_server) -> None:
    ember = start_server(data_dir=small_disk)
    if health(ember)["sandbox"]["level"] != "isolated":
        pytest.skip("only the isolated level gives each environment a /tmp image on the data disk")
    client = ember.lambda_client()
    create(client, "f", package("tmp"))  # EphemeralStorage 512 MB: more than the whole disk

    code, status, message = error_of(client.invoke, FunctionName="f")

    assert (code, status) == ("ServiceException", 500)
    assert message.startswith("Ember's data disk is full")
    assert "no room for the 512 MB /tmp (EphemeralStorage)" in message
    assert health(ember)["status"] in ("ready", "degraded")  # and the server still answers
    client.delete_function(FunctionName="f")
