"""SigV4 on incoming requests, against requests botocore's real signer signed.

Real clients build and sign each request (captured just before it would be sent); odd cases are
signed with SigV4Auth, SigV4QueryAuth and S3SigV4Auth directly. Every request is checked as it
would arrive: its path and query as sent, a Host header as urllib3 writes it. Time is a
FakeClock set from the request's own signing time.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import botocore.session
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from ember.clock import FakeClock
from ember.iam.sigv4 import (
    S3_RULES,
    UNSIGNED,
    UNSIGNED_PAYLOAD,
    CredentialScope,
    RequestSignature,
    RequestView,
    SignatureForm,
    SigningRules,
    authenticate,
    check_signing_time,
    read_signature,
    verify_signature,
)
from ember.iam.sigv4_failures import SignatureError, SignatureFailure

KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TEMPORARY_KEY_ID = "ASIAIOSFODNN7EXAMPLE"
TOKEN = "FwoGZXIvYXdzEBEaDExampleToken+with/base64=="
ENDPOINT = "http://localhost:4566"
LAMBDA_ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-function:prod"

Call = Callable[[Any], object]


class _Sent(Exception):
    """Raised from before-send: the request is captured, never sent."""


@functools.cache
def _client(service: str, token: str | None, endpoint: str, config: Config | None) -> Any:
    session = botocore.session.Session()
    session.set_credentials(TEMPORARY_KEY_ID if token else KEY_ID, SECRET, token)
    return session.create_client(service, region_name="us-east-1", endpoint_url=endpoint, config=config)


def client_request(service: str, call: Call, *, token: str | None = None, endpoint: str = ENDPOINT,
                   config: Config | None = None) -> RequestView:
    """The request a real botocore client sends for `call`, as Ember receives it."""
    client = _client(service, token, endpoint, config)
    captured: list[AWSPreparedRequest] = []

    def capture(request: AWSPreparedRequest, **_: object) -> None:
        captured.append(request)
        raise _Sent

    client.meta.events.register("before-send", capture)
    try:
        with pytest.raises(_Sent):
            call(client)
    finally:
        client.meta.events.unregister("before-send", capture)
    return wire(captured[0].method, captured[0].url, captured[0].headers.items(), captured[0].body)


def wire(method: str, url: str, headers: Any, body: Any = b"") -> RequestView:
    """A request as it arrives: path and query as sent, and the Host header urllib3 adds."""
    parts = urlsplit(url)
    pairs = [(name, value.decode() if isinstance(value, bytes) else value) for name, value in headers]
    if not any(name.lower() == "host" for name, _ in pairs):
        default_port = {"http": 80, "https": 443}[parts.scheme]
        host = parts.hostname or ""
        pairs.append(("Host", host if parts.port in (None, default_port) else f"{host}:{parts.port}"))
    if hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    return RequestView(method, parts.path, parts.query, tuple(pairs), body or b"")


def sign(method: str, url: str, *, service: str = "lambda", headers: dict[str, str] | None = None,
         body: bytes = b"", params: Any = None, token: str | None = None, signer: type[SigV4Auth] = SigV4Auth,
         context: dict[str, Any] | None = None) -> RequestView:
    """A request signed directly with one of botocore's signers, as it arrives."""
    request = AWSRequest(method=method, url=url, headers=headers or {}, data=body, params=params)
    request.context.update(context or {})
    credentials = Credentials(TEMPORARY_KEY_ID if token else KEY_ID, SECRET, token)
    signer(credentials, service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    return wire(prepared.method, prepared.url, prepared.headers.items(), prepared.body)


def presign(url: str, *, service: str, expires_s: int = 3600, method: str = "GET",
            token: str | None = None) -> RequestView:
    request = AWSRequest(method=method, url=url)
    credentials = Credentials(TEMPORARY_KEY_ID if token else KEY_ID, SECRET, token)
    SigV4QueryAuth(credentials, service, "us-east-1", expires=expires_s).add_auth(request)
    prepared = request.prepare()
    return wire(prepared.method, prepared.url, [])


def signature_of(view: RequestView) -> RequestSignature:
    signature = read_signature(view)
    assert isinstance(signature, RequestSignature)
    return signature


def clock_for(view: RequestView, offset_s: float = 0) -> FakeClock:
    """A clock at the request's signing time, moved by `offset_s`."""
    return FakeClock(start_s=signature_of(view).signed_at.timestamp() + offset_s)


def verify(view: RequestView, rules: SigningRules = SigningRules(), *, secret: str = SECRET,
           offset_s: float = 0) -> str:
    return verify_signature(view, signature_of(view), secret, clock_for(view, offset_s), rules)


def failure_of(action: Callable[[], object]) -> SignatureError:
    with pytest.raises(SignatureError) as refused:
        action()
    return refused.value


class Keys:
    """The caller's key lookup: one long-term key, one temporary key with its token."""

    def secret_access_key(self, access_key_id: str, session_token: str | None) -> str:
        if access_key_id == KEY_ID:
            return SECRET
        if access_key_id == TEMPORARY_KEY_ID:
            if session_token != TOKEN:
                raise SignatureError(SignatureFailure.INVALID_TOKEN)
            return SECRET
        raise SignatureError(SignatureFailure.UNKNOWN_ACCESS_KEY)


# Requests real clients send, one or more per service and protocol.
CLIENT_CALLS: dict[str, tuple[str, Call, SigningRules]] = {
    "lambda invoke, an alias ARN in the path": (
        "lambda", lambda c: c.invoke(FunctionName=LAMBDA_ARN, Payload=b'{"key": "value"}'), SigningRules()),
    "lambda invoke, Event, a client context header": (
        "lambda", lambda c: c.invoke(FunctionName="f", InvocationType="Event", ClientContext="e30=", Payload=b"{}"),
        SigningRules()),
    "lambda GET with an odd Marker": (
        "lambda", lambda c: c.list_functions(MaxItems=5, Marker="a b+c/d=é&"), SigningRules()),
    "lambda create-function": (
        "lambda", lambda c: c.create_function(FunctionName="f", Runtime="python3.12", Role="arn:aws:iam::1:role/r",
                                              Handler="app.handler", Code={"ZipFile": b"PK\x05\x06" + bytes(18)},
                                              Environment={"Variables": {"A": "ü  spaced"}}), SigningRules()),
    "logs put-log-events (json 1.1)": (
        "logs", lambda c: c.put_log_events(logGroupName="/aws/lambda/f", logStreamName="2024/01/01/[$LATEST]abc",
                                           logEvents=[{"timestamp": 1, "message": "héllo\n"}]), SigningRules()),
    "cloudwatch get-metric-statistics": (
        "cloudwatch", lambda c: c.list_metrics(Namespace="AWS/Lambda"), SigningRules()),
    "iam create-user (query, form body)": (
        "iam", lambda c: c.create_user(UserName="alice", Path="/team a/",
                                       Tags=[{"Key": "k", "Value": "ü é+&= "}]), SigningRules()),
    "iam list-users": ("iam", lambda c: c.list_users(PathPrefix="/"), SigningRules()),
    "sts get-caller-identity": ("sts", lambda c: c.get_caller_identity(), SigningRules()),
    "sts assume-role": (
        "sts", lambda c: c.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="s@x.y"),
        SigningRules()),
    "s3 put-object, a key with spaces, plus, tilde, unicode": (
        "s3", lambda c: c.put_object(Bucket="bucket", Key="dir/a b+c~!é.txt", Body=b"hello"), S3_RULES),
    "s3 list-objects-v2, a prefix and repeated-looking params": (
        "s3", lambda c: c.list_objects_v2(Bucket="bucket", Prefix="a b/", Delimiter="/", StartAfter=""), S3_RULES),
}


@pytest.mark.parametrize("with_token", [False, True], ids=["long-term key", "session token"])
@pytest.mark.parametrize("case", CLIENT_CALLS)
def test_requests_real_clients_sign_verify(case: str, with_token: bool) -> None:
    service, call, rules = CLIENT_CALLS[case]
    view = client_request(service, call, token=TOKEN if with_token else None,
                          config=Config(signature_version="s3v4") if service == "s3" else None)
    signature = signature_of(view)
    assert signature.access_key_id == (TEMPORARY_KEY_ID if with_token else KEY_ID)
    assert signature.session_token == (TOKEN if with_token else None)
    assert signature.form is SignatureForm.HEADER and signature.expires_s is None
    assert signature.scope == CredentialScope(signature.signed_at.strftime("%Y%m%d"), "us-east-1",
                                              {"cloudwatch": "monitoring"}.get(service, service))
    assert authenticate(view, Keys(), clock_for(view), rules) == signature
    assert verify(view, rules) in (UNSIGNED_PAYLOAD, _sha256(view.body))


def test_a_lambda_arn_in_the_path_is_signed_encoded_twice() -> None:
    view = client_request("lambda", CLIENT_CALLS["lambda invoke, an alias ARN in the path"][1])
    assert "arn%3Aaws%3Alambda%3Aus-east-1" in view.path
    verify(view)
    # S3's rule (the path signed as sent) reads the same request differently
    assert failure_of(lambda: verify(view, S3_RULES)).failure is SignatureFailure.SIGNATURE_MISMATCH


def test_an_s3_path_is_signed_as_sent() -> None:
    view = sign("PUT", "http://localhost:4566/bucket/a%20b/c%2Bd%3Ae", service="s3", signer=S3SigV4Auth,
                body=b"x", headers={"Content-Type": "text/plain"})
    assert verify(view, S3_RULES) == _sha256(b"x")
    assert failure_of(lambda: verify(view)).failure is SignatureFailure.SIGNATURE_MISMATCH


@pytest.mark.parametrize("endpoint", ["http://localhost", "http://localhost:4566", "http://127.0.0.1:8080"])
def test_the_host_header_is_signed_with_its_port_unless_it_is_the_default(endpoint: str) -> None:
    view = client_request("lambda", lambda c: c.get_function(FunctionName="f"), endpoint=endpoint)
    assert view.header("host") == endpoint.removeprefix("http://")
    verify(view)
    other = _with_header(view, "Host", "localhost:9999")
    assert failure_of(lambda: verify(other)).failure is SignatureFailure.SIGNATURE_MISMATCH


def test_repeated_query_keys_empty_values_and_a_key_without_a_value() -> None:
    view = sign("GET", "http://localhost:4566/2015-03-31/functions?b=2&a=2&a=1&empty=&bare")
    assert view.query_string == "b=2&a=2&a=1&empty=&bare"
    verify(view)
    swapped = dataclasses.replace(view, query_string="b=2&a=1&a=2&empty=&bare")
    verify(swapped)  # the canonical query is sorted: the order of a repeated key's values is not signed
    changed = dataclasses.replace(view, query_string="b=2&a=2&a=3&empty=&bare")
    assert failure_of(lambda: verify(changed)).failure is SignatureFailure.SIGNATURE_MISMATCH


def test_a_plus_on_the_wire_is_read_as_a_space_and_as_a_plus() -> None:
    # AWSRequest params go on the wire form-encoded (a space as "+"), signed with %20
    spaced = sign("GET", "http://localhost:4566/p", params=[("q", "a b"), ("r", "x+y"), ("r", "")])
    assert spaced.query_string == "q=a+b&r=x%2By&r="
    verify(spaced)
    # a URL with a bare "+" is signed as it stands
    verify(sign("GET", "http://localhost:4566/p?q=a+b"))
    # a client that meant "+" and signed %2B, but left it bare on the wire
    literal = sign("GET", "http://localhost:4566/p?q=a%2Bb")
    verify(dataclasses.replace(literal, query_string="q=a+b"))


def test_a_query_encoded_differently_on_the_wire_reads_the_same() -> None:
    view = sign("GET", "http://localhost:4566/p?name=caf%C3%A9%20~x&k=%2F")
    verify(dataclasses.replace(view, query_string="name=caf%c3%a9%20%7Ex&k=%2f"))


def test_unicode_and_reserved_characters_in_the_path() -> None:
    verify(sign("GET", "http://localhost:4566/2015-03-31/functions/f%C3%BCnf%20%21/configuration"))
    # a character left unencoded on the wire, signed encoded (the spec's way)
    view = sign("GET", "http://localhost:4566/bucket/it%21s.txt", service="s3", signer=S3SigV4Auth)
    verify(dataclasses.replace(view, path="/bucket/it!s.txt"), S3_RULES)
    # and signed as it stands, as botocore signs a URL it is handed
    verify(sign("GET", "http://localhost:4566/bucket/it!s.txt", service="s3", signer=S3SigV4Auth), S3_RULES)


def test_dot_segments_and_double_slashes_are_normalized_except_for_s3() -> None:
    verify(sign("GET", "http://localhost:4566/a/./b/../c//d"))
    verify(sign("GET", "http://localhost:4566/bucket/a/./b//c", service="s3", signer=S3SigV4Auth), S3_RULES)


def test_header_values_with_repeated_spaces_and_a_repeated_header() -> None:
    view = sign("POST", "http://localhost:4566/p", headers={"X-Amz-Meta-Note": "  a   b \t c  ",
                                                           "X-Amz-Meta-Tags": "one,two"}, body=b"{}")
    verify(view)
    verify(_with_header(view, "X-Amz-Meta-Note", "a b c"))  # AWS signs a value trimmed, spaces collapsed
    pairs = tuple(pair for pair in view.headers if pair[0] != "X-Amz-Meta-Tags")
    repeated = dataclasses.replace(view, headers=(*pairs, ("x-amz-meta-tags", "one"), ("x-amz-meta-tags", "two")))
    verify(repeated)  # a repeated header signs as its values joined with commas


def test_the_date_header_signs_when_there_is_no_x_amz_date() -> None:
    view = sign("GET", "http://localhost:4566/p", headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert view.header("x-amz-date") is None and view.header("date") is not None
    signature = signature_of(view)
    assert signature.signed_at.tzinfo is UTC
    verify(view)


def test_commas_alone_separate_the_parts_of_the_authorization_header() -> None:
    view = sign("GET", "http://localhost:4566/p")
    compact = _with_header(view, "Authorization", (view.header("authorization") or "").replace(", ", ","))
    verify(compact)


def test_the_edge_request_shape_with_decoded_query_pairs_verifies() -> None:
    sent = client_request("lambda", CLIENT_CALLS["lambda GET with an odd Marker"][1])
    # the edge's reading: decoded query pairs, one value per header name
    view = RequestView.from_pairs(sent.method, sent.path, parse_qsl(sent.query_string, keep_blank_values=True),
                                  {name.lower(): value for name, value in sent.headers}, sent.body)
    verify(view)


# Tampering: each part of a signed request, changed after signing.

def _invoke_with_token() -> RequestView:
    return client_request("lambda", lambda c: c.invoke(FunctionName="f", InvocationType="Event", Payload=b'{"a": 1}'),
                          token=TOKEN)


def _list_with_query() -> RequestView:
    return client_request("lambda", lambda c: c.list_functions(Marker="m1", MaxItems=3), token=TOKEN)


def _put_object() -> RequestView:
    return client_request("s3", lambda c: c.put_object(Bucket="b", Key="k", Body=b"hello"),
                          config=Config(signature_version="s3v4"))


TAMPERING: dict[str, tuple[Callable[[], RequestView], Callable[[RequestView], RequestView], SigningRules]] = {
    "method": (_invoke_with_token, lambda v: dataclasses.replace(v, method="PUT"), SigningRules()),
    "path": (_invoke_with_token, lambda v: dataclasses.replace(v, path=v.path.replace("/f/", "/g/")), SigningRules()),
    "query value": (_list_with_query, lambda v: dataclasses.replace(v, query_string=v.query_string.replace("m1", "m2")),
                    SigningRules()),
    "query key added": (_list_with_query, lambda v: dataclasses.replace(v, query_string=v.query_string + "&x=1"),
                        SigningRules()),
    "a signed header": (_invoke_with_token, lambda v: _with_header(v, "X-Amz-Invocation-Type", "RequestResponse"),
                        SigningRules()),
    "the body": (_invoke_with_token, lambda v: dataclasses.replace(v, body=b'{"a": 2}'), SigningRules()),
    "the date, one second on": (_invoke_with_token, lambda v: _with_header(v, "X-Amz-Date", _shift(v, 1)),
                                SigningRules()),
    "the session token": (_invoke_with_token, lambda v: _with_header(v, "X-Amz-Security-Token", TOKEN + "x"),
                          SigningRules()),
    "the signature": (_invoke_with_token, lambda v: _with_authorization(v, r"Signature=\w", _other_first_digit(v)),
                      SigningRules()),
    "the signed headers list": (_invoke_with_token, lambda v: _with_authorization(v, ";x-amz-security-token", ""),
                                SigningRules()),
    "the scope's region": (_invoke_with_token, lambda v: _with_authorization(v, "/us-east-1/", "/eu-west-1/"),
                           SigningRules()),
}


@pytest.mark.parametrize("part", TAMPERING)
def test_tampering_with_any_signed_part_is_a_signature_mismatch(part: str) -> None:
    make, tamper, rules = TAMPERING[part]
    view = make()
    verify(view, rules)
    assert failure_of(lambda: verify(tamper(view), rules)).failure is SignatureFailure.SIGNATURE_MISMATCH


def test_a_wrong_secret_is_a_signature_mismatch() -> None:
    view = _invoke_with_token()
    assert failure_of(lambda: verify(view, secret=SECRET[:-1] + "X")).failure is SignatureFailure.SIGNATURE_MISMATCH


def test_another_access_key_is_refused_by_the_lookup() -> None:
    view = _with_authorization(_put_object(), KEY_ID, "AKIAUNKNOWNKEY000000")
    refused = failure_of(lambda: authenticate(view, Keys(), clock_for(view), S3_RULES))
    assert refused.failure is SignatureFailure.UNKNOWN_ACCESS_KEY


def test_another_session_token_is_refused_by_the_lookup_before_the_signature() -> None:
    view = _with_header(_invoke_with_token(), "X-Amz-Security-Token", "another-token")
    refused = failure_of(lambda: authenticate(view, Keys(), clock_for(view)))
    assert refused.failure is SignatureFailure.INVALID_TOKEN


def test_a_temporary_key_without_its_token_is_refused() -> None:
    view = _invoke_with_token()
    pairs = tuple(pair for pair in view.headers if pair[0].lower() != "x-amz-security-token")
    refused = failure_of(lambda: authenticate(dataclasses.replace(view, headers=pairs), Keys(), clock_for(view)))
    assert refused.failure is SignatureFailure.INVALID_TOKEN


def test_a_changed_body_under_a_signed_content_hash_is_a_payload_hash_mismatch() -> None:
    view = _put_object()
    assert view.header("x-amz-content-sha256") == _sha256(b"hello")
    refused = failure_of(lambda: verify(dataclasses.replace(view, body=b"jello"), S3_RULES))
    assert refused.failure is SignatureFailure.PAYLOAD_HASH_MISMATCH
    assert refused.detail == "The provided 'x-amz-content-sha256' header does not match what was computed."


def test_the_date_moved_to_another_day_is_outside_the_credential_scope() -> None:
    view = _invoke_with_token()
    refused = failure_of(lambda: read_signature(_with_header(view, "X-Amz-Date", _shift(view, 86400))))
    assert refused.failure is SignatureFailure.INVALID_CREDENTIAL_SCOPE
    assert refused.detail is not None
    assert refused.detail.startswith("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                                     "from HTTP: '")


# Payload hashes: what each service takes.

def test_an_unsigned_payload_is_taken_only_where_the_service_allows_it() -> None:
    view = sign("PUT", "http://localhost:4566/bucket/key", service="s3", body=b"data",
                context={"payload_signing_enabled": False})
    assert view.header("x-amz-content-sha256") == UNSIGNED_PAYLOAD
    assert verify(view, SigningRules(allow_unsigned_payload=True)) == UNSIGNED_PAYLOAD
    assert verify(dataclasses.replace(view, body=b"other"), S3_RULES) == UNSIGNED_PAYLOAD
    assert failure_of(lambda: verify(view)).failure is SignatureFailure.INVALID_PAYLOAD_HASH


def test_a_streaming_payload_is_taken_only_where_the_service_allows_it() -> None:
    streaming = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    # a client streaming aws-chunked signs the STREAMING value, not the body's hash
    view = sign("PUT", "http://localhost:4566/bucket/key", service="s3",
                headers={"X-Amz-Content-SHA256": streaming, "X-Amz-Decoded-Content-Length": "4"},
                body=b"4;chunk-signature=00\r\ndata\r\n")
    assert verify(view, S3_RULES) == streaming
    assert failure_of(lambda: verify(view, SigningRules(double_encode_path=False, allow_unsigned_payload=True))
                      ).failure is SignatureFailure.INVALID_PAYLOAD_HASH


def test_a_content_hash_that_is_not_a_hash_is_refused() -> None:
    view = sign("POST", "http://localhost:4566/p", headers={"X-Amz-Content-SHA256": "not-a-hash"}, body=b"x")
    assert failure_of(lambda: verify(view, S3_RULES)).failure is SignatureFailure.INVALID_PAYLOAD_HASH


# Time.

@pytest.mark.parametrize(("offset_s", "failure"), [
    (900, None),
    (901, SignatureFailure.SIGNATURE_EXPIRED),
    (-900, None),
    (-901, SignatureFailure.SIGNATURE_NOT_YET_CURRENT),
])
def test_a_signature_is_good_for_15_minutes_either_side_of_now(offset_s: int, failure: SignatureFailure | None) -> None:
    view = _invoke_with_token()
    if failure is None:
        verify(view, offset_s=offset_s)
        authenticate(view, Keys(), clock_for(view, offset_s))
    else:
        assert failure_of(lambda: verify(view, offset_s=offset_s)).failure is failure
        assert failure_of(lambda: authenticate(view, Keys(), clock_for(view, offset_s))).failure is failure


def test_the_skew_messages_are_worded_as_aws_words_them() -> None:
    signature = _signature_at(datetime(2024, 1, 1, tzinfo=UTC))
    expired = failure_of(lambda: check_signing_time(signature, _clock_at("2024-01-01T00:20:00")))
    assert expired.detail == ("Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z "
                              "(20240101T002000Z - 15 min.)")
    early = failure_of(lambda: check_signing_time(signature, _clock_at("2023-12-31T23:40:00")))
    assert early.detail == ("Signature not yet current: 20240101T000000Z is still later than 20231231T235500Z "
                            "(20231231T234000Z + 15 min.)")


def test_a_stale_request_is_refused_before_its_key_is_looked_up() -> None:
    view = _with_authorization(_invoke_with_token(), TEMPORARY_KEY_ID, "AKIAUNKNOWNKEY000000")
    assert failure_of(lambda: authenticate(view, Keys(), clock_for(view, 3600))
                      ).failure is SignatureFailure.SIGNATURE_EXPIRED


# Presigned URLs.

def test_presigned_s3_url_with_a_session_token() -> None:
    client = _client("s3", TOKEN, ENDPOINT, Config(signature_version="s3v4"))
    url = client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "dir/a b+é.txt"}, ExpiresIn=600)
    view = wire("GET", url, [])
    signature = signature_of(view)
    assert (signature.form, signature.expires_s, signature.session_token) == (SignatureForm.QUERY, 600, TOKEN)
    assert signature.signed_headers == ("host",)
    assert authenticate(view, Keys(), clock_for(view, 600), S3_RULES) == signature
    assert verify(view, S3_RULES, offset_s=599) == UNSIGNED_PAYLOAD
    assert failure_of(lambda: verify(view, S3_RULES, offset_s=601)).failure is SignatureFailure.PRESIGNED_EXPIRED
    assert failure_of(lambda: verify(view, S3_RULES, offset_s=-901)
                      ).failure is SignatureFailure.SIGNATURE_NOT_YET_CURRENT


def test_presigned_sts_url_as_eks_tokens_use_it() -> None:
    client = _client("sts", None, ENDPOINT, None)
    url = client.generate_presigned_url("get_caller_identity", ExpiresIn=60, HttpMethod="GET")
    view = wire("GET", url, [])
    assert verify(view) == _sha256(b"")
    assert failure_of(lambda: verify(dataclasses.replace(view, method="POST"))
                      ).failure is SignatureFailure.SIGNATURE_MISMATCH


def test_presigned_lambda_url_with_an_arn_in_the_path() -> None:
    client = _client("lambda", None, ENDPOINT, None)
    url = client.generate_presigned_url("get_function", Params={"FunctionName": LAMBDA_ARN}, ExpiresIn=3600)
    view = wire("GET", url, [])
    verify(view, offset_s=1800)  # within X-Amz-Expires, past the 15-minute window headers get
    tampered = dataclasses.replace(view, query_string=view.query_string.replace("X-Amz-Expires=3600",
                                                                                "X-Amz-Expires=7200"))
    assert failure_of(lambda: verify(tampered)).failure is SignatureFailure.SIGNATURE_MISMATCH


def test_presigned_with_repeated_keys_and_a_plus() -> None:
    view = presign("http://localhost:4566/p?a=2&a=1&q=x%2By&e=", service="lambda", expires_s=60)
    verify(view)


def test_presigned_expiry_above_a_week_is_refused() -> None:
    view = presign("http://localhost:4566/p", service="s3", expires_s=604800)
    verify(view, offset_s=604800)
    longer = dataclasses.replace(view, query_string=view.query_string.replace("X-Amz-Expires=604800",
                                                                              "X-Amz-Expires=604801"))
    refused = failure_of(lambda: read_signature(longer))
    assert refused.failure is SignatureFailure.MALFORMED_QUERY_AUTH
    assert refused.detail == ("X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires "
                              "must be less than 604800 seconds")


@pytest.mark.parametrize(("change", "detail"), [
    (lambda q: re.sub(r"&X-Amz-Signature=\w+", "", q),
     "AWS query-string parameters must include 'X-Amz-Signature'. Re-examine the query-string parameters."),
    (lambda q: q.replace("X-Amz-Expires=60", "X-Amz-Expires=soon"), "X-Amz-Expires should be a number"),
    (lambda q: q.replace("X-Amz-Expires=60", "X-Amz-Expires=-1"), "X-Amz-Expires must be non-negative"),
    (lambda q: q.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'),
    (lambda q: q + "&X-Amz-Date=20240101T000000Z", "'X-Amz-Date' must appear only once in the query string."),
    (lambda q: re.sub(r"X-Amz-Credential=[^&]+", "X-Amz-Credential=AKID%2F20240101", q),
     "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
     'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'),
])
def test_malformed_presigned_parameters(change: Callable[[str], str], detail: str) -> None:
    view = presign("http://localhost:4566/p", service="lambda", expires_s=60)
    refused = failure_of(lambda: read_signature(dataclasses.replace(view, query_string=change(view.query_string))))
    assert (refused.failure, refused.detail) == (SignatureFailure.MALFORMED_QUERY_AUTH, detail)


def test_a_header_signature_and_a_presigned_one_together_are_refused() -> None:
    view = presign("http://localhost:4566/p", service="lambda", expires_s=60)
    both = _with_header(view, "Authorization", "AWS4-HMAC-SHA256 Credential=x")
    assert failure_of(lambda: read_signature(both)).failure is SignatureFailure.MALFORMED_QUERY_AUTH


# Unsigned and malformed Authorization headers.

def test_a_request_without_a_signature_is_unsigned() -> None:
    view = RequestView("GET", "/2015-03-31/functions", "", (("host", "localhost:4566"),))
    assert read_signature(view) is UNSIGNED
    assert authenticate(view, Keys(), FakeClock()) is UNSIGNED
    assert read_signature(dataclasses.replace(view, query_string="X-Amz-Date=20240101T000000Z")) is UNSIGNED


AUTHORIZATION = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws4_request"


@pytest.mark.parametrize(("authorization", "headers", "failure", "detail"), [
    ("Bearer abc.def", {"x-amz-date": "20240101T000000Z"}, SignatureFailure.INCOMPLETE_SIGNATURE,
     "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. "
     "Authorization header requires 'SignedHeaders' parameter. Authorization=Bearer abc.def"),
    (AUTHORIZATION, {"x-amz-date": "20240101T000000Z"}, SignatureFailure.INCOMPLETE_SIGNATURE,
     "Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. "
     f"Authorization={AUTHORIZATION}"),
    (f"{AUTHORIZATION}, SignedHeaders=host, Signature=00", {}, SignatureFailure.INCOMPLETE_SIGNATURE,
     "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
     f"Authorization={AUTHORIZATION}, SignedHeaders=host, Signature=00"),
    ("AWS4-HMAC-SHA256 Credential= AKID/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=00",
     {"x-amz-date": "20240101T000000Z"}, SignatureFailure.INCOMPLETE_SIGNATURE,
     "'AKID/20240101/us-east-1/lambda/aws4_request' not a valid key=value pair (missing equal-sign) in Authorization "
     "header: 'AWS4-HMAC-SHA256 Credential= AKID/20240101/us-east-1/lambda/aws4_request, SignedHeaders=host, "
     "Signature=00'."),
    ("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda, SignedHeaders=host, Signature=00",
     {"x-amz-date": "20240101T000000Z"}, SignatureFailure.INCOMPLETE_SIGNATURE,
     "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
     "got 'AKID/20240101/us-east-1/lambda'"),
    ("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/lambda/aws5_request, SignedHeaders=host, Signature=00",
     {"x-amz-date": "20240101T000000Z"}, SignatureFailure.INVALID_CREDENTIAL_SCOPE,
     "Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."),
    ("AWS4-ECDSA-P256-SHA256 Credential=AKID/20240101/lambda/aws4_request, SignedHeaders=host, Signature=00",
     {"x-amz-date": "20240101T000000Z"}, SignatureFailure.INCOMPLETE_SIGNATURE,
     "Unsupported AWS 'algorithm': 'AWS4-ECDSA-P256-SHA256'"),
    (f"{AUTHORIZATION}, SignedHeaders=host, Signature=00", {"x-amz-date": "2024-01-01T00:00:00Z"},
     SignatureFailure.INCOMPLETE_SIGNATURE,
     "Date must be in ISO-8601 'basic format'. Got '2024-01-01T00:00:00Z'. See http://en.wikipedia.org/wiki/ISO_8601"),
    (f"{AUTHORIZATION}, SignedHeaders=x-amz-date, Signature=00", {"x-amz-date": "20240101T000000Z"},
     SignatureFailure.INCOMPLETE_SIGNATURE,
     "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."),
    (f"{AUTHORIZATION}, SignedHeaders=host, Signature=00", {"x-amz-date": "20240102T000000Z"},
     SignatureFailure.INVALID_CREDENTIAL_SCOPE,
     "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
     "'20240101' != '20240102', from '20240102T000000Z'."),
])
def test_malformed_authorization_headers(authorization: str, headers: dict[str, str], failure: SignatureFailure,
                                         detail: str) -> None:
    view = RequestView("GET", "/", "", (("authorization", authorization), ("host", "h"), *headers.items()))
    refused = failure_of(lambda: read_signature(view))
    assert (refused.failure, refused.detail) == (failure, detail)


# Helpers for the cases above.

def _sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _with_header(view: RequestView, name: str, value: str) -> RequestView:
    pairs = tuple(pair for pair in view.headers if pair[0].lower() != name.lower())
    return dataclasses.replace(view, headers=(*pairs, (name, value)))


def _other_first_digit(view: RequestView) -> str:
    """`Signature=` and a first hex digit other than the signature's own (a change, whatever it is)."""
    first = (view.header("authorization") or "").split("Signature=", 1)[1][0]
    return "Signature=" + ("1" if first == "0" else "0")


def _with_authorization(view: RequestView, pattern: str, replacement: str) -> RequestView:
    authorization = view.header("authorization") or ""
    return _with_header(view, "Authorization", re.sub(pattern, replacement, authorization, count=1))


def _shift(view: RequestView, seconds: int) -> str:
    moment = signature_of(view).signed_at.timestamp() + seconds
    return datetime.fromtimestamp(moment, UTC).strftime("%Y%m%dT%H%M%SZ")


def _signature_at(moment: datetime) -> RequestSignature:
    return RequestSignature(SignatureForm.HEADER, KEY_ID, CredentialScope(moment.strftime("%Y%m%d"), "us-east-1",
                                                                          "lambda"), ("host",), "00", moment)


def _clock_at(iso: str) -> FakeClock:
    return FakeClock(start_s=datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp())
