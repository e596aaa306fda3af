"""Functions run as their execution role, as on Lambda: each environment gets AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN for `assumed-role/ROLE/FUNCTION`, which boto3 inside the
function picks up by itself. The functions call back into the server that runs them, so these
servers run at the plain level (the function reaches 127.0.0.1) and the function is told the URL
through its own variable, EMBER_TEST_URL."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from ember.iam.access_keys import role_id_from_name
from tests.functional.conftest import (
    DEFAULT_RUNTIME,
    ROLE,
    EmberServer,
    iam_mode_server,
    invoke_json,
    make_zip,
    unique_name,
)
from tests.functional.test_iam_auth import ACCOUNT, LAMBDA_TRUST, refusal

#: what the function does with the credentials it was given: asks who it is, lists functions, and
#: asks for the account's settings (which the test's role does not allow)
CALLER = """
import hashlib
import os

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def handler(event, context):
    url = os.environ["EMBER_TEST_URL"]
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=60)
    # No credentials given: boto3 finds them where Lambda puts them, in the environment.
    session = boto3.session.Session(region_name=os.environ["AWS_REGION"])
    result = {"present": [name for name in NAMES if os.environ.get(name)],
              "key_id": os.environ.get("AWS_ACCESS_KEY_ID"),
              "secret_sha256": hashlib.sha256(os.environ.get("AWS_SECRET_ACCESS_KEY", "").encode()).hexdigest(),
              "method": session.get_credentials().method}
    identity = session.client("sts", endpoint_url=url, config=config).get_caller_identity()
    result["identity"] = {key: identity[key] for key in ("Arn", "UserId", "Account")}
    lam = session.client("lambda", endpoint_url=url, config=config)
    try:
        result["functions"] = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    except ClientError as error:
        result["list_error"] = error.response["Error"]
    try:
        lam.get_account_settings()
        result["settings"] = "allowed"
    except ClientError as error:
        result["settings_error"] = {"Code": error.response["Error"]["Code"],
                                    "Message": error.response["Error"]["Message"]}
    return result
"""
ALLOW_LISTING = {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}]}
CANNOT_ASSUME = "The role defined for the function cannot be assumed by Lambda."


@pytest.fixture(scope="module")
def iam_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmberServer]:
    ember = iam_mode_server(tmp_path_factory.mktemp("exec-role") / "data")
    yield ember
    ember.shut_down()


@pytest.fixture(scope="module")
def lister_role(iam_server: EmberServer) -> str:
    """A role Lambda may assume that allows lambda:ListFunctions and nothing else."""
    iam = iam_server.root_client("iam")
    arn = iam.create_role(RoleName="lister", Path="/service-role/",
                          AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))["Role"]["Arn"]
    iam.put_role_policy(RoleName="lister", PolicyName="list", PolicyDocument=json.dumps(ALLOW_LISTING))
    return arn


def functions(client, url: str) -> Iterator[Callable[..., str]]:
    """make(role, name=None): a function running CALLER with `role`, told `url`; deleted afterwards."""
    made: list[str] = []

    def make(role: str, name: str | None = None) -> str:
        name = name or unique_name("role")
        client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=role, Handler="index.handler",
                               Code={"ZipFile": make_zip({"index.py": CALLER})}, Timeout=90,
                               Environment={"Variables": {"EMBER_TEST_URL": url}})
        made.append(name)
        return name

    yield make
    for name in made:
        client.delete_function(FunctionName=name)


@pytest.fixture
def make_caller(iam_server: EmberServer) -> Iterator[Callable[..., str]]:
    yield from functions(iam_server.root_client("lambda"), iam_server.url)


def run(client, name: str) -> dict:
    response, payload = invoke_json(client, name)
    assert "FunctionError" not in response, payload
    return payload


class TestIamMode:
    def test_a_function_acts_as_its_role_and_is_denied_what_the_role_does_not_allow(
            self, iam_server: EmberServer, lister_role: str, make_caller) -> None:
        lam = iam_server.root_client("lambda")
        name = make_caller(lister_role)
        result = run(lam, name)
        assert result["present"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
        assert result["method"] == "env" and result["key_id"].startswith("ASIA")
        role_id = iam_server.root_client("iam").get_role(RoleName="lister")["Role"]["RoleId"]
        assumed = f"arn:aws:sts::{ACCOUNT}:assumed-role/lister/{name}"
        assert result["identity"] == {"Arn": assumed, "UserId": f"{role_id}:{name}", "Account": ACCOUNT}
        assert name in result["functions"]
        assert result["settings_error"] == {
            "Code": "AccessDeniedException",
            "Message": f"User: {assumed} is not authorized to perform: lambda:GetAccountSettings on resource: * "
                       "because no identity-based policy allows the lambda:GetAccountSettings action"}

    def test_each_function_gets_credentials_of_its_own_kept_out_of_its_configuration(
            self, iam_server: EmberServer, lister_role: str, make_caller) -> None:
        lam = iam_server.root_client("lambda")
        first, second = make_caller(lister_role), make_caller(lister_role)
        one, other = run(lam, first), run(lam, second)
        assert one["key_id"] != other["key_id"] and one["secret_sha256"] != other["secret_sha256"]
        assert one["identity"]["Arn"].endswith(f"/lister/{first}")
        assert other["identity"]["Arn"].endswith(f"/lister/{second}")
        assert run(lam, first)["key_id"] == one["key_id"]  # the same warm environment, the same session
        configuration = lam.get_function_configuration(FunctionName=first)
        assert configuration["Environment"] == {"Variables": {"EMBER_TEST_URL": iam_server.url}}
        assert configuration["Role"] == lister_role
        assert one["key_id"] not in json.dumps(lam.get_function(FunctionName=first), default=str)
        # The three names stay Lambda's: a function cannot set them, as on AWS.
        code, message, status = refusal(lambda: lam.update_function_configuration(
            FunctionName=first, Environment={"Variables": {"AWS_SESSION_TOKEN": "mine", "AWS_ACCESS_KEY_ID": "me"}}))
        assert (code, status) == ("InvalidParameterValueException", 400)
        assert message.endswith("Reserved keys used in this request: AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN")

    def test_a_role_lambda_cannot_assume_is_refused_in_aws_words(
            self, iam_server: EmberServer, lister_role: str, make_caller) -> None:
        iam, lam = iam_server.root_client("iam"), iam_server.root_client("lambda")
        ec2_trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        ec2_role = iam.create_role(RoleName="ec2-only", AssumeRolePolicyDocument=json.dumps(ec2_trust))["Role"]["Arn"]
        missing = f"arn:aws:iam::{ACCOUNT}:role/never-made"
        package = make_zip({"index.py": "def handler(event, context):\n    return 1\n"})
        for role in (missing, ec2_role, f"arn:aws:iam::{ACCOUNT}:role/lister"):  # the last: without its path
            assert refusal(lambda role=role: lam.create_function(
                FunctionName="refused", Runtime=DEFAULT_RUNTIME, Role=role, Handler="index.handler",
                Code={"ZipFile": package})) == ("InvalidParameterValueException", CANNOT_ASSUME, 400), role
        assert refusal(lambda: lam.get_function(FunctionName="refused"))[0] == "ResourceNotFoundException"
        name = make_caller(lister_role)
        assert refusal(lambda: lam.update_function_configuration(FunctionName=name, Role=ec2_role)) == (
            "InvalidParameterValueException", CANNOT_ASSUME, 400)
        assert lam.get_function_configuration(FunctionName=name)["Role"] == lister_role
        # Once the role trusts Lambda, it can be given.
        iam.update_assume_role_policy(RoleName="ec2-only", PolicyDocument=json.dumps(LAMBDA_TRUST))
        assert lam.update_function_configuration(FunctionName=name, Role=ec2_role)["Role"] == ec2_role


@pytest.fixture
def make_open_caller(plain_server: EmberServer) -> Iterator[Callable[..., str]]:
    yield from functions(plain_server.lambda_client(), plain_server.url)


def test_open_mode_gives_functions_credentials_too(plain_server: EmberServer, make_open_caller) -> None:
    lam = plain_server.lambda_client()
    name = make_open_caller(ROLE)  # a role no IAM holds: open mode takes any ARN, as before
    result = run(lam, name)
    assert result["present"] == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]
    assert result["method"] == "env" and result["key_id"].startswith("ASIA")
    assert result["identity"] == {"Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/lambda-role/{name}",
                                  "UserId": f"{role_id_from_name('lambda-role')}:{name}", "Account": ACCOUNT}
    assert name in result["functions"] and result["settings"] == "allowed"  # open mode checks no policy


#: reads the three variables without calling out (the session server's level may have no network), and
#: whether its runtime was parked: one started before it had a function was not started with its variables
SHOWS_CREDENTIALS = """
import os

def handler(event, context):
    with open("/proc/self/environ", "rb") as handle:
        started_with = handle.read()
    seen = {name: os.environ.get(name, "")[:4] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                            "AWS_SESSION_TOKEN")}
    return {"parked": b"AWS_LAMBDA_FUNCTION_NAME=" not in started_with, **seen}
"""


def test_every_level_hands_the_credentials_over_parked_environments_too(server: EmberServer, make_function,
                                                                         sandbox_level: str) -> None:
    """At the level the session server chose. Where it parks Python environments (isolated), they are
    given their function's variables when taken, credentials included: new functions are invoked until
    one runs in a parked environment (the first cold start prepares the parking lot)."""
    lam = server.lambda_client()
    deadline = time.monotonic() + 60
    while True:
        seen = run(lam, make_function(SHOWS_CREDENTIALS))
        assert (seen["AWS_ACCESS_KEY_ID"], bool(seen["AWS_SECRET_ACCESS_KEY"]), bool(seen["AWS_SESSION_TOKEN"])) == (
            "ASIA", True, True), seen
        if seen["parked"] or sandbox_level != "isolated" or time.monotonic() > deadline:
            break
        time.sleep(1)
    if sandbox_level == "isolated":
        assert seen["parked"], "no environment came from the parking lot within 60 s"
