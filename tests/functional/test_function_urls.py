"""Function URLs: their control plane (boto3 and the aws CLI) and their HTTP endpoint, driven with plain HTTP
(http.client, curl) as browsers and clients reach them: both URL forms, the payload format 2.0 event, AWS's
response mapping, CORS, AuthType NONE and AWS_IAM in both auth modes, and the errors AWS answers with."""

from __future__ import annotations

import base64
import http.client
import json
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.functional.conftest import (
    ROOT_KEY_ID,
    ROOT_SECRET,
    EmberServer,
    execution_role,
    functions_on,
    iam_mode_server,
)
from tests.functional.helpers import send_to_function_url as send

#: echoes its event, or answers as the request's path asks
ECHO = r"""
import base64, json

def handler(event, context):
    path = event["rawPath"]
    if path == "/string":
        return "Hello, world!"
    if path == "/dict":
        return {"message": "no status code"}
    if path == "/custom":
        return {"statusCode": 201, "headers": {"Content-Type": "text/plain", "X-Custom": "yes"},
                "cookies": ["a=1; Max-Age=60", "b=2"], "body": "created"}
    if path == "/binary":
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if path == "/malformed":
        return {"statusCode": "not a status"}
    if path == "/fail":
        raise RuntimeError("boom")
    if path == "/cors-overridden":
        return {"statusCode": 200, "headers": {"Access-Control-Allow-Origin": "http://evil.example"}, "body": "x"}
    return {"statusCode": 200, "body": json.dumps(event)}
"""


def signed_headers(url: str, method: str, body: bytes, key_id: str, secret: str) -> dict[str, str]:
    """SigV4 headers for a function URL request, as an AWS SDK signs one (service lambda)."""
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key_id, secret), "lambda", "us-east-1").add_auth(request)
    return dict(request.headers.items())


@pytest.fixture(scope="module")
def echo_url(server: EmberServer) -> Iterator[Callable[..., tuple[str, str]]]:
    """echo_url(**settings): (function name, its URL) of a new echo function with a function URL."""
    client = server.lambda_client()
    with functions_on(client, server.runtime) as make:
        def make_url(auth_type: str = "NONE", **settings: object) -> tuple[str, str]:
            name = make(ECHO, Timeout=30)
            url = client.create_function_url_config(FunctionName=name, AuthType=auth_type, **settings)["FunctionUrl"]
            return name, url

        yield make_url


def test_the_control_plane_keeps_one_url_per_qualifier(server: EmberServer, echo_url) -> None:
    client = server.lambda_client()
    name, url = echo_url(Cors={"AllowOrigins": ["http://app.example"], "AllowMethods": ["GET"]})
    assert urlsplit(url).hostname.endswith(".lambda-url.us-east-1.localhost") and urlsplit(url).port == server.port
    got = client.get_function_url_config(FunctionName=name)
    assert (got["FunctionUrl"], got["AuthType"], got["InvokeMode"]) == (url, "NONE", "BUFFERED")
    assert got["FunctionArn"].endswith(f":function:{name}") and got["Cors"]["AllowOrigins"] == ["http://app.example"]
    with pytest.raises(ClientError) as exists:
        client.create_function_url_config(FunctionName=name, AuthType="NONE")
    assert exists.value.response["Error"]["Code"] == "ResourceConflictException"
    assert "FunctionUrlConfig exists for this Lambda function" in exists.value.response["Error"]["Message"]
    updated = client.update_function_url_config(FunctionName=name, AuthType="AWS_IAM", Cors={})
    assert updated["FunctionUrl"] == url and updated["AuthType"] == "AWS_IAM" and "Cors" not in updated
    # an alias has a URL of its own; a version may not
    client.publish_version(FunctionName=name)
    client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    live = client.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    assert live["FunctionUrl"] != url and live["FunctionArn"].endswith(f":{name}:live")
    listed = client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert sorted(c["FunctionUrl"] for c in listed) == sorted([url, live["FunctionUrl"]])
    with pytest.raises(ClientError) as version:  # Lambda's model refuses a version number as the qualifier
        client.create_function_url_config(FunctionName=name, Qualifier="1", AuthType="NONE")
    assert version.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as in_the_name:  # nor in the function's name
        client.create_function_url_config(FunctionName=f"{name}:1", AuthType="NONE")
    assert in_the_name.value.response["Error"]["Code"] == "ValidationException"
    client.delete_alias(FunctionName=name, Name="live")  # its URL goes with it
    assert send(server, "GET", live["FunctionUrl"])[0] == 404
    client.delete_function_url_config(FunctionName=name)
    for call in (lambda: client.get_function_url_config(FunctionName=name),
                 lambda: client.delete_function_url_config(FunctionName=name)):
        with pytest.raises(ClientError) as missing:
            call()
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as no_function:
        client.create_function_url_config(FunctionName=f"missing-{uuid.uuid4().hex[:6]}", AuthType="NONE")
    assert no_function.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as bad_cors:
        client.create_function_url_config(FunctionName=name, AuthType="NONE", Cors={"AllowMethods": ["FETCH"]})
    assert bad_cors.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "FETCH" in bad_cors.value.response["Error"]["Message"]


def test_the_aws_cli_creates_a_url_that_curl_reaches(server: EmberServer, tmp_path: Path) -> None:
    client = server.lambda_client()
    with functions_on(client, server.runtime) as make:
        name = make(ECHO)
        created = json.loads(server.aws("lambda", "create-function-url-config", "--function-name", name,
                                        "--auth-type", "NONE").stdout)
        # curl resolves *.localhost to loopback itself, as browsers do
        done = subprocess.run(["curl", "-s", "-i", f"{created['FunctionUrl']}string"], capture_output=True, text=True,
                              timeout=120, check=True)
        assert done.stdout.startswith("HTTP/1.1 200") and done.stdout.endswith('"Hello, world!"'), done.stdout


@pytest.mark.parametrize("path_form", [False, True], ids=["host", "path"])
def test_the_event_carries_the_request_as_payload_format_2_0(server: EmberServer, echo_url, path_form: bool) -> None:
    name, url = echo_url()
    status, headers, body = send(
        server, "POST", f"{url}items/42?color=red&color=blue&empty=", b'{"k": "v"}',
        {"Content-Type": "application/json", "Cookie": "c1=v1; c2=v2", "X-Multi": "one", "User-Agent": "tester/1"},
        path_form=path_form)
    assert status == 200, body
    event = json.loads(body)
    url_id = urlsplit(url).hostname.split(".")[0]
    assert (event["version"], event["routeKey"], event["rawPath"]) == ("2.0", "$default", "/items/42")
    assert event["rawQueryString"] == "color=red&color=blue&empty="
    assert event["queryStringParameters"] == {"color": "red,blue", "empty": ""}
    assert event["cookies"] == ["c1=v1", "c2=v2"] and "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one" and event["headers"]["content-type"] == "application/json"
    assert event["body"] == '{"k": "v"}' and event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert (context["apiId"], context["domainPrefix"], context["stage"]) == (url_id, url_id, "$default")
    assert context["domainName"] == f"{url_id}.lambda-url.us-east-1.localhost"
    assert context["http"] == {"method": "POST", "path": "/items/42", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "tester/1"}
    assert context["accountId"] == "anonymous" and "authorizer" not in context
    assert len(context["requestId"]) == 36 and context["timeEpoch"] > 0


def test_repeated_headers_binary_and_large_bodies(server: EmberServer, echo_url) -> None:
    _, url = echo_url()
    parts = urlsplit(url)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    connection.putrequest("PUT", "/echo", skip_host=True)
    connection.putheader("Host", parts.netloc)
    for value in ("a", "b"):
        connection.putheader("X-Repeated", value)
    binary = bytes(range(256)) * 4
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(len(binary)))
    connection.endheaders(binary)
    response = connection.getresponse()
    event = json.loads(response.read())
    connection.close()
    assert event["headers"]["x-repeated"] == "a,b"
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == binary
    large = b"x" * (6 * 1024 * 1024 - 64 * 1024)  # the event around it must fit Lambda's 6 MB too
    status, _, body = send(server, "POST", f"{url}large", large, {"Content-Type": "text/plain"})
    assert status == 200 and len(json.loads(body)["body"]) == len(large)
    status, headers, body = send(server, "POST", f"{url}too-large", b"x" * (6 * 1024 * 1024 + 1),
                                 {"Content-Type": "text/plain"})
    assert status == 413 and "Request must be smaller than 6291456 bytes" in json.loads(body)["Message"]


def test_the_answer_maps_to_the_response_as_aws_infers_it(server: EmberServer, echo_url) -> None:
    _, url = echo_url()
    assert send(server, "GET", f"{url}string")[::2] == (200, b'"Hello, world!"')
    status, headers, body = send(server, "GET", f"{url}dict")
    assert (status, headers["content-type"], json.loads(body)) == (200, ["application/json"],
                                                                    {"message": "no status code"})
    status, headers, body = send(server, "GET", f"{url}custom")
    assert (status, body, headers["content-type"], headers["x-custom"]) == (201, b"created", ["text/plain"], ["yes"])
    assert headers["set-cookie"] == ["a=1; Max-Age=60", "b=2"]
    status, headers, body = send(server, "GET", f"{url}binary")
    assert (status, body) == (200, bytes(range(256)))
    for path in ("malformed", "fail"):
        status, _, body = send(server, "GET", f"{url}{path}")
        assert (status, json.loads(body)) == (502, {"Message": "Internal Server Error"}), path
    assert send(server, "GET", "http://" + "0" * 32 + f".lambda-url.us-east-1.localhost:{server.port}/")[0] == 404


def test_cors_answers_preflights_and_marks_allowed_origins(server: EmberServer, echo_url) -> None:
    _, url = echo_url(Cors={"AllowOrigins": ["http://app.example"], "AllowMethods": ["GET", "POST"],
                            "AllowHeaders": ["x-token"], "ExposeHeaders": ["x-custom"], "MaxAge": 300,
                            "AllowCredentials": True})
    status, headers, _ = send(server, "OPTIONS", f"{url}x", headers={
        "Origin": "http://app.example", "Access-Control-Request-Method": "POST"})
    assert status == 200 and headers["access-control-allow-origin"] == ["http://app.example"]
    assert headers["access-control-allow-methods"] == ["GET,POST"] and headers["access-control-max-age"] == ["300"]
    assert headers["access-control-allow-headers"] == ["x-token"]
    assert headers["access-control-allow-credentials"] == ["true"]
    for origin, method in (("http://evil.example", "POST"), ("http://app.example", "DELETE")):
        status, headers, _ = send(server, "OPTIONS", f"{url}x", headers={
            "Origin": origin, "Access-Control-Request-Method": method})
        assert status == 200 and not any(name.startswith("access-control-") for name in headers), headers
    status, headers, _ = send(server, "GET", f"{url}cors-overridden", headers={"Origin": "http://app.example"})
    assert headers["access-control-allow-origin"] == ["http://app.example"]  # the URL's CORS wins
    assert headers["access-control-expose-headers"] == ["x-custom"]
    status, headers, _ = send(server, "GET", f"{url}custom", headers={"Origin": "http://evil.example"})
    assert status == 201 and "access-control-allow-origin" not in headers


def test_aws_iam_urls_want_a_signature_even_in_open_mode(server: EmberServer, echo_url) -> None:
    _, url = echo_url("AWS_IAM")
    status, _, body = send(server, "GET", f"{url}string")
    assert (status, json.loads(body)) == (403, {"Message": "Forbidden"})
    signed = signed_headers(f"{url}echo", "POST", b"{}", "AKIAANYKEYINOPENMODE", "secret")
    status, _, body = send(server, "POST", f"{url}echo", b"{}", signed)
    assert status == 200 and json.loads(body)["requestContext"]["authorizer"]["iam"]["accessKey"] == \
        "AKIAANYKEYINOPENMODE"


def test_throttled_urls_answer_429(server: EmberServer, echo_url) -> None:
    name, url = echo_url()
    server.lambda_client().put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    status, _, body = send(server, "GET", f"{url}string")
    assert (status, json.loads(body)) == (429, {"Message": "Rate Exceeded."})


def test_in_iam_mode_policies_decide_who_reaches_a_url(tmp_path: Path) -> None:
    ember = iam_mode_server(tmp_path / "data")
    try:
        client, iam = ember.root_client("lambda"), ember.root_client("iam")
        role = execution_role(iam)
        with functions_on(client, ember.runtime, role) as make:
            public = make(ECHO)
            public_url = client.create_function_url_config(FunctionName=public, AuthType="NONE")["FunctionUrl"]
            # NONE still needs the resource policy that lets anyone invoke the URL
            assert send(ember, "GET", f"{public_url}string")[0] == 403
            client.add_permission(FunctionName=public, StatementId="public-url", Action="lambda:InvokeFunctionUrl",
                                  Principal="*", FunctionUrlAuthType="NONE")
            assert send(ember, "GET", f"{public_url}string")[::2] == (200, b'"Hello, world!"')

            private = make(ECHO)
            private_url = client.create_function_url_config(FunctionName=private, AuthType="AWS_IAM")["FunctionUrl"]
            assert send(ember, "GET", f"{private_url}string")[0] == 403  # unsigned
            assert send(ember, "POST", f"{private_url}echo", b"{}",
                        signed_headers(f"{private_url}echo", "POST", b"{}", ROOT_KEY_ID, ROOT_SECRET))[0] == 200
            iam.create_user(UserName="visitor")
            key = iam.create_access_key(UserName="visitor")["AccessKey"]
            as_visitor = signed_headers(f"{private_url}echo", "POST", b"{}", key["AccessKeyId"],
                                        key["SecretAccessKey"])
            assert send(ember, "POST", f"{private_url}echo", b"{}", as_visitor)[0] == 403  # no policy allows it
            wrong = signed_headers(f"{private_url}echo", "POST", b"{}", key["AccessKeyId"], "not-the-secret")
            assert send(ember, "POST", f"{private_url}echo", b"{}", wrong)[0] == 403
            function_arn = client.get_function(FunctionName=private)["Configuration"]["FunctionArn"]
            iam.put_user_policy(UserName="visitor", PolicyName="url", PolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl",
                                                        "Resource": function_arn}]}))
            status, _, body = send(ember, "POST", f"{private_url}echo", b"{}", as_visitor)
            assert status == 200, body
            caller = json.loads(body)["requestContext"]["authorizer"]["iam"]
            assert caller["userArn"].endswith(":user/visitor") and caller["accessKey"] == key["AccessKeyId"]
    finally:
        ember.shut_down()
