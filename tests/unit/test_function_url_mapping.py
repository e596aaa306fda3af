"""How a function URL maps an answer to an HTTP response, and CORS settings to headers
(ember/lambda_/function_url_door.py), case by case; test_function_urls.py drives the same end to end."""

from __future__ import annotations

import base64
import json

import pytest

from ember.lambda_.function_url_door import cors_headers, function_response, preflight_headers
from ember.protocol import HttpRequest


def test_json_without_a_status_code_is_the_body_as_returned() -> None:
    for payload in (b'"Hello, world!"', b'{"a": 1}', b"42", b"[1, 2]", b"null"):
        response = function_response(payload)
        assert response is not None and (response.status, response.body) == (200, payload)
        assert response.headers == [("content-type", "application/json")]


def test_a_structured_answer_gives_its_status_headers_cookies_and_body() -> None:
    response = function_response(json.dumps({
        "statusCode": 302, "headers": {"Location": "/elsewhere", "X-Flag": True, "X-Many": ["a", "b"]},
        "cookies": ["a=1", "b=2; Secure"], "body": {"not": "a string"}}).encode())
    assert response is not None and response.status == 302
    assert response.headers == [("location", "/elsewhere"), ("x-flag", "true"), ("x-many", "a"), ("x-many", "b"),
                                ("set-cookie", "a=1"), ("set-cookie", "b=2; Secure"),
                                ("content-type", "application/json")]
    assert json.loads(response.body) == {"not": "a string"}
    assert function_response(b'{"statusCode": "204"}').status == 204  # type: ignore[union-attr]
    binary = function_response(json.dumps({"statusCode": 200, "isBase64Encoded": True,
                                           "body": base64.b64encode(b"\x00\xff").decode()}).encode())
    assert binary is not None and binary.body == b"\x00\xff"


@pytest.mark.parametrize("payload", [
    b"not json", b'{"statusCode": 99}', b'{"statusCode": true}', b'{"statusCode": "ok"}',
    b'{"statusCode": 200, "isBase64Encoded": true, "body": "*"}'])
def test_answers_that_cannot_be_a_response_are_refused(payload: bytes) -> None:
    assert function_response(payload) is None  # the door answers 502


def test_cors_names_an_allowed_origin_only() -> None:
    cors = {"AllowOrigins": ["http://a.example"], "ExposeHeaders": ["x-id"]}
    assert cors_headers(cors, "http://a.example") == [("access-control-allow-origin", "http://a.example"),
                                                      ("vary", "Origin"), ("access-control-expose-headers", "x-id")]
    assert cors_headers(cors, "http://b.example") == [] and cors_headers(None, "http://a.example") == []
    assert cors_headers({"AllowOrigins": ["*"]}, "http://b.example")[0] == ("access-control-allow-origin", "*")
    # with credentials a wildcard cannot be answered as such: the origin is echoed
    assert cors_headers({"AllowOrigins": ["*"], "AllowCredentials": True}, "http://b.example")[0] == (
        "access-control-allow-origin", "http://b.example")


def test_a_preflight_is_answered_for_an_allowed_origin_and_method() -> None:
    def preflight(method: str) -> HttpRequest:
        return HttpRequest("OPTIONS", "/", [], {"access-control-request-method": method})

    cors = {"AllowOrigins": ["http://a.example"], "AllowMethods": ["GET", "POST"], "MaxAge": 0}
    headers = dict(preflight_headers(cors, "http://a.example", preflight("post")))
    assert headers["access-control-allow-methods"] == "GET,POST" and headers["access-control-max-age"] == "0"
    assert preflight_headers(cors, "http://a.example", preflight("DELETE")) == []
    assert preflight_headers({**cors, "AllowMethods": ["*"]}, "http://a.example", preflight("DELETE")) != []
