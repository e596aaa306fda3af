"""The control plane through boto3 and the aws CLI: functions, configuration, code, tags, permissions, account."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Iterator

import pytest
import urllib3
from botocore.exceptions import ClientError, WaiterError

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, invoke_json, make_zip, unique_name

ACCOUNT = "000000000000"
REGION = "us-east-1"
ARN_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
STALE_REVISION = "The Revision Id provided does not match the latest Revision Id. " \
                 "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"

ECHO = '''
import os

VERSION = "one"

def handler(event, context):
    return {"version": VERSION, "event": event, "stage": os.environ.get("STAGE")}
'''


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def code_sha256(package: bytes) -> str:
    return base64.b64encode(hashlib.sha256(package).digest()).decode()


@pytest.fixture
def create(lambda_client) -> Iterator[Callable[..., dict]]:
    """CreateFunction with sensible defaults; returns the whole response; deletes afterwards."""
    created: list[str] = []

    def make(name: str | None = None, package: bytes | None = None, **settings: object) -> dict:
        name = name or unique_name("cp")
        settings.setdefault("Runtime", DEFAULT_RUNTIME)
        settings.setdefault("Handler", "index.handler")
        response = lambda_client.create_function(
            FunctionName=name, Role=ROLE, Code={"ZipFile": package or make_zip({"index.py": ECHO})}, **settings)
        created.append(response["FunctionName"])
        return response

    yield make
    for name in created:
        try:
            lambda_client.delete_function(FunctionName=name)
        except lambda_client.exceptions.ResourceNotFoundException:
            pass


# ---- CreateFunction / GetFunction / GetFunctionConfiguration ------------------------------------------------

def test_create_function_answers_the_configuration_as_aws_does(create) -> None:
    name = unique_name("cp-create")
    package = make_zip({"index.py": ECHO, "lib/helper.py": "X = 1\n"})

    response = create(name, package)

    assert response["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert response["FunctionName"] == name
    assert response["FunctionArn"] == ARN_PREFIX + name
    assert response["CodeSha256"] == code_sha256(package)
    assert response["CodeSize"] == len(package)
    assert response["State"] == "Active"
    assert response["LastUpdateStatus"] == "Successful"
    assert response["Version"] == "$LATEST"
    assert uuid.UUID(response["RevisionId"])  # a UUID, as on Lambda
    assert response["MemorySize"] == 128
    assert response["Timeout"] == 3
    assert response["EphemeralStorage"] == {"Size": 512}
    assert response["Architectures"] == ["x86_64"]
    assert response["PackageType"] == "Zip"
    assert response["Runtime"] == DEFAULT_RUNTIME
    assert response["Handler"] == "index.handler"
    assert response["Role"] == ROLE
    assert response["Description"] == ""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", response["LastModified"])
    assert "Environment" not in response


def test_create_function_keeps_every_setting_given(create) -> None:
    response = create(Description="does things", Timeout=30, MemorySize=1024, EphemeralStorage={"Size": 2048},
                      Environment={"Variables": {"STAGE": "dev", "EMPTY": ""}}, Architectures=["x86_64"])

    assert (response["Description"], response["Timeout"], response["MemorySize"]) == ("does things", 30, 1024)
    assert response["EphemeralStorage"] == {"Size": 2048}
    assert response["Environment"] == {"Variables": {"STAGE": "dev", "EMPTY": ""}}


def test_get_function_hands_back_the_uploaded_zip(lambda_client, create) -> None:
    package = make_zip({"index.py": ECHO, "data/blob.bin": bytes(range(256)) * 64})
    name = create(package=package, Tags={"team": "core"})["FunctionName"]

    response = lambda_client.get_function(FunctionName=name)

    assert response["Configuration"]["FunctionName"] == name
    assert response["Configuration"]["CodeSha256"] == code_sha256(package)
    assert response["Code"]["RepositoryType"] == "S3"
    assert response["Tags"] == {"team": "core"}
    download = urllib3.request("GET", response["Code"]["Location"], timeout=30)
    assert download.status == 200
    assert download.data == package


def test_get_function_configuration_matches_get_function(lambda_client, create) -> None:
    name = create(Environment={"Variables": {"STAGE": "test"}})["FunctionName"]

    configuration = lambda_client.get_function_configuration(FunctionName=name)
    from_get_function = lambda_client.get_function(FunctionName=name)["Configuration"]

    configuration.pop("ResponseMetadata")
    assert configuration == from_get_function
    assert configuration["Environment"] == {"Variables": {"STAGE": "test"}}


@pytest.mark.parametrize("form", ["arn", "partial", "arn-latest", "name-latest"])
def test_functions_are_found_by_arn_and_partial_arn(lambda_client, create, form: str) -> None:
    name = create()["FunctionName"]
    reference = {
        "arn": f"{ARN_PREFIX}{name}",
        "partial": f"{ACCOUNT}:function:{name}",
        "arn-latest": f"{ARN_PREFIX}{name}:$LATEST",
        "name-latest": f"{name}:$LATEST",
    }[form]

    assert lambda_client.get_function_configuration(FunctionName=reference)["FunctionName"] == name
    # A qualifier in the name, $LATEST included, comes back in the ARN (as Lambda answers).
    expected_arn = ARN_PREFIX + name + (":$LATEST" if form.endswith("latest") else "")
    assert lambda_client.get_function(FunctionName=reference)["Configuration"]["FunctionArn"] == expected_arn
    response, result = invoke_json(lambda_client, reference, {"via": form})
    assert response["StatusCode"] == 200
    assert result["event"] == {"via": form}


def test_update_and_delete_by_arn_and_partial_arn(lambda_client, create) -> None:
    name = create()["FunctionName"]

    updated = lambda_client.update_function_configuration(FunctionName=f"{ARN_PREFIX}{name}", Timeout=7)
    assert updated["Timeout"] == 7
    assert updated["FunctionName"] == name
    updated = lambda_client.update_function_code(FunctionName=f"{ACCOUNT}:function:{name}",
                                                 ZipFile=make_zip({"index.py": ECHO.replace('"one"', '"two"')}))
    assert updated["FunctionArn"] == ARN_PREFIX + name
    deleted = lambda_client.delete_function(FunctionName=f"{ACCOUNT}:function:{name}")
    assert deleted["StatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=name)


def test_a_qualifier_that_does_not_exist_is_not_found(lambda_client, create) -> None:
    name = create()["FunctionName"]

    with pytest.raises(ClientError) as caught:
        lambda_client.get_function(FunctionName=name, Qualifier="7")

    assert error_of(caught) == ("ResourceNotFoundException", 404, f"Function not found: {ARN_PREFIX}{name}:7")


# ---- ListFunctions ------------------------------------------------------------------------------------------

@pytest.fixture
def five_functions(create) -> tuple[str, list[str]]:
    prefix = f"cp-list-{uuid.uuid4().hex[:8]}-"
    names = [create(f"{prefix}{index}")["FunctionName"] for index in range(5)]
    return prefix, names


def test_list_functions_pages_with_max_items_and_marker(lambda_client, five_functions) -> None:
    prefix, names = five_functions
    seen: list[str] = []
    pages = 0
    kwargs: dict[str, object] = {"MaxItems": 2}
    while True:
        page = lambda_client.list_functions(**kwargs)
        pages += 1
        assert len(page["Functions"]) <= 2
        seen.extend(f["FunctionName"] for f in page["Functions"])
        if "NextMarker" not in page:
            break
        kwargs["Marker"] = page["NextMarker"]
        assert pages < 10_000

    assert len(seen) == len(set(seen)), "a function was listed twice"
    assert sorted(n for n in seen if n.startswith(prefix)) == sorted(names)
    assert pages >= 3  # 5 of ours alone need 3 pages of 2


def test_list_functions_with_the_boto3_paginator(lambda_client, five_functions) -> None:
    prefix, names = five_functions
    paginator = lambda_client.get_paginator("list_functions")

    listed = [f for page in paginator.paginate(PaginationConfig={"PageSize": 2}) for f in page["Functions"]]

    listed_names = [f["FunctionName"] for f in listed]
    assert len(listed_names) == len(set(listed_names))
    ours = [f for f in listed if f["FunctionName"].startswith(prefix)]
    assert sorted(f["FunctionName"] for f in ours) == sorted(names)
    for function in ours:
        assert function["FunctionArn"] == ARN_PREFIX + function["FunctionName"]
        assert function["Runtime"] == DEFAULT_RUNTIME
        assert "State" not in function  # ListFunctions leaves the state fields out, as AWS documents


def test_list_functions_max_items_caps_a_single_page(lambda_client, five_functions) -> None:
    page = lambda_client.list_functions(MaxItems=1)
    assert len(page["Functions"]) == 1
    assert "NextMarker" in page


# ---- UpdateFunctionCode / UpdateFunctionConfiguration --------------------------------------------------------

def test_update_function_code_runs_the_new_code_next(lambda_client, create) -> None:
    created = create()
    name = created["FunctionName"]
    assert invoke_json(lambda_client, name)[1]["version"] == "one"
    new_package = make_zip({"index.py": ECHO.replace('"one"', '"two"')})

    updated = lambda_client.update_function_code(FunctionName=name, ZipFile=new_package)

    assert updated["CodeSha256"] == code_sha256(new_package) != created["CodeSha256"]
    assert updated["CodeSize"] == len(new_package)
    assert updated["RevisionId"] != created["RevisionId"]
    assert updated["LastUpdateStatus"] == "Successful"
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
    assert invoke_json(lambda_client, name)[1]["version"] == "two"
    download = urllib3.request("GET", lambda_client.get_function(FunctionName=name)["Code"]["Location"])
    assert download.data == new_package


def test_update_function_code_dry_run_changes_nothing(lambda_client, create) -> None:
    created = create()
    new_package = make_zip({"index.py": ECHO.replace('"one"', '"dry"')})

    answer = lambda_client.update_function_code(FunctionName=created["FunctionName"], ZipFile=new_package,
                                                DryRun=True)

    assert answer["CodeSha256"] == code_sha256(new_package)
    current = lambda_client.get_function_configuration(FunctionName=created["FunctionName"])
    assert current["CodeSha256"] == created["CodeSha256"]
    assert current["RevisionId"] == created["RevisionId"]


def test_update_function_configuration_changes_every_setting(lambda_client, create,
                                                             available_runtimes: set[str]) -> None:
    created = create(package=make_zip({"index.py": ECHO, "other.py": ECHO.replace('"one"', '"other"')}))
    name = created["FunctionName"]
    other_runtime = next((r for r in sorted(available_runtimes) if r.startswith("python") and r != DEFAULT_RUNTIME),
                         DEFAULT_RUNTIME)

    updated = lambda_client.update_function_configuration(
        FunctionName=name, Handler="other.handler", Runtime=other_runtime, Timeout=60, MemorySize=512,
        Environment={"Variables": {"STAGE": "prod"}}, Description="updated", EphemeralStorage={"Size": 1024})

    assert updated["RevisionId"] != created["RevisionId"]
    configuration = lambda_client.get_function_configuration(FunctionName=name)
    assert configuration["Handler"] == "other.handler"
    assert configuration["Runtime"] == other_runtime
    assert configuration["Timeout"] == 60
    assert configuration["MemorySize"] == 512
    assert configuration["Environment"] == {"Variables": {"STAGE": "prod"}}
    assert configuration["Description"] == "updated"
    assert configuration["EphemeralStorage"] == {"Size": 1024}
    assert configuration["CodeSha256"] == created["CodeSha256"]  # the code is untouched
    assert configuration["RevisionId"] == updated["RevisionId"]
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1})
    result = invoke_json(lambda_client, name)[1]
    assert (result["version"], result["stage"]) == ("other", "prod")


def test_update_function_configuration_leaves_unnamed_settings_alone(lambda_client, create) -> None:
    name = create(Timeout=10, MemorySize=256, Environment={"Variables": {"STAGE": "dev"}})["FunctionName"]

    lambda_client.update_function_configuration(FunctionName=name, Description="only this")

    configuration = lambda_client.get_function_configuration(FunctionName=name)
    assert (configuration["Timeout"], configuration["MemorySize"]) == (10, 256)
    assert configuration["Environment"] == {"Variables": {"STAGE": "dev"}}
    assert configuration["Description"] == "only this"


def test_an_empty_environment_clears_the_variables(lambda_client, create) -> None:
    name = create(Environment={"Variables": {"STAGE": "dev"}})["FunctionName"]

    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": {}})

    assert "Environment" not in lambda_client.get_function_configuration(FunctionName=name)
    assert invoke_json(lambda_client, name)[1]["stage"] is None


# ---- RevisionId preconditions -------------------------------------------------------------------------------

def test_a_stale_revision_id_is_refused_and_the_current_one_accepted(lambda_client, create) -> None:
    created = create()
    name, first = created["FunctionName"], created["RevisionId"]
    second = lambda_client.update_function_configuration(FunctionName=name, RevisionId=first,
                                                         Description="second")["RevisionId"]
    assert second != first

    with pytest.raises(ClientError) as caught:
        lambda_client.update_function_configuration(FunctionName=name, RevisionId=first, Description="stale")
    assert error_of(caught) == ("PreconditionFailedException", 412, STALE_REVISION)

    with pytest.raises(ClientError) as caught:
        lambda_client.update_function_code(FunctionName=name, RevisionId=first,
                                           ZipFile=make_zip({"index.py": ECHO.replace('"one"', '"stale"')}))
    assert error_of(caught) == ("PreconditionFailedException", 412, STALE_REVISION)

    with pytest.raises(ClientError) as caught:
        lambda_client.add_permission(FunctionName=name, StatementId="stale", Action="lambda:InvokeFunction",
                                     Principal="s3.amazonaws.com", RevisionId=first)
    assert error_of(caught) == ("PreconditionFailedException", 412, STALE_REVISION)

    configuration = lambda_client.get_function_configuration(FunctionName=name)
    assert configuration["Description"] == "second"
    assert configuration["RevisionId"] == second
    assert configuration["CodeSha256"] == created["CodeSha256"]

    third = lambda_client.update_function_code(FunctionName=name, RevisionId=second,
                                               ZipFile=make_zip({"index.py": ECHO}))["RevisionId"]
    lambda_client.add_permission(FunctionName=name, StatementId="current", Action="lambda:InvokeFunction",
                                 Principal="s3.amazonaws.com", RevisionId=third)
    fourth = lambda_client.get_policy(FunctionName=name)["RevisionId"]
    assert fourth not in (first, second, third)
    assert lambda_client.get_function_configuration(FunctionName=name)["RevisionId"] == fourth

    with pytest.raises(ClientError) as caught:
        lambda_client.remove_permission(FunctionName=name, StatementId="current", RevisionId=third)
    assert error_of(caught) == ("PreconditionFailedException", 412, STALE_REVISION)
    lambda_client.remove_permission(FunctionName=name, StatementId="current", RevisionId=fourth)


# ---- waiters and DeleteFunction -----------------------------------------------------------------------------

def test_boto3_waiters_see_the_function(lambda_client, create) -> None:
    name = create()["FunctionName"]
    fast = {"Delay": 1, "MaxAttempts": 3}

    lambda_client.get_waiter("function_exists").wait(FunctionName=name, WaiterConfig=fast)
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=fast)
    lambda_client.get_waiter("function_active").wait(FunctionName=name, WaiterConfig=fast)
    lambda_client.update_function_configuration(FunctionName=name, Timeout=5)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=fast)
    lambda_client.get_waiter("function_updated").wait(FunctionName=name, WaiterConfig=fast)


def test_the_exists_waiter_gives_up_on_a_missing_function(lambda_client) -> None:
    with pytest.raises(WaiterError):
        lambda_client.get_waiter("function_exists").wait(FunctionName=unique_name("cp-missing"),
                                                          WaiterConfig={"Delay": 1, "MaxAttempts": 1})


def test_delete_function_then_it_is_gone(lambda_client, create) -> None:
    name = create()["FunctionName"]
    assert invoke_json(lambda_client, name)[0]["StatusCode"] == 200  # it has a warm environment, too

    response = lambda_client.delete_function(FunctionName=name)

    assert response["StatusCode"] == 204
    for call in (lambda_client.get_function, lambda_client.get_function_configuration, lambda_client.invoke):
        with pytest.raises(ClientError) as caught:
            call(FunctionName=name)
        code, status, message = error_of(caught)
        assert (code, status) == ("ResourceNotFoundException", 404)
        assert message.startswith(f"Function not found: {ARN_PREFIX}{name}")
    assert name not in [f["FunctionName"] for f in lambda_client.list_functions(MaxItems=10000)["Functions"]]
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.delete_function(FunctionName=name)


def test_a_deleted_name_can_be_created_again(lambda_client, create) -> None:
    name = create()["FunctionName"]
    lambda_client.delete_function(FunctionName=name)

    again = create(name, make_zip({"index.py": ECHO.replace('"one"', '"again"')}))

    assert again["FunctionName"] == name
    assert invoke_json(lambda_client, name)[1]["version"] == "again"


# ---- GetAccountSettings -------------------------------------------------------------------------------------

def test_account_settings_report_limits_and_usage(lambda_client, create) -> None:
    before = lambda_client.get_account_settings()
    assert before["AccountLimit"]["CodeSizeZipped"] == 52428800
    assert before["AccountLimit"]["CodeSizeUnzipped"] == 262144000
    assert before["AccountLimit"]["TotalCodeSize"] == 80530636800
    assert before["AccountLimit"]["ConcurrentExecutions"] >= 1
    assert before["AccountLimit"]["UnreservedConcurrentExecutions"] <= before["AccountLimit"]["ConcurrentExecutions"]

    created = create()

    after = lambda_client.get_account_settings()
    assert after["AccountUsage"]["FunctionCount"] == before["AccountUsage"]["FunctionCount"] + 1
    assert after["AccountUsage"]["TotalCodeSize"] == before["AccountUsage"]["TotalCodeSize"] + created["CodeSize"]
    lambda_client.delete_function(FunctionName=created["FunctionName"])
    assert lambda_client.get_account_settings()["AccountUsage"] == before["AccountUsage"]


# ---- tags ---------------------------------------------------------------------------------------------------

def test_tags_from_create_tag_untag_and_list(lambda_client, create) -> None:
    name = create(Tags={"team": "core", "env": "dev"})["FunctionName"]
    arn = ARN_PREFIX + name
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "dev"}

    tagged = lambda_client.tag_resource(Resource=arn, Tags={"env": "prod", "cost-centre": "42"})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "prod", "cost-centre": "42"}

    untagged = lambda_client.untag_resource(Resource=arn, TagKeys=["team", "not-there"])
    assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"env": "prod", "cost-centre": "42"}
    assert lambda_client.get_function(FunctionName=name)["Tags"] == {"env": "prod", "cost-centre": "42"}

    lambda_client.untag_resource(Resource=arn, TagKeys=["env", "cost-centre"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {}
    assert "Tags" not in lambda_client.get_function(FunctionName=name)


def test_tags_on_a_qualified_arn_are_refused(lambda_client, create) -> None:
    arn = ARN_PREFIX + create()["FunctionName"]
    for qualified in (f"{arn}:$LATEST", f"{arn}:1", f"{arn}:live"):
        with pytest.raises(ClientError) as caught:
            lambda_client.tag_resource(Resource=qualified, Tags={"a": "b"})
        assert error_of(caught) == ("InvalidParameterValueException", 400, "Tags on function aliases and versions "
                                    "are not supported. Please specify a function ARN.")


def test_more_than_50_tags_are_refused(lambda_client, create) -> None:
    arn = ARN_PREFIX + create(Tags={f"key{index}": "v" for index in range(45)})["FunctionName"]
    lambda_client.tag_resource(Resource=arn, Tags={f"more{index}": "v" for index in range(5)})  # exactly 50

    with pytest.raises(ClientError) as caught:
        lambda_client.tag_resource(Resource=arn, Tags={"one-too-many": "v"})

    assert error_of(caught) == ("InvalidParameterValueException", 400, "Number of tags exceeds resource tag limit.")
    assert len(lambda_client.list_tags(Resource=arn)["Tags"]) == 50
    lambda_client.tag_resource(Resource=arn, Tags={"key0": "replaced"})  # replacing a key adds none
    assert lambda_client.list_tags(Resource=arn)["Tags"]["key0"] == "replaced"


def test_more_than_50_tags_at_create_are_refused(lambda_client) -> None:
    name = unique_name("cp-tags")
    with pytest.raises(ClientError) as caught:
        lambda_client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE,
                                      Handler="index.handler", Code={"ZipFile": make_zip({"index.py": ECHO})},
                                      Tags={f"key{index}": "v" for index in range(51)})
    assert error_of(caught) == ("InvalidParameterValueException", 400, "Number of tags exceeds resource tag limit.")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=name)


# ---- resource policies --------------------------------------------------------------------------------------

def test_permissions_build_a_policy_aws_shaped(lambda_client, create) -> None:
    name = create()["FunctionName"]
    arn = ARN_PREFIX + name

    added = lambda_client.add_permission(
        FunctionName=name, StatementId="s3-invoke", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
        SourceArn="arn:aws:s3:::my-bucket", SourceAccount="123456789012")
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    s3_statement = json.loads(added["Statement"])
    assert s3_statement == {
        "Sid": "s3-invoke", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": arn,
        "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"}},
    }
    account = json.loads(lambda_client.add_permission(
        FunctionName=arn, StatementId="account", Action="lambda:GetFunction", Principal="123456789012")["Statement"])
    assert account["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert "Condition" not in account
    role = json.loads(lambda_client.add_permission(
        FunctionName=f"{ACCOUNT}:function:{name}", StatementId="role", Action="lambda:*",
        Principal="arn:aws:iam::123456789012:role/caller")["Statement"])
    assert role["Principal"] == {"AWS": "arn:aws:iam::123456789012:role/caller"}

    policy_response = lambda_client.get_policy(FunctionName=name)
    policy = json.loads(policy_response["Policy"])
    assert policy["Version"] == "2012-10-17"
    assert policy["Statement"] == [s3_statement, account, role]
    assert policy_response["RevisionId"] == lambda_client.get_function_configuration(FunctionName=name)["RevisionId"]


def test_duplicate_and_missing_statement_ids(lambda_client, create) -> None:
    name = create()["FunctionName"]
    permission = {"FunctionName": name, "Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com"}
    lambda_client.add_permission(StatementId="rule", **permission)

    with pytest.raises(ClientError) as caught:
        lambda_client.add_permission(StatementId="rule", **permission)
    assert error_of(caught) == ("ResourceConflictException", 409, "The statement id (rule) provided already exists. "
                                "Please provide a new statement id, or remove the existing statement.")

    with pytest.raises(ClientError) as caught:
        lambda_client.remove_permission(FunctionName=name, StatementId="nope")
    assert error_of(caught) == ("ResourceNotFoundException", 404, "Statement nope is not found in resource policy.")

    removed = lambda_client.remove_permission(FunctionName=name, StatementId="rule")
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        lambda_client.get_policy(FunctionName=name)
    assert error_of(caught) == ("ResourceNotFoundException", 404, "The resource you requested does not exist.")
    with pytest.raises(ClientError) as caught:
        lambda_client.remove_permission(FunctionName=name, StatementId="rule")
    assert error_of(caught) == ("ResourceNotFoundException", 404, "No policy is associated with the given resource.")


def test_get_policy_of_a_function_without_one(lambda_client, create) -> None:
    name = create()["FunctionName"]
    with pytest.raises(ClientError) as caught:
        lambda_client.get_policy(FunctionName=name)
    assert error_of(caught) == ("ResourceNotFoundException", 404, "The resource you requested does not exist.")


def test_permission_inputs_lambda_refuses(lambda_client, create) -> None:
    name = create()["FunctionName"]
    with pytest.raises(ClientError) as caught:
        lambda_client.add_permission(FunctionName=name, StatementId="x", Action="lambda:InvokeFunction",
                                     Principal="not-a-principal")
    assert error_of(caught) == ("InvalidParameterValueException", 400,
                                "The provided principal was invalid. Please check the principal and try again.")
    with pytest.raises(ClientError) as caught:
        lambda_client.add_permission(FunctionName=name, StatementId="x", Action="lambda:InvokeFunction",
                                     Principal="s3.amazonaws.com", Qualifier="$LATEST")
    assert error_of(caught) == ("InvalidParameterValueException", 400,
                                "We currently do not support adding policies for $LATEST.")


def test_the_policy_survives_other_updates(lambda_client, create) -> None:
    name = create()["FunctionName"]
    lambda_client.add_permission(FunctionName=name, StatementId="keep", Action="lambda:InvokeFunction",
                                 Principal="sns.amazonaws.com")

    lambda_client.update_function_configuration(FunctionName=name, Timeout=9)
    lambda_client.update_function_code(FunctionName=name, ZipFile=make_zip({"index.py": ECHO}))
    lambda_client.tag_resource(Resource=ARN_PREFIX + name, Tags={"a": "b"})

    statements = json.loads(lambda_client.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["keep"]


# ---- the aws CLI --------------------------------------------------------------------------------------------

def test_the_aws_cli_drives_the_control_plane(server: EmberServer, tmp_path) -> None:
    name = unique_name("cp-cli")
    (tmp_path / "function.zip").write_bytes(make_zip({"index.py": ECHO}))
    try:
        created = json.loads(server.aws(
            "lambda", "create-function", "--function-name", name, "--runtime", DEFAULT_RUNTIME, "--role", ROLE,
            "--handler", "index.handler", "--zip-file", "fileb://function.zip", "--tags", "team=cli",
            "--timeout", "15", cwd=tmp_path).stdout)
        assert created["FunctionArn"] == ARN_PREFIX + name
        assert created["Timeout"] == 15

        statement = json.loads(json.loads(server.aws(
            "lambda", "add-permission", "--function-name", name, "--statement-id", "cli",
            "--action", "lambda:InvokeFunction", "--principal", "s3.amazonaws.com",
            "--source-arn", "arn:aws:s3:::cli-bucket").stdout)["Statement"])
        assert statement["Condition"] == {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::cli-bucket"}}

        fetched = json.loads(server.aws("lambda", "get-function", "--function-name", ARN_PREFIX + name).stdout)
        assert fetched["Tags"] == {"team": "cli"}
        assert fetched["Configuration"]["CodeSha256"] == created["CodeSha256"]

        missing = server.aws("lambda", "get-policy", "--function-name", unique_name("cp-none"), check=False)
        assert missing.returncode != 0
        assert "ResourceNotFoundException" in missing.stderr
    finally:
        server.aws("lambda", "delete-function", "--function-name", name, check=False)
    gone = server.aws("lambda", "get-function-configuration", "--function-name", name, check=False)
    assert "ResourceNotFoundException" in gone.stderr
