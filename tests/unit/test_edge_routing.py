"""The edge's routing, driven in process by real botocore clients: query services (IAM, STS) found by
the SigV4 credential scope, a presigned URL's X-Amz-Credential, or (unsigned) the Action in their body;
their bodies read once, within the routing limit and then the operation's; and rest-json and json
services routed as before beside them.

The services here are the real models with handlers of this test's own: Ember has no IAM or STS yet.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from ember.edge.app import OWN_ROUTE_BODY_LIMIT_BYTES, ROUTING_BODY_LIMIT_BYTES, EdgeApp
from ember.edge.guard import BrowserGuard
from ember.errors import EmberError, RequestEntityTooLargeException, ValidationError
from ember.services.base import BodyLimit, RequestContext, Service, load_model
from ember.services.binding import bind_handlers

ENDPOINT = "http://127.0.0.1:4566"
CHUNK_BYTES = 64 * 1024


class NoSuchEntityException(EmberError):
    code = "NoSuchEntityException"
    status_code = 404
    sender_fault = True


class Calls:
    """What the handlers were called with."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, RequestContext, dict[str, Any]]] = []

    def record(self, name: str, ctx: RequestContext, params: dict[str, Any]) -> None:
        self.seen.append((name, ctx, params))


class IamHandlers:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def get_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.record("GetUser", ctx, params)
        return {"User": {"Path": "/", "UserName": params["UserName"], "UserId": "AIDAEXAMPLE000000001",
                         "Arn": f"arn:aws:iam::000000000000:user/{params['UserName']}",
                         "CreateDate": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}}

    async def delete_user(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        raise NoSuchEntityException(f"The user with name {params['UserName']} cannot be found.")

    async def create_policy(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.record("CreatePolicy", ctx, params)
        return {"Policy": {"PolicyName": params["PolicyName"]}}


class StsHandlers:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def get_caller_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.record("GetCallerIdentity", ctx, params)
        return {"UserId": "AIDAEXAMPLE000000001", "Account": "000000000000",
                "Arn": "arn:aws:iam::000000000000:user/ana"}

    async def assume_role_with_web_identity(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.record("AssumeRoleWithWebIdentity", ctx, params)
        return {"Credentials": {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "SessionToken": "token",
                                "Expiration": dt.datetime(2030, 1, 1, tzinfo=dt.UTC)}}


class LogsHandlers:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def describe_log_groups(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.record("DescribeLogGroups", ctx, params)
        return {"logGroups": [{"logGroupName": "/aws/lambda/f"}]}


class LambdaHandlers:
    def __init__(self, calls: Calls) -> None:
        self.calls = calls

    async def list_functions(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.record("ListFunctions", ctx, params)
        return {"Functions": []}


def _service(name: str, handlers: object, **options: Any) -> Service:
    model = load_model(name)
    return Service(model=model, handlers=bind_handlers(model, [handlers], name), **options)


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def app(calls: Calls) -> EdgeApp:
    #: small enough for a test to pass it: the operation's limit holds after the body was read to route
    policy_limit = BodyLimit(4096, lambda: RequestEntityTooLargeException("Policy requests must be under 4096 bytes"))
    services = [
        _service("lambda", LambdaHandlers(calls)),
        _service("logs", LogsHandlers(calls)),
        _service("iam", IamHandlers(calls), validation_error=ValidationError,
                 body_limits={"CreatePolicy": policy_limit}),
        _service("sts", StsHandlers(calls), validation_error=ValidationError),
    ]
    return EdgeApp(services, [], "us-east-1", "000000000000", guard=BrowserGuard(machine_names=[]))


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


def call(app: EdgeApp, method: str, url: str, headers: dict[str, str], body: bytes = b"") -> Answer:
    """One request through the ASGI app, its body in chunks; reading past the body fails the test."""
    parts = urllib.parse.urlsplit(url)
    chunks = [body[i:i + CHUNK_BYTES] for i in range(0, len(body), CHUNK_BYTES)] or [b""]
    messages = [{"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
                for i, chunk in enumerate(chunks)]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        assert messages, "the edge read past the end of the body"
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": urllib.parse.unquote(parts.path or "/"),
             "raw_path": (parts.path or "/").encode(), "query_string": parts.query.encode(),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()], "scheme": "http",
             "server": ("127.0.0.1", 4566)}
    asyncio.run(app(scope, receive, send))
    start, end = sent
    return Answer(start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, end["body"])


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def client(app: EdgeApp, service: str, region: str = "us-east-1") -> Any:
    """A botocore client whose requests go to `app` in process (before-send answers them)."""
    made = botocore.session.get_session().create_client(
        service, region_name=region, endpoint_url=ENDPOINT, aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret")

    def send(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        made.last_request_headers = headers
        answer = call(app, request.method, request.url, headers, body)
        return AWSResponse(request.url, answer.status, answer.headers, _Raw(answer.body))

    made.meta.events.register("before-send", send)
    return made


def test_a_signed_query_request_reaches_the_service_its_credential_scope_names(app: EdgeApp, calls: Calls) -> None:
    iam = client(app, "iam", region="eu-west-1")
    answer = iam.get_user(UserName="ana")
    assert answer["User"]["UserName"] == "ana"
    assert "Credential=AKIDEXAMPLE/" in iam.last_request_headers["Authorization"]
    metadata = answer["ResponseMetadata"]
    # The request id in the XML is the one in the header.
    assert metadata["RequestId"] == metadata["HTTPHeaders"]["x-amzn-requestid"]
    name, ctx, params = calls.seen[-1]
    assert (name, params, ctx.request_id) == ("GetUser", {"UserName": "ana"}, metadata["RequestId"])


def test_query_errors_raise_the_models_exception_in_boto3(app: EdgeApp) -> None:
    iam = client(app, "iam")
    with pytest.raises(iam.exceptions.NoSuchEntityException) as caught:
        iam.delete_user(UserName="ana")
    response = caught.value.response
    assert response["Error"]["Message"] == "The user with name ana cannot be found."
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["ResponseMetadata"]["RequestId"] == response["ResponseMetadata"]["HTTPHeaders"][
        "x-amzn-requestid"]


def test_constraint_failures_and_unknown_actions_are_answered_in_xml(app: EdgeApp) -> None:
    iam = client(app, "iam")
    with pytest.raises(iam.exceptions.ClientError) as caught:
        iam.get_user(UserName="bad name!")
    assert caught.value.response["Error"]["Code"] == "ValidationError"

    scope = "Credential=AKIDEXAMPLE/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"
    answer = call(app, "POST", ENDPOINT + "/", {"authorization": f"AWS4-HMAC-SHA256 {scope}",
                                                "content-type": "application/x-www-form-urlencoded"},
                  b"Action=ListUnicorns&Version=2010-05-08")
    assert answer.status == 400 and answer.headers["content-type"] == "text/xml"
    assert b"<Code>InvalidAction</Code><Message>Could not find operation ListUnicorns for version 2010-05-08" \
           in answer.body
    assert f"<RequestId>{answer.headers['x-amzn-requestid']}</RequestId>".encode() in answer.body


def test_a_presigned_url_is_routed_by_its_x_amz_credential(app: EdgeApp, calls: Calls) -> None:
    url = client(app, "sts", region="eu-west-1").generate_presigned_url("get_caller_identity")
    assert "X-Amz-Credential=" in url
    answer = call(app, "GET", url, {"host": "127.0.0.1:4566"})
    assert answer.status == 200 and b"<GetCallerIdentityResult><UserId>" in answer.body
    name, ctx, _ = calls.seen[-1]
    assert (name, ctx.region) == ("GetCallerIdentity", "eu-west-1")


def test_an_unsigned_query_request_is_routed_by_the_action_in_its_body(app: EdgeApp, calls: Calls) -> None:
    sts = client(app, "sts")
    answer = sts.assume_role_with_web_identity(RoleArn="arn:aws:iam::000000000000:role/web",
                                               RoleSessionName="web", WebIdentityToken="t" * 10)
    assert "Authorization" not in sts.last_request_headers  # botocore sends this one unsigned
    assert answer["Credentials"]["AccessKeyId"] == "ASIAEXAMPLE"
    assert calls.seen[-1][0] == "AssumeRoleWithWebIdentity"


def test_bodies_past_the_routing_limit_and_the_operations_limit(app: EdgeApp, calls: Calls) -> None:
    scope = "Credential=AKIDEXAMPLE/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"
    headers = {"authorization": f"AWS4-HMAC-SHA256 {scope}", "content-type": "application/x-www-form-urlencoded"}
    huge = b"Action=GetUser&Version=2010-05-08&UserName=a&Pad=" + b"x" * ROUTING_BODY_LIMIT_BYTES
    answer = call(app, "POST", ENDPOINT + "/", headers, huge)
    assert answer.status == 413
    assert b"<Code>RequestEntityTooLargeException</Code>" in answer.body

    iam = client(app, "iam")
    document = '{"Version": "2012-10-17", "Statement": []}'
    iam.create_policy(PolicyName="p", PolicyDocument=document)
    assert calls.seen[-1][2] == {"PolicyName": "p", "PolicyDocument": document}
    with pytest.raises(iam.exceptions.ClientError) as caught:
        iam.create_policy(PolicyName="p", PolicyDocument=document + " " * 5000)
    assert caught.value.response["Error"] == {"Type": "Sender", "Code": "RequestEntityTooLargeException",
                                              "Message": "Policy requests must be under 4096 bytes"}


def test_rest_json_and_json_services_route_as_before_beside_query_ones(app: EdgeApp, calls: Calls) -> None:
    assert client(app, "lambda").list_functions()["Functions"] == []
    assert client(app, "logs").describe_log_groups()["logGroups"] == [{"logGroupName": "/aws/lambda/f"}]
    assert [name for name, _, _ in calls.seen] == ["ListFunctions", "DescribeLogGroups"]


def test_a_request_for_no_service_is_still_answered_plainly(app: EdgeApp) -> None:
    for method, body in (("GET", b""), ("POST", b"Action=Nothing&Version=2000-01-01")):
        answer = call(app, method, ENDPOINT + "/nowhere", {"content-type": "application/x-www-form-urlencoded"},
                      body)
        assert answer.status == 404 and answer.headers["x-amzn-errortype"] == "UnknownOperationException"


def test_guarded_routes_and_the_dashboards_api_prefix_wait_for_the_door(app: EdgeApp, calls: Calls) -> None:
    """Until the server has set its dashboard door, what it guards is refused, never answered unguarded."""
    ran: list[str] = []

    async def guarded(request: Any, match: Any) -> Any:
        ran.append(request.path)
        raise AssertionError("a guarded route ran without its door")

    app.guarded_routes.append(("GET", re.compile(r"^/_ember/async$"), guarded))
    for path in ("/_ember/async", "/_ember/aws/2015-03-31/functions/"):
        answer = call(app, "GET", f"{ENDPOINT}{path}", {"host": "127.0.0.1:4566"})
        assert answer.status == 503, path
        assert answer.headers["x-amzn-errortype"] == "ServiceUnavailableException"
    assert ran == [] and calls.seen == []


def test_ember_own_routes_read_a_small_body_only(app: EdgeApp) -> None:
    async def sign_in(request: Any, match: Any) -> Any:
        raise AssertionError("a too-large body reached the route")

    app.public_routes.append(("POST", re.compile(r"^/_ember/sign-in$"), sign_in))
    answer = call(app, "POST", f"{ENDPOINT}/_ember/sign-in", {"host": "127.0.0.1:4566"},
                  b"x" * (OWN_ROUTE_BODY_LIMIT_BYTES + 1))
    assert answer.status == 413


def test_the_function_facing_app_serves_the_same_services_and_none_of_embers_own_routes(
        app: EdgeApp, calls: Calls) -> None:
    """What environments reach through AWS_ENDPOINT_URL: the AWS APIs, never /_ember/* or /metrics, whatever
    routes the server has."""
    ran: list[str] = []

    async def own(request: Any, match: Any) -> Any:
        ran.append(request.path)
        raise AssertionError("an own route ran on the function-facing app")

    app.public_routes.append(("GET", re.compile(r"^/(_ember/health|metrics)$"), own))
    app.guarded_routes.append(("GET", re.compile(r"^/_ember/async$"), own))
    facing = app.function_facing()
    for path in ("/_ember", "/_ember/health", "/_ember/async", "/_ember/aws/2015-03-31/functions/",
                 "/_ember/code/" + "0" * 64 + ".zip", "/metrics", "/metrics/"):
        answer = call(facing, "GET", f"{ENDPOINT}{path}", {"host": "127.0.0.1:4566"})
        assert answer.status == 404, path
        assert answer.headers["x-amzn-errortype"] == "NotFound"
    assert ran == []
    # Services the server adds after making it are served too (they share one table).
    app.services.pop("sts")
    assert "sts" not in facing.services
    assert client(facing, "iam").get_user(UserName="ana")["User"]["UserName"] == "ana"
    assert [name for name, _, _ in calls.seen] == ["GetUser"]
    assert call(app, "GET", f"{ENDPOINT}/metrics", {"host": "127.0.0.1:4566"}).status == 500  # the server's own app
    assert ran == ["/metrics"]
