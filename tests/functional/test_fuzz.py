"""Fuzzing every Lambda, CloudWatch Logs and CloudWatch operation Ember serves, from the botocore models.

Each operation gets seeded random requests (see fuzzing.py), round-robin so that a time budget cut
still covers every operation. Whatever comes in, Ember must answer below 500, name an AWS error
type the operation's model lists (or a generic AWS one), and stay healthy.

EMBER_FUZZ_SEED varies the inputs; EMBER_FUZZ_CASES and EMBER_FUZZ_BUDGET_S bound the run. A
failure names the seed, operation and case, which is enough to replay it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable

import pytest
import urllib3
from botocore.model import OperationModel

import ember.lambda_.service
from ember.services.base import load_model
from ember.services.cloudwatch.operations import CloudWatchOperations
from ember.services.logs.operations import LogsOperations
from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer
from tests.functional.fuzzing import HOSTILE_BODIES, FuzzRequest, Generator, NamePool, build_request

SEED = int(os.environ.get("EMBER_FUZZ_SEED", "1107"))
CASES_PER_OPERATION = int(os.environ.get("EMBER_FUZZ_CASES", "60"))
BUDGET_S = float(os.environ.get("EMBER_FUZZ_BUDGET_S", "60"))
#: rounds over every operation that must fit in the budget however busy the machine
MIN_ROUNDS = 3
#: operations that run function code: fuzzed only against functions that do not exist
RUNS_CODE = {"Invoke", "InvokeAsync", "InvokeWithResponseStream", "PutProvisionedConcurrencyConfig"}
#: what any operation may answer for a request it cannot read or route, as AWS does
GENERIC_ERRORS = {"ValidationException", "SerializationException", "InvalidRequestContentException",
                  "UnknownOperationException", "RequestEntityTooLargeException"}
#: each service's own generic answers to bad parameters and oversized bodies, on operations whose
#: model lists none: Lambda's, and CloudWatch's (the query API's InvalidParameterValue, InvalidNextToken)
SERVICE_ERRORS = {"lambda": {"InvalidParameterValueException", "RequestTooLargeException"},
                  "logs": {"InvalidParameterException"},
                  "cloudwatch": {"InvalidParameterValueException", "InvalidNextToken"}}
PREFIX = f"fuzz{SEED}"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def served_operations() -> list[OperationModel]:
    """The operations Ember implements (the rest answer NotImplementedException by design)."""
    lambda_groups = [value for name, value in vars(ember.lambda_.service).items()
                     if name.endswith("Operations") and isinstance(value, type)]
    served = []
    for service_name, groups in (("lambda", lambda_groups), ("logs", [LogsOperations]),
                                 ("cloudwatch", [CloudWatchOperations])):
        model = load_model(service_name)
        served += [model.operation_model(name) for name in model.operation_names
                   if any(hasattr(group, _snake(name)) for group in groups)]
    return served


def make_case(operation: OperationModel, index: int) -> FuzzRequest:
    """Case `index` of `operation`: the same request for the same seed, whatever ran before."""
    rng = random.Random(f"{SEED}/{operation.service_model.service_name}/{operation.name}/{index}")
    hostile_rate = rng.choice((0.0, 0.05, 0.05, 0.3))
    # Clean cases send few optional members, so that some get past validation to the handlers.
    optional_rate = 0.08 if hostile_rate == 0.0 else 0.3
    generator = Generator(rng, NamePool(PREFIX), DEFAULT_RUNTIME, hostile_rate, optional_rate)
    params = generator.structure(operation.input_shape) if operation.input_shape is not None else {}
    if operation.name in RUNS_CODE and "FunctionName" in params:
        params["FunctionName"] = f"{PREFIX}-missing"
    body_override = rng.choice(HOSTILE_BODIES) if rng.random() < 0.12 else None
    return build_request(operation, params, body_override, rng)


def judge(operation: OperationModel, response: urllib3.BaseHTTPResponse) -> str | None:
    """What is wrong with the answer, or None."""
    if response.status >= 500:
        return f"answered {response.status}"
    is_json = "json" in response.headers.get("content-type", "")
    document = None
    if is_json and response.data:
        try:
            document = json.loads(response.data)
        except ValueError:
            return f"answered {response.status} with a body that is not JSON"
    if response.status < 400:
        return None
    code = response.headers.get("x-amzn-errortype", "").split(":")[0]
    if not code and isinstance(document, dict):
        code = str(document.get("__type", "")).rpartition("#")[2]
    if not code:
        return f"answered {response.status} without an AWS error type"
    allowed = ({shape.name for shape in operation.error_shapes} | GENERIC_ERRORS
               | SERVICE_ERRORS[operation.service_model.service_name])
    if code not in allowed:
        return f"answered {response.status} {code}, an error the operation's model does not name"
    return None


def is_healthy(ember: EmberServer) -> bool:
    try:
        answer = urllib3.request("GET", f"{ember.url}/_ember/health", timeout=30, retries=False)
    except urllib3.exceptions.HTTPError:
        return False
    return answer.status == 200 and json.loads(answer.data).get("status") == "ready"


def replenish(ember: EmberServer) -> None:
    """(Re)create the resources the name pool points at, so fuzzed requests reach past "not found"
    even after fuzzed deletes removed them."""
    pool = NamePool(PREFIX)
    lambda_client, logs = ember.lambda_client(), ember.client("logs")
    for name in (f"{PREFIX}-a", f"{PREFIX}-b"):
        with contextlib.suppress(lambda_client.exceptions.ResourceConflictException):
            lambda_client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE,
                                          Handler="index.handler", Code={"ZipFile": pool.valid_zip()})
    if not lambda_client.list_aliases(FunctionName=f"{PREFIX}-a")["Aliases"]:
        version = lambda_client.publish_version(FunctionName=f"{PREFIX}-a")["Version"]
        lambda_client.create_alias(FunctionName=f"{PREFIX}-a", Name="live", FunctionVersion=version)
    if not lambda_client.list_layer_versions(LayerName=f"{PREFIX}-layer")["LayerVersions"]:
        lambda_client.publish_layer_version(LayerName=f"{PREFIX}-layer", Content={"ZipFile": pool.valid_zip()})
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_group(logGroupName=f"{PREFIX}-group")
    with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=f"{PREFIX}-group", logStreamName="s1")


def clean_up(ember: EmberServer) -> None:
    """Delete the functions, layers and log groups the fuzzed requests created."""
    lambda_client, logs = ember.lambda_client(), ember.client("logs")
    for page in lambda_client.get_paginator("list_functions").paginate():
        for function in page["Functions"]:
            if function["FunctionName"].startswith(PREFIX):
                lambda_client.delete_function(FunctionName=function["FunctionName"])
    layers = [layer["LayerName"] for page in lambda_client.get_paginator("list_layers").paginate()
              for layer in page["Layers"] if layer["LayerName"].startswith(PREFIX)]
    for layer in layers:
        for page in lambda_client.get_paginator("list_layer_versions").paginate(LayerName=layer):
            for version in page["LayerVersions"]:
                lambda_client.delete_layer_version(LayerName=layer, VersionNumber=version["Version"])
    for group_prefix in ("/aws/lambda/" + PREFIX, PREFIX):
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=group_prefix):
            for group in page["logGroups"]:
                logs.delete_log_group(logGroupName=group["logGroupName"])


@pytest.mark.timeout(BUDGET_S + 240)
def test_fuzzed_requests_get_aws_errors_and_never_a_500(start_server: Callable[..., EmberServer]) -> None:
    ember = start_server()
    operations = served_operations()
    assert len(operations) > 50, "the fuzzer finds the operations Ember serves"
    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=10, read=60))
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    sent = 0
    deadline = time.monotonic() + BUDGET_S
    for index in range(CASES_PER_OPERATION):
        if time.monotonic() > deadline and index >= MIN_ROUNDS:
            break
        replenish(ember)
        for operation in operations:
            request = make_case(operation, index)
            where = f"EMBER_FUZZ_SEED={SEED} {operation.service_model.service_name}.{operation.name} case {index}"
            try:
                response = http.request(request.method, ember.url + request.path, body=request.body,
                                        headers=request.headers)
            except urllib3.exceptions.HTTPError as exc:
                failures.append(f"{where}: no answer ({exc!r})\n    {request.describe()}")
                continue
            sent += 1
            statuses[response.status] += 1
            problem = judge(operation, response)
            if problem:
                failures.append(f"{where}: {problem}: {response.data[:300]!r}\n    {request.describe()}")
        assert is_healthy(ember), f"the server is unhealthy after round {index}"
    clean_up(ember)
    left = [f["FunctionName"] for f in ember.lambda_client().list_functions()["Functions"]]
    assert [name for name in left if name.startswith(PREFIX)] == [], "the clean-up removed every fuzzed function"
    print(f"fuzz: seed {SEED}, {sent} requests over {len(operations)} operations, statuses {dict(statuses)}")
    assert failures == [], f"{len(failures)} bad answers:\n" + "\n".join(failures[:40])
    assert is_healthy(ember)
    assert "Traceback" not in ember.log()
    # Plausible inputs must get through validation too, or the handlers behind it go unfuzzed.
    assert sum(count for status, count in statuses.items() if status < 300) > sent // 20
