"""The Runtime API hands an invocation's trace id to the runtime as Lambda-Runtime-Trace-Id."""

from __future__ import annotations

from ember.runtime_api.channel import PendingInvocation
from ember.runtime_api.server import invocation_headers

TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_the_trace_id_is_a_runtime_api_header() -> None:
    invocation = PendingInvocation("id-1", b"{}", 1_700_000_000_000, "arn:aws:lambda:us-east-1:0:function:f",
                                   trace_id=TRACE_ID)
    headers = dict(invocation_headers(invocation))
    assert headers["Lambda-Runtime-Trace-Id"] == TRACE_ID
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "id-1"


def test_no_trace_id_no_header() -> None:
    invocation = PendingInvocation("id-2", b"{}", 1_700_000_000_000, "arn:aws:lambda:us-east-1:0:function:f")
    assert "Lambda-Runtime-Trace-Id" not in dict(invocation_headers(invocation))
