"""InvokeWithResponseStream, read with boto3's event stream decoder: a function that answers whole comes back as
one PayloadChunk and an InvokeComplete, as AWS sends it; a failure as InvokeComplete with the error."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError

from tests.functional.conftest import functions_on

ANSWER = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("bad input")
    print("streamed once")
    return {"echo": event}
"""


def test_a_whole_answer_arrives_as_one_chunk_and_completion(lambda_client, server) -> None:
    with functions_on(lambda_client, server.runtime) as make:
        name = make(ANSWER)
        response = lambda_client.invoke_with_response_stream(FunctionName=name, Payload=json.dumps({"a": 1}),
                                                             LogType="Tail")
        assert (response["StatusCode"], response["ExecutedVersion"]) == (200, "$LATEST")
        assert response["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
        events = list(response["EventStream"])
        assert [list(event) for event in events] == [["PayloadChunk"], ["InvokeComplete"]]
        assert json.loads(events[0]["PayloadChunk"]["Payload"]) == {"echo": {"a": 1}}
        assert "streamed once" in base64.b64decode(events[1]["InvokeComplete"]["LogResult"]).decode()

        failed = list(lambda_client.invoke_with_response_stream(FunctionName=name,
                                                                Payload=json.dumps({"fail": True}))["EventStream"])
        assert failed == [{"InvokeComplete": {"ErrorCode": "ValueError", "ErrorDetails": "bad input"}}]
        assert lambda_client.invoke_with_response_stream(FunctionName=name, InvocationType="DryRun")[
            "StatusCode"] == 204


def test_bad_requests_get_invokes_errors(lambda_client, server) -> None:
    with pytest.raises(ClientError) as missing:
        lambda_client.invoke_with_response_stream(FunctionName="no-such-function-here", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with functions_on(lambda_client, server.runtime) as make:
        name = make(ANSWER)
        with pytest.raises(ClientError) as not_json:
            lambda_client.invoke_with_response_stream(FunctionName=name, Payload=b"{not json")
        assert not_json.value.response["Error"]["Code"] == "InvalidRequestContentException"
