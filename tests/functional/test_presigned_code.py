"""GetFunction's Code.Location and GetLayerVersion's Content.Location are presigned URLs, as AWS's are:
they download with any HTTP client and no AWS signing, for as long as the server's code URL lifetime
(EMBER_CODE_URL_TTL_S, 10 minutes by default); a missing, altered or expired signature is refused with
S3's 403 XML error, in both auth modes."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from tests.functional.conftest import (
    DEFAULT_RUNTIME,
    ROLE,
    ROOT_KEY_ID,
    ROOT_SECRET,
    EmberServer,
    execution_role,
    make_zip,
    unique_name,
)

#: short enough to see a URL expire in a test, long enough to use it first
TTL_S = 3


@pytest.fixture(scope="module", params=["open", "iam"])
def ember(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmberServer]:
    server = EmberServer(tmp_path_factory.mktemp(f"presigned-{request.param}") / "data",
                         extra_args=["--auth", request.param, "--sandbox", "plain"],
                         env={"EMBER_CODE_URL_TTL_S": str(TTL_S), "EMBER_ROOT_ACCESS_KEY_ID": ROOT_KEY_ID,
                              "EMBER_ROOT_SECRET_ACCESS_KEY": ROOT_SECRET})
    server.start()
    yield server
    server.shut_down()


def role_of(ember: EmberServer) -> str:
    return execution_role(ember.root_client("iam"))


def lambda_client(ember: EmberServer):
    return ember.root_client("lambda")


@pytest.fixture(scope="module")
def package() -> bytes:
    return make_zip({"index.py": "def handler(event, context):\n    return 'presigned'\n"})


@pytest.fixture(scope="module")
def function_name(ember: EmberServer, package: bytes) -> Iterator[str]:
    name = unique_name("presigned")
    client = lambda_client(ember)
    client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=role_of(ember), Handler="index.handler",
                           Code={"ZipFile": package})
    yield name
    client.delete_function(FunctionName=name)


def location(ember: EmberServer, function_name: str) -> str:
    return lambda_client(ember).get_function(FunctionName=function_name)["Code"]["Location"]


def fetch(url: str) -> tuple[int, bytes, str]:
    """GET with nothing but the standard library: (status, body, content type)."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(), response.headers["content-type"]
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers["content-type"]


def s3_error(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    assert root.tag == "Error"
    return {child.tag: child.text or "" for child in root}


def with_query(url: str, **changes: str | None) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def test_the_location_downloads_with_urllib_alone(ember: EmberServer, function_name: str, package: bytes) -> None:
    url = location(ember, function_name)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert set(query) == {"Expires", "Signature"}
    assert time.time() < int(query["Expires"]) <= time.time() + TTL_S + 1
    status, body, content_type = fetch(url)
    assert (status, content_type) == (200, "application/zip")
    assert body == package


def test_an_altered_signature_digest_or_expiry_is_refused(ember: EmberServer, function_name: str) -> None:
    url = location(ember, function_name)
    signature = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["Signature"]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    digest = urllib.parse.urlsplit(url).path.removeprefix("/_ember/code/").removesuffix(".zip")
    other_digest = url.replace(digest, "0" * 64)
    later = str(int(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["Expires"]) + 86_400)
    for tampered in (with_query(url, Signature=flipped), other_digest, with_query(url, Expires=later)):
        status, body, content_type = fetch(tampered)
        assert (status, content_type) == (403, "application/xml"), tampered
        error = s3_error(body)
        assert error["Code"] == "SignatureDoesNotMatch"
        assert error["Message"].startswith("The request signature we calculated does not match")
    assert fetch(url)[0] == 200  # the genuine one still works


def test_a_location_without_its_signature_is_refused(ember: EmberServer, function_name: str) -> None:
    url = location(ember, function_name)
    for unsigned in (url.split("?")[0], with_query(url, Signature=None), with_query(url, Expires=None)):
        status, body, _ = fetch(unsigned)
        assert status == 403
        assert s3_error(body) == {"Code": "AccessDenied", "Message": "Access Denied"}
    status, body, _ = fetch(with_query(url, Expires="tomorrow"))
    assert status == 403 and s3_error(body)["Code"] == "AccessDenied"


def test_an_expired_location_is_refused(ember: EmberServer, function_name: str) -> None:
    url = location(ember, function_name)
    expires = int(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["Expires"])
    assert fetch(url)[0] == 200
    time.sleep(max(0.0, expires - time.time()) + 0.2)
    status, body, _ = fetch(url)
    assert status == 403
    error = s3_error(body)
    assert (error["Code"], error["Message"]) == ("AccessDenied", "Request has expired")
    assert error["Expires"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))
    assert error["ServerTime"] >= error["Expires"]
    assert fetch(location(ember, function_name))[0] == 200  # a fresh GetFunction gives a fresh URL


def test_a_genuine_url_for_code_that_is_gone_is_not_found(ember: EmberServer, package: bytes) -> None:
    client = lambda_client(ember)
    name = unique_name("gone")
    client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=role_of(ember), Handler="index.handler",
                           Code={"ZipFile": make_zip({"index.py": f"# {name}\n"})})
    url = client.get_function(FunctionName=name)["Code"]["Location"]
    client.delete_function(FunctionName=name)  # its zip is collected: nothing else uses it
    deadline = time.monotonic() + 10
    while (status := fetch(url)[0]) == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status == 404
    assert s3_error(fetch(url)[1])["Code"] == "NoSuchKey"


def test_a_layer_versions_location_is_presigned_too(ember: EmberServer) -> None:
    client = lambda_client(ember)
    content = make_zip({"python/presigned_layer.py": "VALUE = 1\n"})
    name = unique_name("layer")
    version = client.publish_layer_version(LayerName=name, Content={"ZipFile": content})["Version"]
    try:
        url = client.get_layer_version(LayerName=name, VersionNumber=version)["Content"]["Location"]
        assert fetch(url)[:2] == (200, content)
        status, body, _ = fetch(url.split("?")[0])
        assert status == 403 and s3_error(body)["Code"] == "AccessDenied"
        signature = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["Signature"]
        status, body, _ = fetch(with_query(url, Signature=signature.upper()))
        assert status == 403 and s3_error(body)["Code"] == "SignatureDoesNotMatch"
    finally:
        client.delete_layer_version(LayerName=name, VersionNumber=version)


def test_the_default_lifetime_is_aws_ten_minutes(server: EmberServer) -> None:
    client = server.lambda_client()
    name = unique_name("ten")
    client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE, Handler="index.handler",
                           Code={"ZipFile": make_zip({"index.py": "x = 1\n"})})
    try:
        url = client.get_function(FunctionName=name)["Code"]["Location"]
    finally:
        client.delete_function(FunctionName=name)
    expires = int(dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["Expires"])
    assert time.time() + 590 < expires <= time.time() + 601
