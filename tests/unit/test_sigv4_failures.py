"""How each service answers a refused signature: AWS's codes and texts, per protocol."""

from __future__ import annotations

import pytest

from ember.errors import (
    ExpiredTokenException,
    IncompleteSignature,
    InvalidClientTokenId,
    InvalidSignatureException,
    SignatureDoesNotMatch,
    UnrecognizedClientException,
)
from ember.iam.sigv4_failures import REFUSALS_BY_SERVICE, SignatureError, SignatureFailure, refusal
from ember.protocol import protocol_for
from ember.services.base import load_model


def test_every_service_answers_every_failure() -> None:
    for refusals in REFUSALS_BY_SERVICE.values():
        assert set(refusals) == set(SignatureFailure)


@pytest.mark.parametrize(("service", "failure", "error", "message"), [
    ("lambda", SignatureFailure.UNKNOWN_ACCESS_KEY, UnrecognizedClientException,
     "The security token included in the request is invalid."),
    ("lambda", SignatureFailure.SIGNATURE_MISMATCH, InvalidSignatureException,
     "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
     "Key and signing method. Consult the service documentation for details."),
    ("logs", SignatureFailure.EXPIRED_TOKEN, ExpiredTokenException,
     "The security token included in the request is expired"),
    ("iam", SignatureFailure.UNKNOWN_ACCESS_KEY, InvalidClientTokenId,
     "The security token included in the request is invalid."),
    ("sts", SignatureFailure.SIGNATURE_MISMATCH, SignatureDoesNotMatch,
     "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
     "Key and signing method. Consult the service documentation for details."),
    ("sts", SignatureFailure.INCOMPLETE_SIGNATURE, IncompleteSignature, "the detail"),
    ("iam", SignatureFailure.SIGNATURE_EXPIRED, SignatureDoesNotMatch, "the detail"),
    ("lambda", SignatureFailure.SIGNATURE_EXPIRED, InvalidSignatureException, "the detail"),
])
def test_refusals_are_worded_per_service(service: str, failure: SignatureFailure, error: type[Exception],
                                         message: str) -> None:
    answer = refusal(service, SignatureError(failure, "the detail"))
    assert type(answer) is error
    assert answer.message == message


def test_a_refusal_renders_in_the_services_wire_format() -> None:
    error = refusal("lambda", SignatureError(SignatureFailure.UNKNOWN_ACCESS_KEY))
    response = protocol_for(load_model("lambda")).serialize_error(error, request_id="r-1")
    assert response.status == 403
    assert ("x-amzn-errortype", "UnrecognizedClientException") in response.headers
    error = refusal("logs", SignatureError(SignatureFailure.SIGNATURE_MISMATCH))
    response = protocol_for(load_model("logs")).serialize_error(error, request_id="r-1")
    assert response.status == 400  # AWS's JSON services answer a refused signature with 400
    assert b'"__type": "InvalidSignatureException"' in response.body
