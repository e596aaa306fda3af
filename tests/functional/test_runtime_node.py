"""The Node.js runtimes: handler styles, the context object, console's log format, errors, layers."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest

from tests.functional.conftest import ROLE, invoke_json, make_zip, unique_name

NODE_RUNTIMES = ["nodejs18.x", "nodejs20.x", "nodejs22.x"]
#: console lines as AWS's Node.js runtime writes them: ISO time, request id, level, message
LOG_LINE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t{request_id}\t{level}\t{message}"


def tail(response: dict) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def request_id(response: dict) -> str:
    return response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def log_line(request: str, level: str, message: str) -> str:
    return LOG_LINE.replace("{request_id}", re.escape(request)).replace("{level}", level).replace(
        "{message}", message)


CONTEXT_MJS = '''
export const handler = async (event, context) => {
  console.log('hello %s', 'world', {answer: 42});
  console.warn('careful');
  console.error('two\\nlines');
  console.info(JSON.stringify({identityIsOwn: 'identity' in context, clientContextIsOwn: 'clientContext' in context}));
  return {
    functionName: context.functionName,
    functionVersion: context.functionVersion,
    invokedFunctionArn: context.invokedFunctionArn,
    memoryLimitInMB: context.memoryLimitInMB,
    awsRequestId: context.awsRequestId,
    logGroupName: context.logGroupName,
    logStreamName: context.logStreamName,
    remaining: context.getRemainingTimeInMillis(),
    waits: context.callbackWaitsForEmptyEventLoop,
    identity: context.identity ?? null,
    clientContext: context.clientContext ?? null,
    event,
    env: {
      execution: process.env.AWS_EXECUTION_ENV, handler: process.env._HANDLER, taskRoot: process.env.LAMBDA_TASK_ROOT,
      nodePath: process.env.NODE_PATH, trace: process.env._X_AMZN_TRACE_ID ?? null,
    },
    node: process.versions.node,
    cwd: process.cwd(),
    gc: typeof globalThis.gc,
  };
};
'''


def test_esm_async_handler_context_and_console_format(node_runtime: str, lambda_client, make_function) -> None:
    name = make_function(files={"index.mjs": CONTEXT_MJS}, runtime=node_runtime, Timeout=7, MemorySize=256)
    client_context = base64.b64encode(json.dumps({"custom": {"k": "v"}, "env": {"e": "1"}}).encode()).decode()
    response, seen = invoke_json(lambda_client, name, {"hello": "node"}, LogType="Tail", ClientContext=client_context)
    assert "FunctionError" not in response, seen
    request = request_id(response)
    assert seen["functionName"] == name
    assert seen["functionVersion"] == "$LATEST"
    assert seen["invokedFunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert seen["memoryLimitInMB"] == "256"  # a string, as on Lambda
    assert seen["awsRequestId"] == request
    assert seen["logGroupName"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", seen["logStreamName"])
    assert 0 < seen["remaining"] <= 7000
    assert seen["waits"] is True
    assert seen["identity"] is None
    assert seen["clientContext"] == {"custom": {"k": "v"}, "env": {"e": "1"}}
    assert seen["event"] == {"hello": "node"}
    env = seen["env"]
    assert env["execution"] == f"AWS_Lambda_{node_runtime}"
    assert env["handler"] == "index.handler"
    assert env["taskRoot"] == seen["cwd"] == "/var/task"
    major = node_runtime.removeprefix("nodejs").removesuffix(".x")
    assert env["nodePath"].split(":")[:2] == [f"/opt/nodejs/node{major}/node_modules", "/opt/nodejs/node_modules"]
    assert env["trace"].startswith("Root=1-")
    assert seen["node"].split(".")[0] == major
    assert seen["gc"] == "function"

    log = tail(response)
    lines = log.split("\n")
    assert any(re.fullmatch(log_line(request, "INFO", r"hello world \{ answer: 42 \}"), line) for line in lines), log
    assert any(re.fullmatch(log_line(request, "WARN", "careful"), line) for line in lines), log
    assert any(re.fullmatch(log_line(request, "ERROR", "two\rlines"), line) for line in lines), log
    assert '{"identityIsOwn":true,"clientContextIsOwn":true}' in log


CALLBACK_JS = '''
exports.handler = (event, context, callback) => {
  if (event.noWait) {
    context.callbackWaitsForEmptyEventLoop = false;
  }
  setTimeout(() => console.log('timer fired'), event.timerMs);
  callback(null, {style: 'callback', waited: !event.noWait});
};
'''


def test_callback_handler_waits_for_the_event_loop_unless_told_not_to(node_runtime: str, lambda_client,
                                                                      make_function) -> None:
    name = make_function(files={"index.js": CALLBACK_JS}, runtime=node_runtime, Timeout=10)
    response, result = invoke_json(lambda_client, name, {"timerMs": 300}, LogType="Tail")
    assert "FunctionError" not in response, result
    assert result == {"style": "callback", "waited": True}
    assert "\tINFO\ttimer fired" in tail(response)  # the result waited for the timer

    started = time.monotonic()
    response, result = invoke_json(lambda_client, name, {"timerMs": 3000, "noWait": True}, LogType="Tail")
    assert time.monotonic() - started < 2.5, "callbackWaitsForEmptyEventLoop = false still waited for the timer"
    assert result == {"style": "callback", "waited": False}
    assert "timer fired" not in tail(response)


ESM_PACKAGE = {
    "package.json": '{"type": "module"}',
    "src/app.js": "import {greet} from './lib.js';\nexport const handler = async (event) => greet(event.who);\n",
    "src/lib.js": "export const greet = (who) => `hello ${who} from an ES module`;\n",
}
CJS_PACKAGE = {
    "index.js": "const helper = require('./helper');\nconst greeting = require('greeting');\n"
                "exports.nested = {handler: async (event) => ({helper: helper.name, layer: greeting()})};\n",
    "helper.js": "module.exports = {name: 'commonjs helper'};\n",
}
LAYER_MODULE = {"nodejs/node_modules/greeting/index.js": "module.exports = () => 'hello from a layer';\n"}


def test_es_modules_commonjs_subfolders_and_layer_packages(node_runtime: str, lambda_client, make_function) -> None:
    esm = make_function(files=ESM_PACKAGE, handler="src/app.handler", runtime=node_runtime)
    response, result = invoke_json(lambda_client, esm, {"who": "ember"})
    assert "FunctionError" not in response, result
    assert result == "hello ember from an ES module"

    layer = lambda_client.publish_layer_version(LayerName=unique_name("node-layer"),
                                                Content={"ZipFile": make_zip(LAYER_MODULE)})
    cjs = make_function(files=CJS_PACKAGE, handler="index.nested.handler", runtime=node_runtime,
                        Layers=[layer["LayerVersionArn"]])
    response, result = invoke_json(lambda_client, cjs)
    assert "FunctionError" not in response, result
    assert result == {"helper": "commonjs helper", "layer": "hello from a layer"}


ERRORS_JS = '''
exports.handler = async (event) => {
  if (event.kind === 'throw') {
    throw new TypeError('bad input: ' + event.detail);
  }
  return 'fine';
};
exports.callbackString = (event, context, callback) => callback('plain string failure');
exports.uncaught = (event, context, callback) => {
  setTimeout(() => { throw new RangeError('out of range, later'); }, 10);
};
exports.neverSettles = async () => new Promise(() => {});
'''


def test_function_errors_are_shaped_and_logged_as_on_lambda(node_runtime: str, lambda_client,
                                                            make_function) -> None:
    name = make_function(files={"index.js": ERRORS_JS}, runtime=node_runtime)
    response, error = invoke_json(lambda_client, name, {"kind": "throw", "detail": "x"}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "TypeError"
    assert error["errorMessage"] == "bad input: x"
    assert error["trace"][0] == "TypeError: bad input: x"
    assert any("/var/task/index.js" in frame for frame in error["trace"][1:]), error["trace"]
    line = next(line for line in tail(response).split("\n") if "\tERROR\tInvoke Error " in line)
    assert re.fullmatch(log_line(request_id(response), "ERROR", r"Invoke Error \t\{.*\}"), line), line
    logged = json.loads(line.split("Invoke Error \t", 1)[1])
    assert logged["errorType"] == "TypeError" and logged["errorMessage"] == "bad input: x"
    assert logged["stack"][0] == "TypeError: bad input: x"

    other = make_function(files={"index.js": ERRORS_JS}, handler="index.callbackString", runtime=node_runtime)
    response, error = invoke_json(lambda_client, other)
    assert response["FunctionError"] == "Unhandled"
    assert error == {"errorType": "string", "errorMessage": "plain string failure", "trace": []}


def test_uncaught_exception_fails_the_invocation_and_the_next_one_starts_afresh(node_runtime: str, lambda_client,
                                                                               make_function) -> None:
    name = make_function(files={"index.js": ERRORS_JS}, handler="index.uncaught", runtime=node_runtime)
    response, error = invoke_json(lambda_client, name, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "RangeError" and error["errorMessage"] == "out of range, later"
    assert "\tERROR\tUncaught Exception \t{" in tail(response)
    # The runtime exited after reporting it: the next invocation gets a fresh environment.
    response, error = invoke_json(lambda_client, name, LogType="Tail")
    assert error["errorType"] == "RangeError"
    assert "Init Duration" in tail(response)


def test_an_async_handler_whose_promise_never_settles_fails(node_runtime: str, lambda_client,
                                                            make_function) -> None:
    name = make_function(files={"index.js": ERRORS_JS}, handler="index.neverSettles", runtime=node_runtime)
    response, error = invoke_json(lambda_client, name)
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.NodeJsExit"


@pytest.mark.parametrize(("files", "handler", "error_type", "message"), [
    ({"index.js": "exports.handler = async () => 1;\n"}, "missing.handler", "Runtime.ImportModuleError",
     "Error: Cannot find module 'missing'"),
    ({"index.js": "exports.handler = async () => 1;\n"}, "index.nope", "Runtime.HandlerNotFound",
     "index.nope is undefined or not exported"),
    ({"index.js": "exports.handler = 'not a function';\n"}, "index.handler", "Runtime.HandlerNotFound",
     "index.handler is not a function"),
    ({"index.mjs": "export const handler = async () => {\n"}, "index.handler", "Runtime.UserCodeSyntaxError",
     "SyntaxError: "),
    ({"index.js": "exports.handler = async () => 1;\n"}, "index", "Runtime.MalformedHandlerName", "Bad handler"),
    ({"index.js": "throw new Error('config missing');\n"}, "index.handler", "Error", "config missing"),
], ids=["missing-module", "handler-not-exported", "not-a-function", "syntax-error", "malformed-handler",
        "exception-at-load"])
def test_init_errors(files: dict[str, str], handler: str, error_type: str, message: str, node_runtime: str,
                     lambda_client, make_function) -> None:
    name = make_function(files=files, handler=handler, runtime=node_runtime)
    response, error = invoke_json(lambda_client, name, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == error_type
    assert error["errorMessage"].startswith(message), error["errorMessage"]
    assert isinstance(error["trace"], list) and "requestId" not in error
    log = tail(response)
    assert re.search(r"\tundefined\tERROR\tUncaught Exception \t\{\"errorType\":\"" + re.escape(error_type), log), log


LEVELS_JS = '''
exports.handler = async () => {
  console.debug('too detailed');
  console.info('just information');
  console.warn('a warning', {code: 7});
  console.error(new Error('an error object'));
  return 'logged';
};
'''


def test_json_log_format_and_log_level(node_runtime: str, lambda_client, make_function) -> None:
    name = make_function(files={"index.js": LEVELS_JS}, runtime=node_runtime,
                         Environment={"Variables": {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}})
    response, result = invoke_json(lambda_client, name, LogType="Tail")
    assert result == "logged"
    records = [json.loads(line) for line in tail(response).split("\n") if line.startswith("{")]
    assert [record["level"] for record in records] == ["WARN", "ERROR"]  # below WARN is dropped
    warning, error = records
    assert warning["message"] == "a warning { code: 7 }" and warning["requestId"] == request_id(response)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", warning["timestamp"])
    assert error["message"]["errorType"] == "Error" and error["message"]["errorMessage"] == "an error object"


def test_the_aws_cli_deploys_and_invokes_a_node_function(node_runtime: str, server, tmp_path) -> None:
    package = tmp_path / "function.zip"
    package.write_bytes(make_zip({"index.mjs": "export const handler = async (e) => ({sum: e.a + e.b});\n"}))
    name = unique_name("cli-node")
    server.aws("lambda", "create-function", "--function-name", name, "--runtime", node_runtime, "--role", ROLE,
               "--handler", "index.handler", "--zip-file", f"fileb://{package}")
    try:
        out = tmp_path / "out.json"
        server.aws("lambda", "invoke", "--function-name", name, "--payload", '{"a": 2, "b": 3}', str(out))
        assert json.loads(out.read_text()) == {"sum": 5}
    finally:
        server.aws("lambda", "delete-function", "--function-name", name)


@pytest.mark.parametrize("runtime", NODE_RUNTIMES)
def test_a_node_runtime_without_its_node_is_refused_at_create(runtime: str, available_runtimes: set[str],
                                                              lambda_client) -> None:
    if runtime in available_runtimes:
        pytest.skip(f"this host has a node for {runtime}")
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as caught:
        lambda_client.create_function(FunctionName=unique_name(), Runtime=runtime, Role=ROLE, Handler="index.handler",
                                      Code={"ZipFile": make_zip({"index.js": ""})})
    message = caught.value.response["Error"]["Message"]
    variable = "EMBER_" + runtime.upper().replace(".", "_")
    assert message.startswith(f"Runtime {runtime} is not available on this Ember host"), message
    assert variable in message
