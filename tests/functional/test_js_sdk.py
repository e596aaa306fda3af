"""The AWS SDK for JavaScript v3 inside a Node.js function reaches Ember with no endpoint and no keys in its code.

The SDK's packages come from tests/js-sdk (pinned by its package-lock.json; `make test` installs them with
`npm ci`) and reach the function as a layer (nodejs/node_modules), as users ship them to Lambda. The function
lists functions, invokes another (a Python function) and writes a log event, through AWS_ENDPOINT_URL and the
execution role's credentials, as the SDK finds them in its environment.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from pathlib import Path

import pytest

from tests.functional.conftest import EmberServer, functions_on, invoke_json

SDK_DIR = Path(__file__).resolve().parents[1] / "js-sdk"

CALLER = """
const { LambdaClient, ListFunctionsCommand, InvokeCommand } = require("@aws-sdk/client-lambda");
const { CloudWatchLogsClient, CreateLogStreamCommand, PutLogEventsCommand } =
  require("@aws-sdk/client-cloudwatch-logs");

exports.handler = async (event, context) => {
  const lambda = new LambdaClient({});
  const listed = await lambda.send(new ListFunctionsCommand({}));
  const answer = await lambda.send(new InvokeCommand({ FunctionName: event.callee,
                                                       Payload: JSON.stringify({ from: context.functionName }) }));
  const logs = new CloudWatchLogsClient({});
  await logs.send(new CreateLogStreamCommand({ logGroupName: context.logGroupName, logStreamName: event.stream }));
  await logs.send(new PutLogEventsCommand({
    logGroupName: context.logGroupName, logStreamName: event.stream,
    logEvents: [{ timestamp: Date.now(), message: "written by the JS SDK" }] }));
  return { endpoint: process.env.AWS_ENDPOINT_URL,
           functions: listed.Functions.map((f) => f.FunctionName),
           callee: JSON.parse(Buffer.from(answer.Payload).toString()) };
};
"""

CALLEE = """
def handler(event, context):
    return {"called by": event["from"], "callee": context.function_name}
"""


def sdk_layer_zip() -> bytes:
    """tests/js-sdk/node_modules as a layer: nodejs/node_modules/..."""
    modules = SDK_DIR / "node_modules"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for path in sorted(modules.rglob("*")):
            if path.is_file():
                archive.write(path, f"nodejs/node_modules/{path.relative_to(modules)}")
    return buffer.getvalue()


def test_the_js_sdk_v3_in_a_nodejs_function_reaches_ember(server: EmberServer, lambda_client, node_runtime: str
                                                          ) -> None:
    if not (SDK_DIR / "node_modules" / "@aws-sdk" / "client-lambda").is_dir():
        pytest.skip("the JS SDK is not installed in tests/js-sdk: `make test` runs npm ci there")
    layer = lambda_client.publish_layer_version(LayerName=f"js-sdk-{uuid.uuid4().hex[:8]}",
                                                Content={"ZipFile": sdk_layer_zip()})
    stream = f"js-sdk-{uuid.uuid4().hex[:8]}"
    try:
        with functions_on(lambda_client, server.runtime) as make_python, \
                functions_on(lambda_client, node_runtime) as make_node:
            callee = make_python(CALLEE)
            caller = make_node(files={"index.js": CALLER}, Layers=[layer["LayerVersionArn"]], Timeout=60,
                               MemorySize=256)
            response, result = invoke_json(lambda_client, caller, {"callee": callee, "stream": stream})
            assert "FunctionError" not in response, result
            assert result["endpoint"].startswith("http://127.0.0.1:")
            assert caller in result["functions"] and callee in result["functions"]
            assert result["callee"] == {"called by": caller, "callee": callee}
            logs = server.client("logs")
            deadline = time.monotonic() + 30
            while True:  # log events are committed in batches: wait for this one
                events = logs.get_log_events(logGroupName=f"/aws/lambda/{caller}", logStreamName=stream)["events"]
                if events or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert [event["message"] for event in events] == ["written by the JS SDK"], json.dumps(events)
    finally:
        lambda_client.delete_layer_version(LayerName=layer["LayerArn"].split(":")[-1],
                                           VersionNumber=layer["Version"])
