"""Versions and aliases through boto3 and the aws CLI: publishing, immutability, qualifiers, routing, policies.

Exact messages are the ones AWS answers (as recorded in LocalStack's AWS-validated snapshots).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import urllib3
from botocore.exceptions import ClientError

from tests.functional.conftest import DEFAULT_RUNTIME, ROLE, EmberServer, invoke_json, make_zip, unique_name

ACCOUNT = "000000000000"
REGION = "us-east-1"
ARN_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"
STALE_REVISION = ("The Revision Id provided does not match the latest Revision Id. "
                  "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")

SOURCE = '''
import os
import uuid

VALUE = "{value}"
ENVIRONMENT_ID = uuid.uuid4().hex  # one per execution environment


def handler(event, context):
    return {{
        "value": VALUE,
        "stage": os.environ.get("STAGE"),
        "function_version": context.function_version,
        "invoked_arn": context.invoked_function_arn,
        "env_version": os.environ["AWS_LAMBDA_FUNCTION_VERSION"],
        "environment_id": ENVIRONMENT_ID,
    }}
'''


def source(value: str) -> str:
    return SOURCE.format(value=value)


def package(value: str) -> bytes:
    return make_zip({"index.py": source(value)})


def code_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def without_metadata(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def run(client, function_name: str, **kwargs: object) -> tuple[str, dict]:
    """Invoke successfully; (ExecutedVersion, decoded result)."""
    response, result = invoke_json(client, function_name, **kwargs)
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response, result
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == response["ExecutedVersion"]
    return response["ExecutedVersion"], result


def versions_of(client, name: str) -> list[str]:
    return [v["Version"] for v in client.list_versions_by_function(FunctionName=name)["Versions"]]


@pytest.fixture
def create(lambda_client) -> Iterator[Callable[..., dict]]:
    """CreateFunction (answering its whole response) with defaults; deleted after the test."""
    created: list[str] = []

    def make(name: str | None = None, value: str = "one", **settings: object) -> dict:
        name = name or unique_name("va")
        response = lambda_client.create_function(FunctionName=name, Runtime=DEFAULT_RUNTIME, Role=ROLE,
                                                  Handler="index.handler", Code={"ZipFile": package(value)},
                                                  **settings)
        created.append(name)
        return response

    yield make
    for name in created:
        try:
            lambda_client.delete_function(FunctionName=name)
        except lambda_client.exceptions.ResourceNotFoundException:
            pass


@pytest.fixture
def two_versions(lambda_client, create) -> str:
    """A function whose version 1 runs "one" with STAGE=dev and version 2 "two" with STAGE=prod."""
    name = create(value="one", Environment={"Variables": {"STAGE": "dev"}})["FunctionName"]
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "1"
    lambda_client.update_function_code(FunctionName=name, ZipFile=package("two"))
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "prod"}})
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"
    return name


# ---- PublishVersion -----------------------------------------------------------------------------------------

def test_publish_version_snapshots_latest_and_numbers_changes(lambda_client, create) -> None:
    created = create(value="one", Description="the first")
    name = created["FunctionName"]

    first = lambda_client.publish_version(FunctionName=name)

    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["Version"] == "1"
    assert first["FunctionArn"] == f"{ARN_PREFIX}{name}:1"
    assert first["CodeSha256"] == created["CodeSha256"] == code_sha256(package("one"))
    assert first["CodeSize"] == created["CodeSize"]
    assert first["Description"] == "the first"  # copied from $LATEST
    assert (first["Runtime"], first["Handler"], first["State"]) == (DEFAULT_RUNTIME, "index.handler", "Active")
    assert first["RevisionId"] != created["RevisionId"]

    again = lambda_client.publish_version(FunctionName=name)  # nothing changed: the same version
    assert again["Version"] == "1"
    assert again["RevisionId"] == first["RevisionId"]
    assert versions_of(lambda_client, name) == ["$LATEST", "1"]

    lambda_client.update_function_configuration(FunctionName=name, Description="the second")
    second = lambda_client.publish_version(FunctionName=name)
    assert (second["Version"], second["FunctionArn"]) == ("2", f"{ARN_PREFIX}{name}:2")
    assert second["Description"] == "the second"
    assert second["CodeSha256"] == first["CodeSha256"]

    lambda_client.update_function_code(FunctionName=name, ZipFile=package("three"))
    third = lambda_client.publish_version(FunctionName=name)
    assert third["Version"] == "3"
    assert third["CodeSha256"] == code_sha256(package("three"))
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "3"
    assert versions_of(lambda_client, name) == ["$LATEST", "1", "2", "3"]


def test_publish_version_preconditions(lambda_client, create) -> None:
    created = create()
    name = created["FunctionName"]
    latest = lambda_client.get_function_configuration(FunctionName=name)

    with pytest.raises(ClientError) as caught:
        lambda_client.publish_version(FunctionName=name, CodeSha256="somenonexistentsha256")
    assert error_of(caught) == (
        "InvalidParameterValueException", 400,
        f"CodeSHA256 (somenonexistentsha256) is different from current CodeSHA256 in $LATEST "
        f"({latest['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST.")

    with pytest.raises(ClientError) as caught:
        lambda_client.publish_version(FunctionName=name, RevisionId="00000000-0000-0000-0000-000000000000")
    assert error_of(caught) == ("PreconditionFailedException", 412, STALE_REVISION)
    assert versions_of(lambda_client, name) == ["$LATEST"]  # the refused publishes made nothing

    published = lambda_client.publish_version(FunctionName=name, CodeSha256=latest["CodeSha256"],
                                              RevisionId=latest["RevisionId"])
    assert published["Version"] == "1"

    lambda_client.update_function_code(FunctionName=name, ZipFile=package("two"))
    with pytest.raises(ClientError) as caught:  # the sha256 of the code version 1 has is no longer $LATEST's
        lambda_client.publish_version(FunctionName=name, CodeSha256=latest["CodeSha256"])
    assert error_of(caught)[:2] == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as caught:  # nor is the revision read before the update
        lambda_client.publish_version(FunctionName=name, RevisionId=latest["RevisionId"])
    assert error_of(caught)[:2] == ("PreconditionFailedException", 412)
    assert versions_of(lambda_client, name) == ["$LATEST", "1"]


def test_publish_version_description_belongs_to_the_version(lambda_client, create) -> None:
    name = create(Description="latest's words")["FunctionName"]

    published = lambda_client.publish_version(FunctionName=name, Description="release notes for 1")

    assert published["Description"] == "release notes for 1"
    version = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert version["Description"] == "release notes for 1"
    assert lambda_client.get_function_configuration(FunctionName=name)["Description"] == "latest's words"


# ---- ListVersionsByFunction ---------------------------------------------------------------------------------

def test_list_versions_lists_latest_first_then_by_number_and_pages(lambda_client, server: EmberServer,
                                                                   two_versions: str) -> None:
    name = two_versions

    listed = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2"]
    assert [v["FunctionArn"] for v in listed] == [f"{ARN_PREFIX}{name}:$LATEST", f"{ARN_PREFIX}{name}:1",
                                                  f"{ARN_PREFIX}{name}:2"]
    assert [v["Environment"]["Variables"]["STAGE"] for v in listed] == ["prod", "dev", "prod"]
    assert listed[1]["CodeSha256"] == code_sha256(package("one"))
    assert listed[2]["CodeSha256"] == listed[0]["CodeSha256"] == code_sha256(package("two"))

    pages: list[list[str]] = []
    kwargs: dict[str, object] = {"FunctionName": name, "MaxItems": 1}
    while True:
        page = lambda_client.list_versions_by_function(**kwargs)
        pages.append([v["Version"] for v in page["Versions"]])
        if "NextMarker" not in page:
            break
        kwargs["Marker"] = page["NextMarker"]
        assert len(pages) < 10
    assert pages == [["$LATEST"], ["1"], ["2"]]

    # The aws CLI pages through them itself, one item per request.
    through_cli = json.loads(server.aws("lambda", "list-versions-by-function", "--function-name", name,
                                        "--page-size", "1").stdout)
    assert [v["Version"] for v in through_cli["Versions"]] == ["$LATEST", "1", "2"]


# ---- immutability and qualifiers ----------------------------------------------------------------------------

def test_a_published_version_does_not_change_with_latest(lambda_client, create) -> None:
    name = create(value="one", Environment={"Variables": {"STAGE": "dev"}})["FunctionName"]
    published = lambda_client.publish_version(FunctionName=name)
    assert run(lambda_client, name, Qualifier="1")[1]["value"] == "one"

    lambda_client.update_function_code(FunctionName=name, ZipFile=package("two"))
    lambda_client.update_function_configuration(FunctionName=name, Environment={"Variables": {"STAGE": "prod"}},
                                                Timeout=9, Description="changed")

    executed, result = run(lambda_client, f"{name}:1")
    assert (executed, result["value"], result["stage"]) == ("1", "one", "dev")
    executed, result = run(lambda_client, name)
    assert (executed, result["value"], result["stage"]) == ("$LATEST", "two", "prod")
    version = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert without_metadata(version) == without_metadata(published)
    assert (version["Timeout"], version["Description"]) == (3, "")


@pytest.mark.parametrize("operation", ["configuration", "code"])
def test_a_published_version_cannot_be_updated(lambda_client, create, operation: str) -> None:
    name = create()["FunctionName"]
    published = lambda_client.publish_version(FunctionName=name)

    with pytest.raises(ClientError) as caught:
        if operation == "configuration":
            lambda_client.update_function_configuration(FunctionName=f"{ARN_PREFIX}{name}:1", Timeout=30)
        else:
            lambda_client.update_function_code(FunctionName=f"{name}:1", ZipFile=package("two"))

    code, status, _ = error_of(caught)
    assert (code in ("InvalidParameterValueException", "ValidationException"), status) == (True, 400), code
    version = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert without_metadata(version) == without_metadata(published)
    latest = lambda_client.get_function_configuration(FunctionName=name)
    assert (latest["Timeout"], latest["CodeSha256"]) == (3, published["CodeSha256"])


@pytest.mark.parametrize("form", ["name:1", "arn:1", "partial-arn:1", "qualifier"])
def test_invoke_a_version_by_every_name_form(lambda_client, two_versions: str, form: str) -> None:
    name = two_versions
    kwargs: dict[str, object] = {}
    function_name = {"name:1": f"{name}:1", "arn:1": f"{ARN_PREFIX}{name}:1",
                     "partial-arn:1": f"{ACCOUNT}:function:{name}:1", "qualifier": name}[form]
    if form == "qualifier":
        kwargs["Qualifier"] = "1"

    executed, result = run(lambda_client, function_name, **kwargs)

    assert executed == "1"
    assert (result["value"], result["stage"]) == ("one", "dev")
    assert result["function_version"] == result["env_version"] == "1"
    assert result["invoked_arn"] == f"{ARN_PREFIX}{name}:1"


def test_invoke_unqualified_runs_latest(lambda_client, two_versions: str) -> None:
    name = two_versions
    lambda_client.update_function_code(FunctionName=name, ZipFile=package("three"))

    executed, result = run(lambda_client, name)

    assert executed == "$LATEST"
    assert result["value"] == "three"
    assert result["function_version"] == result["env_version"] == "$LATEST"
    assert result["invoked_arn"] == f"{ARN_PREFIX}{name}"
    executed, result = run(lambda_client, name, Qualifier="2")
    assert (executed, result["value"]) == ("2", "two")


def test_invoke_version_errors(lambda_client, two_versions: str) -> None:
    name = two_versions

    with pytest.raises(ClientError) as caught:
        invoke_json(lambda_client, f"{name}:7")
    assert error_of(caught) == ("ResourceNotFoundException", 404, f"Function not found: {ARN_PREFIX}{name}:7")

    with pytest.raises(ClientError) as caught:
        invoke_json(lambda_client, f"{name}:1", Qualifier="2")
    assert error_of(caught) == ("InvalidParameterValueException", 400,
                                "The derived qualifier from the function name does not match the specified "
                                "qualifier.")


def test_get_function_with_a_qualifier_describes_that_version(lambda_client, create) -> None:
    name = create(value="one")["FunctionName"]
    lambda_client.publish_version(FunctionName=name)
    lambda_client.update_function_code(FunctionName=name, ZipFile=package("two"))

    by_qualifier = lambda_client.get_function(FunctionName=name, Qualifier="1")
    by_arn = lambda_client.get_function(FunctionName=f"{ARN_PREFIX}{name}:1")

    assert by_qualifier["Configuration"] == by_arn["Configuration"]
    assert by_qualifier["Configuration"]["FunctionArn"] == f"{ARN_PREFIX}{name}:1"
    assert by_qualifier["Configuration"]["Version"] == "1"
    assert by_qualifier["Configuration"]["CodeSha256"] == code_sha256(package("one"))
    download = urllib3.request("GET", by_qualifier["Code"]["Location"], timeout=30)
    assert (download.status, download.data) == (200, package("one"))
    configuration = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert without_metadata(configuration) == by_qualifier["Configuration"]

    latest = lambda_client.get_function(FunctionName=name, Qualifier="$LATEST")["Configuration"]
    assert (latest["FunctionArn"], latest["Version"]) == (f"{ARN_PREFIX}{name}:$LATEST", "$LATEST")
    assert latest["CodeSha256"] == code_sha256(package("two"))

    for call in (lambda: lambda_client.get_function(FunctionName=name, Qualifier="2"),
                 lambda: lambda_client.get_function_configuration(FunctionName=f"{name}:2")):
        with pytest.raises(ClientError) as caught:
            call()
        assert error_of(caught) == ("ResourceNotFoundException", 404, f"Function not found: {ARN_PREFIX}{name}:2")


# ---- DeleteFunction with a qualifier ------------------------------------------------------------------------

def test_delete_function_with_a_qualifier_deletes_only_that_version(lambda_client, two_versions: str) -> None:
    name = two_versions

    deleted = lambda_client.delete_function(FunctionName=name, Qualifier="1")

    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert versions_of(lambda_client, name) == ["$LATEST", "2"]
    with pytest.raises(ClientError) as caught:
        lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert error_of(caught) == ("ResourceNotFoundException", 404, f"Function not found: {ARN_PREFIX}{name}:1")
    with pytest.raises(ClientError) as caught:
        invoke_json(lambda_client, name, Qualifier="1")
    assert error_of(caught)[:2] == ("ResourceNotFoundException", 404)
    executed, result = run(lambda_client, name, Qualifier="2")
    assert (executed, result["value"]) == ("2", "two")
    assert run(lambda_client, name)[0] == "$LATEST"

    with pytest.raises(ClientError) as caught:  # already gone
        lambda_client.delete_function(FunctionName=name, Qualifier="1")
    assert error_of(caught) == ("ResourceNotFoundException", 404, f"Function not found: {ARN_PREFIX}{name}:1")
    with pytest.raises(ClientError) as caught:
        lambda_client.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert error_of(caught) == ("InvalidParameterValueException", 400,
                                "$LATEST version cannot be deleted without deleting the function.")
    assert versions_of(lambda_client, name) == ["$LATEST", "2"]

    # Numbers are not reused: the next publish after a change is 3.
    lambda_client.update_function_configuration(FunctionName=name, Description="after the delete")
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "3"


def test_create_function_with_publish_makes_version_1(lambda_client, create) -> None:
    created = create(value="one", Publish=True)
    name = created["FunctionName"]

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["Version"] == "1"
    assert versions_of(lambda_client, name) == ["$LATEST", "1"]
    assert run(lambda_client, f"{name}:1")[1]["value"] == "one"

    updated = lambda_client.update_function_code(FunctionName=name, ZipFile=package("two"), Publish=True)
    assert (updated["Version"], updated["FunctionArn"]) == ("2", f"{ARN_PREFIX}{name}:2")
    assert updated["CodeSha256"] == code_sha256(package("two"))
    assert run(lambda_client, f"{name}:2")[1]["value"] == "two"
    assert versions_of(lambda_client, name) == ["$LATEST", "1", "2"]


def test_create_function_with_publish_answers_the_unqualified_arn(create) -> None:
    # AWS answers CreateFunction(Publish=True) with Version "1" but the function's unqualified ARN
    # (LocalStack's AWS-validated snapshot test_notfound_and_invalid_routingconfigs, create_response).
    created = create(Publish=True)

    assert created["Version"] == "1"
    assert created["FunctionArn"] == ARN_PREFIX + created["FunctionName"]


def test_delete_function_removes_its_versions_and_aliases(lambda_client, create, two_versions: str) -> None:
    name = two_versions
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="2")

    lambda_client.delete_function(FunctionName=name)

    with pytest.raises(ClientError) as caught:
        lambda_client.get_function(FunctionName=name, Qualifier="1")
    assert error_of(caught)[:2] == ("ResourceNotFoundException", 404)
    create(name, value="reborn")  # the same name again starts from nothing
    assert versions_of(lambda_client, name) == ["$LATEST"]
    assert lambda_client.list_aliases(FunctionName=name)["Aliases"] == []
    for qualifier in ("1", "live"):
        with pytest.raises(ClientError) as caught:
            invoke_json(lambda_client, name, Qualifier=qualifier)
        assert error_of(caught) == ("ResourceNotFoundException", 404,
                                    f"Function not found: {ARN_PREFIX}{name}:{qualifier}")
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "1"
    assert run(lambda_client, f"{name}:1")[1]["value"] == "reborn"


# ---- aliases ------------------------------------------------------------------------------------------------

def test_alias_lifecycle(lambda_client, two_versions: str) -> None:
    name = two_versions
    alias_arn = f"{ARN_PREFIX}{name}:live"

    created = lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1",
                                         Description="production")

    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert without_metadata(created) == {"AliasArn": alias_arn, "Name": "live", "FunctionVersion": "1",
                                         "Description": "production", "RevisionId": created["RevisionId"]}
    assert len(created["RevisionId"]) == 36
    with pytest.raises(ClientError) as caught:
        lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    assert error_of(caught) == ("ResourceConflictException", 409, f"Alias already exists: {alias_arn}")

    fetched = lambda_client.get_alias(FunctionName=name, Name="live")
    assert without_metadata(fetched) == without_metadata(created)
    assert without_metadata(lambda_client.get_alias(FunctionName=f"{ARN_PREFIX}{name}", Name="live")) \
        == without_metadata(created)

    lambda_client.create_alias(FunctionName=name, Name="beta", FunctionVersion="2")
    lambda_client.create_alias(FunctionName=name, Name="canary", FunctionVersion="1",
                               RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    listed = lambda_client.list_aliases(FunctionName=name)["Aliases"]
    assert sorted(a["Name"] for a in listed) == ["beta", "canary", "live"]
    canary = next(a for a in listed if a["Name"] == "canary")
    assert canary["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.25}}
    on_version_1 = lambda_client.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"]
    assert sorted(a["Name"] for a in on_version_1) == ["canary", "live"]
    assert [a["Name"] for a in lambda_client.list_aliases(FunctionName=name, FunctionVersion="2")["Aliases"]] \
        == ["beta"]
    first_page = lambda_client.list_aliases(FunctionName=name, MaxItems=1)
    assert len(first_page["Aliases"]) == 1 and "NextMarker" in first_page
    paged = lambda_client.get_paginator("list_aliases").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 1}).build_full_result()["Aliases"]
    assert sorted(a["Name"] for a in paged) == ["beta", "canary", "live"]

    with pytest.raises(ClientError) as caught:
        lambda_client.update_alias(FunctionName=name, Name="live", FunctionVersion="2",
                                   RevisionId="00000000-0000-0000-0000-000000000000")
    assert error_of(caught) == ("PreconditionFailedException", 412, STALE_REVISION)
    assert lambda_client.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    updated = lambda_client.update_alias(FunctionName=name, Name="live", FunctionVersion="2",
                                         RevisionId=created["RevisionId"])
    assert (updated["FunctionVersion"], updated["Description"]) == ("2", "production")
    assert updated["RevisionId"] != created["RevisionId"]
    with pytest.raises(ClientError) as caught:  # the revision it had before the update is stale now
        lambda_client.update_alias(FunctionName=name, Name="live", Description="x", RevisionId=created["RevisionId"])
    assert error_of(caught)[:2] == ("PreconditionFailedException", 412)

    cleared = lambda_client.update_alias(FunctionName=name, Name="canary",
                                         RoutingConfig={"AdditionalVersionWeights": {}})
    assert "RoutingConfig" not in cleared
    assert "RoutingConfig" not in lambda_client.get_alias(FunctionName=name, Name="canary")

    deleted = lambda_client.delete_alias(FunctionName=name, Name="live")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        lambda_client.get_alias(FunctionName=name, Name="live")
    assert error_of(caught) == ("ResourceNotFoundException", 404, f"Cannot find alias arn: {alias_arn}")
    assert sorted(a["Name"] for a in lambda_client.list_aliases(FunctionName=name)["Aliases"]) == ["beta", "canary"]


def test_alias_targets_are_checked(lambda_client, two_versions: str) -> None:
    name = two_versions

    def refused(**kwargs: object) -> tuple[str, int, str]:
        with pytest.raises(ClientError) as caught:
            lambda_client.create_alias(FunctionName=name, Name="custom", **kwargs)
        return error_of(caught)

    assert refused(FunctionVersion="10") == ("ResourceNotFoundException", 404,
                                             f"Function not found: {ARN_PREFIX}{name}:10")
    assert refused(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"10": 0.5}}) == (
        "ResourceNotFoundException", 404, f"Function not found: {ARN_PREFIX}{name}:10")
    assert refused(FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}) == (
        "InvalidParameterValueException", 400, "$LATEST is not supported for an alias pointing to more than 1 version")
    assert refused(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}) == (
        "InvalidParameterValueException", 400,
        "Invalid function version 1. Function version 1 is already included in routing configuration.")
    assert refused(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"1": 0.8, "2": 0.2}}) == (
        "InvalidParameterValueException", 400, "Number of items in AdditionalVersionWeights cannot be greater than 1")
    code, status, _ = refused(FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}})
    assert (code, status) == ("ValidationException", 400)
    with pytest.raises(ClientError) as caught:
        lambda_client.create_alias(FunctionName=f"{name}-unknown", Name="custom", FunctionVersion="1")
    assert error_of(caught)[:2] == ("ResourceNotFoundException", 404)
    assert lambda_client.list_aliases(FunctionName=name)["Aliases"] == []

    # An alias of $LATEST alone is fine, and so is an update to a missing version refused.
    latest = lambda_client.create_alias(FunctionName=name, Name="tip", FunctionVersion="$LATEST")
    assert latest["FunctionVersion"] == "$LATEST"
    with pytest.raises(ClientError) as caught:
        lambda_client.update_alias(FunctionName=name, Name="tip", FunctionVersion="10")
    assert error_of(caught)[:2] == ("ResourceNotFoundException", 404)
    assert lambda_client.get_alias(FunctionName=name, Name="tip")["FunctionVersion"] == "$LATEST"


def test_alias_routing_sends_the_weighted_share_to_the_additional_version(lambda_client, two_versions: str) -> None:
    name = two_versions
    lambda_client.create_alias(FunctionName=name, Name="canary", FunctionVersion="1",
                               RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})

    executed: Counter[str] = Counter()
    for _ in range(100):
        version, result = run(lambda_client, name, Qualifier="canary")
        executed[version] += 1
        # What ran is what the header names: version 1's code and settings, or version 2's.
        assert (result["value"], result["stage"]) == {"1": ("one", "dev"), "2": ("two", "prod")}[version]
        assert result["function_version"] == version
        assert result["invoked_arn"] == f"{ARN_PREFIX}{name}:canary"

    assert set(executed) == {"1", "2"}
    assert 0.12 <= executed["2"] / 100 <= 0.5, executed


@pytest.mark.parametrize(("weight", "expected"), [(0.0, "1"), (1.0, "2")])
def test_alias_routing_weights_zero_and_one_are_deterministic(lambda_client, two_versions: str, weight: float,
                                                              expected: str) -> None:
    name = two_versions
    lambda_client.create_alias(FunctionName=name, Name="fixed", FunctionVersion="1",
                               RoutingConfig={"AdditionalVersionWeights": {"2": weight}})

    executed = Counter(run(lambda_client, f"{name}:fixed")[0] for _ in range(30))

    assert executed == Counter({expected: 30})


def test_invoke_through_an_alias(lambda_client, server: EmberServer, two_versions: str, tmp_path: Path) -> None:
    name = two_versions
    alias_arn = lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")["AliasArn"]

    for function_name, kwargs in ((f"{name}:live", {}), (name, {"Qualifier": "live"}), (alias_arn, {})):
        executed, result = run(lambda_client, function_name, **kwargs)
        assert executed == "1"
        assert result["value"] == "one"
        assert result["function_version"] == result["env_version"] == "1"
        assert result["invoked_arn"] == alias_arn

    through_alias = lambda_client.get_function(FunctionName=name, Qualifier="live")["Configuration"]
    assert (through_alias["FunctionArn"], through_alias["Version"]) == (alias_arn, "1")
    assert through_alias["CodeSha256"] == code_sha256(package("one"))

    lambda_client.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    executed, result = run(lambda_client, alias_arn)
    assert (executed, result["value"], result["stage"]) == ("2", "two", "prod")

    # The aws CLI (v1) reports the version it ran.
    cli = json.loads(server.aws("lambda", "invoke", "--function-name", name, "--qualifier", "live",
                                "--payload", "{}", str(tmp_path / "out.json")).stdout)
    assert (cli["StatusCode"], cli["ExecutedVersion"]) == (200, "2")
    assert json.loads((tmp_path / "out.json").read_text())["invoked_arn"] == alias_arn

    with pytest.raises(ClientError) as caught:
        invoke_json(lambda_client, name, Qualifier="nosuchalias")
    assert error_of(caught) == ("ResourceNotFoundException", 404,
                                f"Function not found: {ARN_PREFIX}{name}:nosuchalias")


def test_deleting_a_version_an_alias_uses_is_refused(lambda_client, two_versions: str) -> None:
    name = two_versions
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    with pytest.raises(ClientError) as caught:
        lambda_client.delete_function(FunctionName=name, Qualifier="1")

    assert error_of(caught) == ("ResourceConflictException", 409,
                                "Unable to delete version because the following aliases reference it: [live]")
    assert versions_of(lambda_client, name) == ["$LATEST", "1", "2"]
    assert run(lambda_client, f"{name}:live")[0] == "1"
    lambda_client.delete_alias(FunctionName=name, Name="live")
    lambda_client.delete_function(FunctionName=name, Qualifier="1")
    assert versions_of(lambda_client, name) == ["$LATEST", "2"]


def test_alias_permissions_are_separate_from_the_function_policy(lambda_client, two_versions: str) -> None:
    name = two_versions
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    alias_arn = f"{ARN_PREFIX}{name}:live"

    added = lambda_client.add_permission(FunctionName=name, Qualifier="live", StatementId="alias-s3",
                                         Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")
    lambda_client.add_permission(FunctionName=name, StatementId="function-sns", Action="lambda:InvokeFunction",
                                 Principal="sns.amazonaws.com")

    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(added["Statement"])["Resource"] == alias_arn
    alias_policy = json.loads(lambda_client.get_policy(FunctionName=name, Qualifier="live")["Policy"])
    assert [(s["Sid"], s["Resource"], s["Principal"]) for s in alias_policy["Statement"]] == [
        ("alias-s3", alias_arn, {"Service": "s3.amazonaws.com"})]
    by_arn = json.loads(lambda_client.get_policy(FunctionName=alias_arn)["Policy"])
    assert by_arn == alias_policy
    function_policy = json.loads(lambda_client.get_policy(FunctionName=name)["Policy"])
    assert [(s["Sid"], s["Resource"]) for s in function_policy["Statement"]] == [
        ("function-sns", f"{ARN_PREFIX}{name}")]
    with pytest.raises(ClientError) as caught:  # version 1 itself has no policy
        lambda_client.get_policy(FunctionName=name, Qualifier="1")
    assert error_of(caught)[:2] == ("ResourceNotFoundException", 404)

    lambda_client.remove_permission(FunctionName=name, Qualifier="live", StatementId="alias-s3")
    with pytest.raises(ClientError) as caught:
        lambda_client.get_policy(FunctionName=name, Qualifier="live")
    assert error_of(caught)[:2] == ("ResourceNotFoundException", 404)
    assert [s["Sid"] for s in json.loads(lambda_client.get_policy(FunctionName=name)["Policy"])["Statement"]] \
        == ["function-sns"]
