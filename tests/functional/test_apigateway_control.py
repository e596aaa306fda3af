"""API Gateway's REST API (v1) control plane through the aws CLI and boto3: REST APIs, resources,
methods, integrations, authorizers, deployments and stages; API Gateway's errors for bad input;
durability across a kill -9; iam mode."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from botocore.exceptions import ClientError

from tests.functional.conftest import (
    ROOT_KEY_ID,
    ROOT_SECRET,
    VENV_BIN,
    EmberServer,
    iam_mode_server,
)

ACCOUNT = "000000000000"
REGION = "us-east-1"
API_ID = re.compile(r"[a-z0-9]{10}")
CHILD_ID = re.compile(r"[a-z0-9]{6}")


def lambda_uri(function_arn: str) -> str:
    return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{function_arn}/invocations"


FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:items"
LAMBDA_URI = lambda_uri(FUNCTION_ARN)


def refusal(call: Callable[..., object], **params: object) -> tuple[str, int, str]:
    """(error code, HTTP status, message) of a call API Gateway refuses."""
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


@pytest.fixture(scope="module")
def apigw(server: EmberServer):
    client = server.client("apigateway")
    yield client
    client.close()


@pytest.fixture
def new_api(apigw) -> Iterator[Callable[..., dict[str, Any]]]:
    """new_api(name=..., **params): CreateRestApi's answer; each is deleted after the test."""
    made: list[str] = []

    def make(name: str = "shop", **params: object) -> dict[str, Any]:
        api = apigw.create_rest_api(name=name, **params)
        made.append(api["id"])
        return api

    yield make
    for api_id in made:
        try:
            apigw.delete_rest_api(restApiId=api_id)
        except apigw.exceptions.NotFoundException:
            pass


def api_with_proxy(apigw, api: dict[str, Any], path_part: str = "items") -> str:
    """/<path_part> with ANY → the Lambda function; its resource id."""
    resource = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart=path_part)
    apigw.put_method(restApiId=api["id"], resourceId=resource["id"], httpMethod="ANY", authorizationType="NONE")
    apigw.put_integration(restApiId=api["id"], resourceId=resource["id"], httpMethod="ANY", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=LAMBDA_URI)
    return str(resource["id"])


def test_the_seed_sequence_runs_verbatim_through_the_aws_cli(server: EmberServer, make_function) -> None:
    function_arn = server.lambda_client().get_function(FunctionName=make_function(
        "def handler(event, context):\n    return {'statusCode': 200}\n"))["Configuration"]["FunctionArn"]

    def aws(*args: str) -> dict[str, Any]:
        return json.loads(server.aws("apigateway", *args).stdout)

    api = aws("create-rest-api", "--name", "my-api")
    api_id = api["id"]
    assert API_ID.fullmatch(api_id) and api["name"] == "my-api"
    try:
        [root] = aws("get-resources", "--rest-api-id", api_id)["items"]
        assert (root["path"], root["id"]) == ("/", api["rootResourceId"])
        resource = aws("create-resource", "--rest-api-id", api_id, "--parent-id", root["id"], "--path-part", "items")
        assert (resource["path"], resource["parentId"], resource["pathPart"]) == ("/items", root["id"], "items")
        assert CHILD_ID.fullmatch(resource["id"])
        method = aws("put-method", "--rest-api-id", api_id, "--resource-id", resource["id"], "--http-method", "ANY",
                     "--authorization-type", "NONE")
        assert method == {"httpMethod": "ANY", "authorizationType": "NONE", "apiKeyRequired": False}
        integration = aws("put-integration", "--rest-api-id", api_id, "--resource-id", resource["id"],
                          "--http-method", "ANY", "--type", "AWS_PROXY", "--integration-http-method", "POST",
                          "--uri", lambda_uri(function_arn))
        assert (integration["type"], integration["httpMethod"], integration["uri"]) == (
            "AWS_PROXY", "POST", lambda_uri(function_arn))
        deployment = aws("create-deployment", "--rest-api-id", api_id, "--stage-name", "prod")
        assert CHILD_ID.fullmatch(deployment["id"])
        stage = aws("get-stage", "--rest-api-id", api_id, "--stage-name", "prod")
        assert (stage["stageName"], stage["deploymentId"]) == ("prod", deployment["id"])
        listed = aws("get-resources", "--rest-api-id", api_id)["items"]
        assert {r["path"]: r.get("resourceMethods") for r in listed} == {"/": None, "/items": {"ANY": {}}}
    finally:
        server.aws("apigateway", "delete-rest-api", "--rest-api-id", api_id)


class TestRestApis:
    def test_create_get_list_update_and_delete(self, apigw, new_api) -> None:
        api = new_api("catalog", description="the catalogue", binaryMediaTypes=["image/png"], tags={"team": "web"},
                      endpointConfiguration={"types": ["REGIONAL"]})
        assert (api["description"], api["binaryMediaTypes"], api["tags"]) == ("the catalogue", ["image/png"],
                                                                             {"team": "web"})
        assert api["endpointConfiguration"]["types"] == ["REGIONAL"]
        assert apigw.get_rest_api(restApiId=api["id"])["name"] == "catalog"
        others = [new_api(f"other-{n}")["id"] for n in range(2)]
        paged = [item["id"] for page in apigw.get_paginator("get_rest_apis").paginate(PaginationConfig={
            "PageSize": 1}) for item in page["items"]]
        assert {api["id"], *others} <= set(paged) and len(paged) == len(set(paged))
        updated = apigw.update_rest_api(restApiId=api["id"], patchOperations=[
            {"op": "replace", "path": "/name", "value": "catalogue"},
            {"op": "replace", "path": "/description", "value": "renamed"},
            {"op": "add", "path": "/binaryMediaTypes/image~1jpeg"},
            {"op": "remove", "path": "/binaryMediaTypes/image~1png"},
            {"op": "replace", "path": "/minimumCompressionSize", "value": "1024"}])
        assert (updated["name"], updated["description"], updated["binaryMediaTypes"],
                updated["minimumCompressionSize"]) == ("catalogue", "renamed", ["image/jpeg"], 1024)
        assert apigw.get_rest_api(restApiId=api["id"])["name"] == "catalogue"
        assert apigw.delete_rest_api(restApiId=api["id"])["ResponseMetadata"]["HTTPStatusCode"] == 202
        missing = ("NotFoundException", 404, f"Invalid API identifier specified {ACCOUNT}:{api['id']}")
        assert refusal(apigw.get_rest_api, restApiId=api["id"]) == missing
        assert refusal(apigw.delete_rest_api, restApiId=api["id"]) == missing
        assert refusal(apigw.get_resources, restApiId=api["id"]) == missing

    def test_bad_patches_are_refused_and_change_nothing(self, apigw, new_api) -> None:
        api = new_api()
        for patch, expected in [
            ({"op": "replace", "path": "/nosuch", "value": "x"}, "Invalid patch path '/nosuch' specified for op "
                                                                 "'replace'. Must be one of: [/name, "),
            ({"op": "move", "path": "/name", "from": "/description"}, "Invalid patch operation 'move'"),
            ({"op": "replace", "path": "/name"}, "Invalid null or empty value in patch operation 'replace' for "
                                                 "path '/name'"),
            ({"op": "replace", "path": "/minimumCompressionSize", "value": "lots"}, "must be a whole number"),
            ({"op": "replace", "path": "/disableExecuteApiEndpoint", "value": "yes"}, "it must be true or false"),
            ({"op": "frobnicate", "path": "/name", "value": "x"}, "Member must satisfy enum value set"),
        ]:
            code, status, message = refusal(apigw.update_rest_api, restApiId=api["id"], patchOperations=[
                {"op": "replace", "path": "/description", "value": "first, then refused"}, patch])
            assert (code, status) == ("BadRequestException", 400), message
            assert expected in message
        assert "description" not in apigw.get_rest_api(restApiId=api["id"])

    def test_bad_rest_api_settings_are_refused(self, apigw) -> None:
        for params in [{"name": " "}, {"name": "a", "minimumCompressionSize": 10_485_761},
                       {"name": "a", "endpointConfiguration": {"types": ["EDGE", "REGIONAL"]}},
                       {"name": "a", "cloneFrom": "abcdefghij"}]:
            code, status, _ = refusal(apigw.create_rest_api, **params)
            assert (code, status) == ("BadRequestException", 400), params


class TestResources:
    def test_path_variables_greedy_proxies_and_paging(self, apigw, new_api) -> None:
        api = new_api()
        items = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="items")
        item = apigw.create_resource(restApiId=api["id"], parentId=items["id"], pathPart="{id}")
        proxy = apigw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="{proxy+}")
        assert (item["path"], proxy["path"]) == ("/items/{id}", "/{proxy+}")
        apigw.put_method(restApiId=api["id"], resourceId=proxy["id"], httpMethod="ANY", authorizationType="NONE",
                         requestParameters={"method.request.path.proxy": True})
        paths = [r["path"] for page in apigw.get_paginator("get_resources").paginate(
            restApiId=api["id"], PaginationConfig={"PageSize": 2}) for r in page["items"]]
        assert paths == ["/", "/items", "/items/{id}", "/{proxy+}"]
        embedded = apigw.get_resource(restApiId=api["id"], resourceId=proxy["id"], embed=["methods"])
        assert embedded["resourceMethods"]["ANY"]["requestParameters"] == {"method.request.path.proxy": True}
        assert apigw.get_resource(restApiId=api["id"], resourceId=proxy["id"])["resourceMethods"] == {"ANY": {}}

        assert refusal(apigw.create_resource, restApiId=api["id"], parentId=proxy["id"], pathPart="more") == (
            "BadRequestException", 400, "Cannot create a child of a resource with a greedy path variable: {proxy+}")
        assert refusal(apigw.create_resource, restApiId=api["id"], parentId=items["id"], pathPart="{name}") == (
            "ConflictException", 409, "A sibling ({id}) of this resource already has a variable path part -- only "
                                      "one is allowed")
        assert refusal(apigw.create_resource, restApiId=api["id"], parentId=api["rootResourceId"],
                       pathPart="items") == ("ConflictException", 409,
                                             "Another resource with the same parent already has this name: items")

        assert apigw.delete_resource(restApiId=api["id"], resourceId=items["id"])["ResponseMetadata"][
            "HTTPStatusCode"] == 202
        gone = ("NotFoundException", 404, "Invalid Resource identifier specified")
        assert refusal(apigw.get_resource, restApiId=api["id"], resourceId=item["id"]) == gone  # the child went too
        assert refusal(apigw.delete_resource, restApiId=api["id"], resourceId=items["id"]) == gone
        assert refusal(apigw.create_resource, restApiId=api["id"], parentId="nosuch", pathPart="x") == gone
        assert refusal(apigw.delete_resource, restApiId=api["id"], resourceId=api["rootResourceId"])[:2] == (
            "BadRequestException", 400)

    @pytest.mark.parametrize("path_part", ["it*ems", "{", "{}", "{id", "a/b", "{proxy+}x", "{+}", "with space"])
    def test_bad_path_parts_get_api_gateways_words(self, apigw, new_api, path_part: str) -> None:
        api = new_api()
        assert refusal(apigw.create_resource, restApiId=api["id"], parentId=api["rootResourceId"],
                       pathPart=path_part) == (
            "BadRequestException", 400, "Resource's path part only allow a-zA-Z0-9._- and curly braces at the "
                                        "beginning and the end and an optional plus sign before the closing brace.")


class TestMethodsAndIntegrations:
    def test_a_mock_method_with_its_responses_end_to_end(self, apigw, new_api) -> None:
        api = new_api()
        ids = {"restApiId": api["id"], "resourceId": api["rootResourceId"], "httpMethod": "GET"}
        method = apigw.put_method(**ids, authorizationType="AWS_IAM", apiKeyRequired=True,
                                  requestParameters={"method.request.querystring.page": False})
        assert (method["authorizationType"], method["apiKeyRequired"]) == ("AWS_IAM", True)
        assert refusal(apigw.put_method, **ids, authorizationType="NONE") == (
            "ConflictException", 409, "Method already exists for this resource")
        assert refusal(apigw.get_integration, **ids) == ("NotFoundException", 404, "No integration defined for method")
        apigw.put_integration(**ids, type="MOCK", requestTemplates={"application/json": '{"statusCode": 200}'},
                              requestParameters={"integration.request.querystring.page":
                                                 "method.request.querystring.page"})
        assert refusal(apigw.put_integration_response, **ids, statusCode="200")[:3] == (
            "NotFoundException", 404, "Invalid Response status code specified")
        apigw.put_method_response(**ids, statusCode="200",
                                  responseParameters={"method.response.header.X-Page": False})
        assert refusal(apigw.put_method_response, **ids, statusCode="200") == (
            "ConflictException", 409, "Response already exists for this resource")
        response = apigw.put_integration_response(
            **ids, statusCode="200", selectionPattern="", responseTemplates={"application/json": '{"ok": true}'},
            responseParameters={"method.response.header.X-Page": "'1'"})
        assert response["responseTemplates"] == {"application/json": '{"ok": true}'}
        found = apigw.get_method(**ids)
        assert found["methodResponses"]["200"]["responseParameters"] == {"method.response.header.X-Page": False}
        assert found["methodIntegration"]["type"] == "MOCK"
        assert found["methodIntegration"]["requestTemplates"] == {"application/json": '{"statusCode": 200}'}
        assert found["methodIntegration"]["integrationResponses"]["200"]["responseTemplates"] == {
            "application/json": '{"ok": true}'}
        assert apigw.get_integration_response(**ids, statusCode="200")["statusCode"] == "200"
        assert apigw.get_method_response(**ids, statusCode="200")["statusCode"] == "200"

        updated = apigw.update_method(**ids, patchOperations=[
            {"op": "replace", "path": "/apiKeyRequired", "value": "false"},
            {"op": "add", "path": "/requestParameters/method.request.header.X-Trace", "value": "true"}])
        assert updated["apiKeyRequired"] is False
        assert updated["requestParameters"]["method.request.header.X-Trace"] is True

        apigw.delete_integration_response(**ids, statusCode="200")
        assert refusal(apigw.get_integration_response, **ids, statusCode="200")[0] == "NotFoundException"
        apigw.delete_method_response(**ids, statusCode="200")
        assert refusal(apigw.get_method_response, **ids, statusCode="200") == (
            "NotFoundException", 404, "Invalid Response status code specified")
        apigw.delete_integration(**ids)
        assert refusal(apigw.get_integration, **ids)[0] == "NotFoundException"
        assert refusal(apigw.delete_integration, **ids)[0] == "NotFoundException"
        apigw.delete_method(**ids)
        missing = ("NotFoundException", 404, "Invalid Method identifier specified")
        assert refusal(apigw.get_method, **ids) == missing
        assert refusal(apigw.delete_method, **ids) == missing
        assert refusal(apigw.put_integration, **ids, type="MOCK") == missing

    def test_http_integrations_and_parameter_mappings(self, apigw, new_api) -> None:
        api = new_api()
        ids = {"restApiId": api["id"], "resourceId": api["rootResourceId"], "httpMethod": "POST"}
        apigw.put_method(**ids, authorizationType="NONE", requestParameters={"method.request.header.X-Id": True})
        made = apigw.put_integration(**ids, type="HTTP_PROXY", integrationHttpMethod="ANY",
                                     uri="https://${stageVariables.host}/orders", timeoutInMillis=5000,
                                     requestParameters={"integration.request.header.X-Id": "method.request.header.X-Id",
                                                        "integration.request.header.X-Fixed": "'on'"})
        assert (made["timeoutInMillis"], made["connectionType"]) == (5000, "INTERNET")
        code, status, message = refusal(apigw.put_integration, **ids, type="HTTP", integrationHttpMethod="POST",
                                        uri="https://example.com", requestParameters={
                                            "integration.request.header.X-Other": "method.request.header.X-Other"})
        assert (code, status) == ("BadRequestException", 400)
        assert message.endswith("[Invalid mapping expression parameter specified: method.request.header.X-Other]")
        assert apigw.get_integration(**ids)["type"] == "HTTP_PROXY"  # the refused put changed nothing

    @pytest.mark.parametrize(("params", "expected"), [
        ({"type": "AWS_PROXY", "integrationHttpMethod": "POST",
          "uri": f"arn:aws:apigateway:{REGION}:s3:path/bucket/key"},
         "Integrations of type 'AWS_PROXY' currently only supports Lambda function invocations"),
        ({"type": "AWS_PROXY", "integrationHttpMethod": "POST", "uri": FUNCTION_ARN}, "Invalid ARN specified"),
        ({"type": "AWS_PROXY", "integrationHttpMethod": "POST",
          "uri": f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{FUNCTION_ARN}"},
         "currently only supports Lambda function invocations"),
        ({"type": "AWS_PROXY", "integrationHttpMethod": "POST",
          "uri": lambda_uri(f"arn:aws:lambda:{REGION}:{ACCOUNT}:items")}, "FUNCTION_ARN/invocations"),
        ({"type": "AWS_PROXY", "uri": LAMBDA_URI}, "Enumeration value for HttpMethod must be non-empty"),
        ({"type": "AWS_PROXY", "integrationHttpMethod": "POST"}, "Invalid ARN specified"),
        ({"type": "AWS", "integrationHttpMethod": "POST", "uri": f"arn:aws:apigateway:{REGION}:sqs:queue"},
         "AWS ARN for integration must contain path or action"),
        ({"type": "HTTP", "integrationHttpMethod": "GET", "uri": "ftp://example.com/file"},
         "Invalid HTTP endpoint specified for URI"),
        ({"type": "HTTP_PROXY", "integrationHttpMethod": "GET", "uri": "http://["},
         "Invalid HTTP endpoint specified for URI"),
        ({"type": "HTTP_PROXY", "integrationHttpMethod": "FETCH", "uri": "http://example.com"},
         "Invalid HttpMethod specified"),
        ({"type": "MOCK", "timeoutInMillis": 30_000}, "Timeout should be between 50 ms and 29000 ms"),
        ({"type": "MOCK", "passthroughBehavior": "SOMETIMES"}, "Invalid passthrough behavior specified"),
        ({"type": "HTTP", "integrationHttpMethod": "GET", "uri": "http://example.com", "connectionType": "VPC_LINK"},
         "Ember has no VPC links"),
    ])
    def test_bad_integrations_are_refused(self, apigw, new_api, params: dict[str, Any], expected: str) -> None:
        api = new_api()
        ids = {"restApiId": api["id"], "resourceId": api["rootResourceId"], "httpMethod": "GET"}
        apigw.put_method(**ids, authorizationType="NONE")
        code, status, message = refusal(apigw.put_integration, **ids, **params)
        assert (code, status) == ("BadRequestException", 400), message
        assert expected in message

    def test_bad_methods_are_refused(self, apigw, new_api) -> None:
        api = new_api()
        ids = {"restApiId": api["id"], "resourceId": api["rootResourceId"]}
        for params, expected in [
            ({"httpMethod": "FETCH", "authorizationType": "NONE"}, "Invalid HttpMethod specified"),
            ({"httpMethod": "get", "authorizationType": "NONE"}, "Invalid HttpMethod specified"),
            ({"httpMethod": "GET", "authorizationType": "MAGIC"}, "Invalid authorization type specified"),
            ({"httpMethod": "GET", "authorizationType": "CUSTOM"}, "Invalid authorizer ID specified"),
            ({"httpMethod": "GET", "authorizationType": "CUSTOM", "authorizerId": "nosuch"},
             "Invalid authorizer ID specified"),
            ({"httpMethod": "GET", "authorizationType": "NONE", "requestParameters": {"query.page": True}},
             "Invalid method request parameter specified: query.page"),
        ]:
            code, status, message = refusal(apigw.put_method, **ids, **params)
            assert (code, status) == ("BadRequestException", 400), message
            assert expected in message
        assert refusal(apigw.put_method, **{**ids, "resourceId": "nosuch"}, httpMethod="GET",
                       authorizationType="NONE") == ("NotFoundException", 404, "Invalid Resource identifier specified")
        assert refusal(apigw.put_method, **{**ids, "restApiId": "nosuchapi0"}, httpMethod="GET",
                       authorizationType="NONE") == ("NotFoundException", 404,
                                                     f"Invalid API identifier specified {ACCOUNT}:nosuchapi0")
        apigw.put_method(**ids, httpMethod="GET", authorizationType="NONE")
        assert refusal(apigw.put_method_response, **ids, httpMethod="GET", statusCode="20")[:2] == (
            "BadRequestException", 400)


class TestAuthorizers:
    def test_token_and_request_authorizers_guard_methods(self, apigw, new_api) -> None:
        api = new_api()
        token = apigw.create_authorizer(restApiId=api["id"], name="bearer", type="TOKEN", authorizerUri=LAMBDA_URI,
                                        identitySource="method.request.header.Authorization")
        assert (token["authorizerResultTtlInSeconds"], CHILD_ID.fullmatch(token["id"]) is not None) == (300, True)
        request = apigw.create_authorizer(restApiId=api["id"], name="by-query", type="REQUEST",
                                          authorizerUri=LAMBDA_URI, authorizerResultTtlInSeconds=0)
        assert {a["name"] for a in apigw.get_authorizers(restApiId=api["id"])["items"]} == {"bearer", "by-query"}
        ids = {"restApiId": api["id"], "resourceId": api["rootResourceId"], "httpMethod": "GET"}
        method = apigw.put_method(**ids, authorizationType="CUSTOM", authorizerId=token["id"])
        assert method["authorizerId"] == token["id"]
        updated = apigw.update_authorizer(restApiId=api["id"], authorizerId=request["id"], patchOperations=[
            {"op": "replace", "path": "/identitySource", "value": "method.request.querystring.key"},
            {"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": "60"}])
        assert (updated["identitySource"], updated["authorizerResultTtlInSeconds"]) == (
            "method.request.querystring.key", 60)
        assert apigw.get_authorizer(restApiId=api["id"], authorizerId=request["id"])["authorizerResultTtlInSeconds"] \
            == 60
        assert refusal(apigw.update_authorizer, restApiId=api["id"], authorizerId=request["id"], patchOperations=[
            {"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": "3601"}])[:2] == (
            "BadRequestException", 400)
        code, status, message = refusal(apigw.delete_authorizer, restApiId=api["id"], authorizerId=token["id"])
        assert (code, status, message) == ("BadRequestException", 400,
                                           "Cannot delete authorizer 'bearer', is referenced in method: GET /")
        apigw.delete_method(**ids)
        apigw.delete_authorizer(restApiId=api["id"], authorizerId=token["id"])
        assert refusal(apigw.get_authorizer, restApiId=api["id"], authorizerId=token["id"]) == (
            "NotFoundException", 404, "Invalid Authorizer identifier specified")

    @pytest.mark.parametrize(("params", "expected"), [
        ({"type": "TOKEN", "authorizerUri": LAMBDA_URI}, "Invalid identity source specified"),
        ({"type": "TOKEN", "authorizerUri": LAMBDA_URI, "identitySource": "method.request.querystring.t"},
         "method.request.header.NAME"),
        ({"type": "TOKEN", "identitySource": "method.request.header.Authorization"}, "Invalid ARN specified"),
        ({"type": "REQUEST", "authorizerUri": LAMBDA_URI}, "Identity source must be specified"),
        ({"type": "REQUEST", "authorizerUri": LAMBDA_URI, "identitySource": "body.token"},
         "Invalid identity source specified: body.token"),
        ({"type": "TOKEN", "authorizerUri": LAMBDA_URI, "identitySource": "method.request.header.A",
          "authorizerResultTtlInSeconds": 3601}, "Invalid authorizer TTL specified"),
        ({"type": "TOKEN", "authorizerUri": LAMBDA_URI, "identitySource": "method.request.header.A",
          "identityValidationExpression": "("}, "Invalid identity validation expression"),
        ({"type": "COGNITO_USER_POOLS", "identitySource": "method.request.header.A"}, "needs providerARNs"),
        # the model's enum is shared with HTTP APIs; REST APIs have no JWT authorizers
        ({"type": "JWT", "authorizerUri": LAMBDA_URI}, "Invalid authorizer type specified: JWT"),
    ])
    def test_bad_authorizers_are_refused(self, apigw, new_api, params: dict[str, Any], expected: str) -> None:
        api = new_api()
        code, status, message = refusal(apigw.create_authorizer, restApiId=api["id"], name="auth", **params)
        assert (code, status) == ("BadRequestException", 400), message
        assert expected in message
        assert apigw.get_authorizers(restApiId=api["id"])["items"] == []


class TestDeploymentsAndStages:
    def test_a_deployment_is_a_snapshot_and_stages_move_between_them(self, apigw, new_api) -> None:
        api = new_api()
        items = api_with_proxy(apigw, api)
        first = apigw.create_deployment(restApiId=api["id"], stageName="prod", description="first",
                                        variables={"alias": "live", "colour": "blue"})
        # Changes after the deployment: the deployed snapshot (and so the stage) does not see them.
        apigw.delete_resource(restApiId=api["id"], resourceId=items)
        api_with_proxy(apigw, api, "orders")
        snapshot = apigw.get_deployment(restApiId=api["id"], deploymentId=first["id"], embed=["apisummary"])
        assert snapshot["apiSummary"] == {"/items": {"ANY": {"authorizationType": "NONE", "apiKeyRequired": False}}}
        assert "apiSummary" not in apigw.get_deployment(restApiId=api["id"], deploymentId=first["id"])
        second = apigw.create_deployment(restApiId=api["id"], description="second")
        assert set(apigw.get_deployment(restApiId=api["id"], deploymentId=second["id"],
                                        embed=["apisummary"])["apiSummary"]) == {"/orders"}
        assert {d["id"] for d in apigw.get_deployments(restApiId=api["id"])["items"]} == {first["id"], second["id"]}

        prod = apigw.get_stage(restApiId=api["id"], stageName="prod")
        assert (prod["deploymentId"], prod["variables"]) == (first["id"], {"alias": "live", "colour": "blue"})
        moved = apigw.update_stage(restApiId=api["id"], stageName="prod", patchOperations=[
            {"op": "replace", "path": "/deploymentId", "value": second["id"]},
            {"op": "replace", "path": "/variables/alias", "value": "next"},
            {"op": "remove", "path": "/variables/colour"},
            {"op": "add", "path": "/variables/region", "value": "us-east-1"},
            {"op": "replace", "path": "/description", "value": "production"},
            {"op": "replace", "path": "/tracingEnabled", "value": "true"}])
        assert (moved["deploymentId"], moved["variables"], moved["description"], moved["tracingEnabled"]) == (
            second["id"], {"alias": "next", "region": "us-east-1"}, "production", True)

        beta = apigw.create_stage(restApiId=api["id"], stageName="beta", deploymentId=first["id"],
                                  variables={"alias": "beta"})
        assert beta["deploymentId"] == first["id"]
        assert refusal(apigw.create_stage, restApiId=api["id"], stageName="beta", deploymentId=first["id"]) == (
            "ConflictException", 409, "Stage already exists")
        assert [s["stageName"] for s in apigw.get_stages(restApiId=api["id"])["item"]] == ["beta", "prod"]
        assert [s["stageName"] for s in apigw.get_stages(restApiId=api["id"], deploymentId=first["id"])["item"]] \
            == ["beta"]

        in_use = ("BadRequestException", 400, "Active stages pointing to this deployment must be moved or deleted")
        assert refusal(apigw.delete_deployment, restApiId=api["id"], deploymentId=first["id"]) == in_use
        assert refusal(apigw.delete_deployment, restApiId=api["id"], deploymentId=second["id"]) == in_use
        apigw.delete_stage(restApiId=api["id"], stageName="beta")
        assert refusal(apigw.get_stage, restApiId=api["id"], stageName="beta") == (
            "NotFoundException", 404, "Invalid Stage identifier specified")
        assert refusal(apigw.delete_stage, restApiId=api["id"], stageName="beta")[0] == "NotFoundException"
        apigw.delete_deployment(restApiId=api["id"], deploymentId=first["id"])
        assert refusal(apigw.get_deployment, restApiId=api["id"], deploymentId=first["id"]) == (
            "NotFoundException", 404, "Invalid Deployment identifier specified")

    def test_deploying_again_to_a_stage_moves_it(self, apigw, new_api) -> None:
        api = new_api()
        api_with_proxy(apigw, api)
        first = apigw.create_deployment(restApiId=api["id"], stageName="prod", variables={"a": "1"})
        second = apigw.create_deployment(restApiId=api["id"], stageName="prod", variables={"b": "2"})
        prod = apigw.get_stage(restApiId=api["id"], stageName="prod")
        assert (prod["deploymentId"], prod["variables"]) == (second["id"], {"a": "1", "b": "2"})
        apigw.delete_deployment(restApiId=api["id"], deploymentId=first["id"])  # no stage uses it any more

    def test_bad_deployments_and_stages_are_refused(self, apigw, new_api) -> None:
        api = new_api()
        assert refusal(apigw.create_deployment, restApiId=api["id"], stageName="prod") == (
            "BadRequestException", 400, "The REST API doesn't contain any methods")
        apigw.put_method(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET",
                         authorizationType="NONE")
        assert refusal(apigw.create_deployment, restApiId=api["id"], stageName="prod") == (
            "BadRequestException", 400, "No integration defined for method")
        assert apigw.get_stages(restApiId=api["id"])["item"] == []
        api_with_proxy(apigw, api)
        apigw.delete_method(restApiId=api["id"], resourceId=api["rootResourceId"], httpMethod="GET")
        assert refusal(apigw.create_deployment, restApiId=api["id"], stageName="prod-1") == (
            "BadRequestException", 400, "Stage name only allows a-zA-Z0-9_")
        code, _, message = refusal(apigw.create_deployment, restApiId=api["id"], stageName="prod",
                                   variables={"url": "has space"})
        assert code == "BadRequestException" and message.startswith("Invalid stage variable value 'has space'")
        deployment = apigw.create_deployment(restApiId=api["id"], stageName="prod")
        assert refusal(apigw.create_stage, restApiId=api["id"], stageName="beta", deploymentId="nosuch") == (
            "NotFoundException", 404, "Invalid Deployment identifier specified")
        for patch, expected in [
            ({"op": "replace", "path": "/deploymentId", "value": "nosuch"}, ("NotFoundException", 404)),
            ({"op": "replace", "path": "/stageName", "value": "other"}, ("BadRequestException", 400)),
            ({"op": "copy", "path": "/variables/a", "from": "/variables/b"}, ("BadRequestException", 400)),
            ({"op": "replace", "path": "/variables/bad name", "value": "x"}, ("BadRequestException", 400)),
            ({"op": "replace", "path": "/tracingEnabled", "value": "maybe"}, ("BadRequestException", 400)),
            ({"op": "replace", "path": "/cacheClusterSize", "value": "2"}, ("BadRequestException", 400)),
        ]:
            assert refusal(apigw.update_stage, restApiId=api["id"], stageName="prod",
                           patchOperations=[patch])[:2] == expected, patch
        assert apigw.get_stage(restApiId=api["id"], stageName="prod")["deploymentId"] == deployment["id"]
        assert refusal(apigw.update_stage, restApiId=api["id"], stageName="nosuch", patchOperations=[])[0] == \
            "NotFoundException"


def test_tags_on_rest_apis_and_stages(apigw, new_api) -> None:
    api = new_api(tags={"team": "web"})
    api_with_proxy(apigw, api)
    apigw.create_deployment(restApiId=api["id"], stageName="prod")
    api_arn = f"arn:aws:apigateway:{REGION}::/restapis/{api['id']}"
    apigw.tag_resource(resourceArn=api_arn, tags={"cost": "shop"})
    apigw.untag_resource(resourceArn=api_arn, tagKeys=["team"])
    assert apigw.get_tags(resourceArn=api_arn)["tags"] == {"cost": "shop"}
    assert apigw.get_rest_api(restApiId=api["id"])["tags"] == {"cost": "shop"}
    stage_arn = f"{api_arn}/stages/prod"
    apigw.tag_resource(resourceArn=stage_arn, tags={"tier": "gold"})
    assert apigw.get_stage(restApiId=api["id"], stageName="prod")["tags"] == {"tier": "gold"}
    assert refusal(apigw.tag_resource, resourceArn=f"{api_arn}/stages/beta", tags={"a": "b"}) == (
        "NotFoundException", 404, "Invalid Stage identifier specified")
    assert refusal(apigw.get_tags, resourceArn=f"arn:aws:apigateway:{REGION}::/restapis/nosuchapi0")[:2] == (
        "NotFoundException", 404)
    assert refusal(apigw.tag_resource, resourceArn=FUNCTION_ARN, tags={"a": "b"})[:2] == ("BadRequestException", 400)
    assert refusal(apigw.tag_resource, resourceArn=api_arn, tags={"aws:owner": "me"})[:2] == (
        "BadRequestException", 400)


def test_unreadable_requests_are_answered_never_with_a_500(server: EmberServer, new_api) -> None:
    api = new_api()
    http = urllib3.PoolManager()
    headers = {"content-type": "application/json"}
    for method, path, body in [
        ("POST", "/restapis", b"{"),
        ("POST", "/restapis", b"[]"),
        ("POST", "/restapis", b'{"name": 7}'),
        ("POST", "/restapis", b"{}"),
        ("PATCH", f"/restapis/{api['id']}", b'{"patchOperations": [{"op": "replace"}]}'),
        ("PATCH", f"/restapis/{api['id']}", b'{"patchOperations": [null]}'),
        ("PATCH", f"/restapis/{api['id']}", b'{"patchOperations": "all"}'),
        ("GET", f"/restapis/{api['id']}/resources?limit=0", b""),
        ("GET", f"/restapis/{api['id']}/resources?limit=lots", b""),
        ("GET", f"/restapis/{api['id']}/resources?position=%%%", b""),
        ("PUT", f"/restapis/{api['id']}/resources/{api['rootResourceId']}/methods/GET", b'{"authorizationType": 1}'),
        ("POST", f"/restapis/{api['id']}/deployments", b'{"variables": {"a": null}}'),
    ]:
        response = http.request(method, server.url + path, body=body, headers=headers)
        assert 400 <= response.status < 500, (method, path, body, response.status, response.data)
        document = json.loads(response.data)
        assert "Traceback" not in response.data.decode() and document.get("message"), document
    assert "Traceback" not in server.log()


def test_what_was_acknowledged_survives_a_kill_9(start_server: Callable[..., EmberServer]) -> None:
    first = start_server()
    apigw = first.client("apigateway")
    api = apigw.create_rest_api(name="durable", description="kept")
    items = api_with_proxy(apigw, api)
    authorizer = apigw.create_authorizer(restApiId=api["id"], name="bearer", type="TOKEN", authorizerUri=LAMBDA_URI,
                                         identitySource="method.request.header.Authorization")
    deployment = apigw.create_deployment(restApiId=api["id"], stageName="prod", variables={"alias": "live"})
    last = apigw.create_resource(restApiId=api["id"], parentId=items, pathPart="{id}")  # the very last write
    apigw.close()
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL

    database = first.data_dir / "apigateway.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    second = start_server(data_dir=first.data_dir)
    apigw = second.client("apigateway")
    assert apigw.get_rest_api(restApiId=api["id"])["description"] == "kept"
    assert apigw.get_resource(restApiId=api["id"], resourceId=last["id"])["path"] == "/items/{id}"
    assert apigw.get_integration(restApiId=api["id"], resourceId=items, httpMethod="ANY")["uri"] == LAMBDA_URI
    assert apigw.get_authorizer(restApiId=api["id"], authorizerId=authorizer["id"])["name"] == "bearer"
    stage = apigw.get_stage(restApiId=api["id"], stageName="prod")
    assert (stage["deploymentId"], stage["variables"]) == (deployment["id"], {"alias": "live"})
    apigw.close()


@pytest.fixture(scope="module")
def iam_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmberServer]:
    ember = iam_mode_server(tmp_path_factory.mktemp("apigw-iam") / "data")
    yield ember
    ember.shut_down()


class TestIamMode:
    def test_the_root_key_drives_the_control_plane_from_boto3_and_the_aws_cli(self, iam_server: EmberServer,
                                                                             tmp_path: Path) -> None:
        root = iam_server.root_client("apigateway")
        api = root.create_rest_api(name="guarded")
        api_with_proxy(root, api)
        assert root.create_deployment(restApiId=api["id"], stageName="prod")["id"]
        credentials = tmp_path / "credentials"
        credentials.write_text(f"[ember]\naws_access_key_id = {ROOT_KEY_ID}\naws_secret_access_key = {ROOT_SECRET}\n")
        env = {**os.environ, "AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": "/dev/null",
               "AWS_DEFAULT_REGION": REGION}
        for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            env.pop(variable, None)
        done = subprocess.run([str(VENV_BIN / "aws"), "--endpoint-url", iam_server.url, "--profile", "ember",
                               "apigateway", "get-stages", "--rest-api-id", api["id"]], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert [s["stageName"] for s in json.loads(done.stdout)["item"]] == ["prod"]
        assert refusal(iam_server.client("apigateway", ROOT_KEY_ID, "w" * 40).get_rest_apis)[:2] == (
            "InvalidSignatureException", 403)

    def test_users_need_apigateway_verbs_on_the_paths_they_touch(self, iam_server: EmberServer) -> None:
        root = iam_server.root_client("apigateway")
        api = root.create_rest_api(name="private")
        iam = iam_server.root_client("iam")
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        reader = iam_server.client("apigateway", key["AccessKeyId"], key["SecretAccessKey"])
        assert refusal(reader.get_rest_api, restApiId=api["id"]) == (
            "AccessDeniedException", 403,
            f"User: arn:aws:iam::{ACCOUNT}:user/reader is not authorized to perform: apigateway:GET on resource: "
            f"arn:aws:apigateway:{REGION}::/restapis/{api['id']} because no identity-based policy allows the "
            "apigateway:GET action")
        iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "apigateway:GET",
                                                    "Resource": f"arn:aws:apigateway:{REGION}::/restapis/*"}]}))
        assert reader.get_rest_api(restApiId=api["id"])["name"] == "private"
        assert [r["path"] for r in reader.get_resources(restApiId=api["id"])["items"]] == ["/"]
        code, status, message = refusal(reader.create_resource, restApiId=api["id"],
                                        parentId=api["rootResourceId"], pathPart="x")
        assert (code, status) == ("AccessDeniedException", 403)
        assert f"apigateway:POST on resource: arn:aws:apigateway:{REGION}::/restapis/{api['id']}/resources/" in message
