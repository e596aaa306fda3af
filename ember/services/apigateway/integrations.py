"""Integrations and their responses: PutIntegration, GetIntegration, DeleteIntegration,
PutIntegrationResponse, GetIntegrationResponse, DeleteIntegrationResponse.

An integration is where a method sends its requests: a Lambda function (AWS_PROXY, or AWS
through mapping templates), an HTTP endpoint (HTTP_PROXY, HTTP), or nothing at all (MOCK, whose
integration responses are the answer). Parameter mappings may only read method request
parameters the method declares, as API Gateway checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from ember.apigateway_store.base import ApiGatewayStore
from ember.apigateway_store.records import Integration, IntegrationResponse, IntegrationType, Method
from ember.errors import BadRequestException, NotFoundException
from ember.services.apigateway import wire
from ember.services.apigateway.checks import check_http_method, check_status_code
from ember.services.apigateway.integration_uris import check_integration_uri
from ember.services.apigateway.methods import method_not_found, response_not_found
from ember.services.base import RequestContext

PASSTHROUGH_BEHAVIORS = ("WHEN_NO_MATCH", "WHEN_NO_TEMPLATES", "NEVER")
MIN_TIMEOUT_MS, MAX_TIMEOUT_MS = 50, 29_000
_LOCATIONS = "(?:path|querystring|multivaluequerystring|header|multivalueheader)"
_INTEGRATION_PARAMETER = re.compile(rf"integration\.request\.{_LOCATIONS}\.\S+")
_METHOD_PARAMETER = re.compile(rf"method\.request\.{_LOCATIONS}\.\S+")
#: what else a mapping may read: the body, a literal in single quotes, a stage variable, the context
_OTHER_SOURCE = re.compile(r"method\.request\.body(?:\.\S+)?|'[^']*'|stageVariables\.\S+|context\.\S+")
_RESPONSE_PARAMETER = re.compile(r"method\.response\.header\.\S+")


def no_integration() -> NotFoundException:
    return NotFoundException("No integration defined for method")


def _mapping_error(parameter: str) -> BadRequestException:
    return BadRequestException("Invalid mapping expression specified: Validation Result: warnings : [], errors : "
                               f"[Invalid mapping expression parameter specified: {parameter}]")


def _check_request_mappings(mappings: Mapping[str, str], method: Method) -> None:
    """Each key an integration request parameter; each value a method request parameter the method
    declares, the body, a literal, a stage variable or a context variable."""
    for target, source in mappings.items():
        if not _INTEGRATION_PARAMETER.fullmatch(target):
            raise _mapping_error(target)
        if _METHOD_PARAMETER.fullmatch(source):
            if source not in method.request_parameters:
                raise _mapping_error(source)
        elif not _OTHER_SOURCE.fullmatch(source):
            raise _mapping_error(source)


def _integration_of(p: dict[str, Any]) -> Integration:
    kind = IntegrationType(p["type"])
    if p.get("connectionType", "INTERNET") != "INTERNET":
        raise BadRequestException("Ember has no VPC links: leave connectionType out (or INTERNET) and reach the "
                                  "endpoint by its URL")
    passthrough = p.get("passthroughBehavior", "WHEN_NO_MATCH")
    if passthrough not in PASSTHROUGH_BEHAVIORS:
        raise BadRequestException(f"Invalid passthrough behavior specified: {passthrough}. Valid options are "
                                  f"{', '.join(PASSTHROUGH_BEHAVIORS)}")
    timeout_ms = p.get("timeoutInMillis", MAX_TIMEOUT_MS)
    if not MIN_TIMEOUT_MS <= timeout_ms <= MAX_TIMEOUT_MS:
        raise BadRequestException(f"Timeout should be between {MIN_TIMEOUT_MS} ms and {MAX_TIMEOUT_MS} ms")
    return Integration(
        type=kind,
        http_method=None if kind is IntegrationType.MOCK else check_http_method(p.get("integrationHttpMethod")),
        uri=check_integration_uri(kind, p.get("uri")), credentials=p.get("credentials"),
        request_parameters=dict(p.get("requestParameters", {})),
        request_templates=dict(p.get("requestTemplates", {})), passthrough_behavior=passthrough,
        content_handling=p.get("contentHandling"), timeout_ms=timeout_ms,
        cache_namespace=p.get("cacheNamespace") or p["resourceId"],
        cache_key_parameters=tuple(p.get("cacheKeyParameters", ())))


def _integration_response_of(p: dict[str, Any]) -> IntegrationResponse:
    check_status_code(p["statusCode"])
    for target in p.get("responseParameters", {}):
        if not _RESPONSE_PARAMETER.fullmatch(target):
            raise _mapping_error(target)
    return IntegrationResponse(p["statusCode"], p.get("selectionPattern"), dict(p.get("responseParameters", {})),
                               dict(p.get("responseTemplates", {})), p.get("contentHandling"))


class IntegrationOperations:
    def __init__(self, store: ApiGatewayStore) -> None:
        self.store = store

    async def _method(self, p: dict[str, Any]) -> Method:
        found = await self.store.get_method(p["restApiId"], p["resourceId"], p["httpMethod"])
        if found is None:
            raise method_not_found()
        return found

    async def put_integration(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        integration = _integration_of(p)

        def put(method: Method) -> Method:
            _check_request_mappings(integration.request_parameters, method)
            return replace(method, integration=integration)  # a new integration starts without responses

        await self.store.update_method(p["restApiId"], p["resourceId"], p["httpMethod"], put)
        return wire.integration(integration)

    async def get_integration(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        integration = (await self._method(p)).integration
        if integration is None:
            raise no_integration()
        return wire.integration(integration)

    async def delete_integration(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        def remove(method: Method) -> Method:
            if method.integration is None:
                raise no_integration()
            return replace(method, integration=None)

        await self.store.update_method(p["restApiId"], p["resourceId"], p["httpMethod"], remove)
        return {}

    async def put_integration_response(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        response = _integration_response_of(p)

        def put(method: Method) -> Method:
            if method.integration is None:
                raise no_integration()
            declared = method.responses.get(response.status_code)
            if declared is None:  # an integration response maps onto a method response of its status
                raise response_not_found()
            for target in response.response_parameters:
                if target not in declared.response_parameters:
                    raise _mapping_error(target)
            responses = {**method.integration.responses, response.status_code: response}
            return replace(method, integration=replace(method.integration, responses=responses))

        await self.store.update_method(p["restApiId"], p["resourceId"], p["httpMethod"], put)
        return wire.integration_response(response)

    async def get_integration_response(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        integration = (await self._method(p)).integration
        if integration is None:
            raise no_integration()
        response = integration.responses.get(p["statusCode"])
        if response is None:
            raise response_not_found()
        return wire.integration_response(response)

    async def delete_integration_response(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        def remove(method: Method) -> Method:
            if method.integration is None:
                raise no_integration()
            if p["statusCode"] not in method.integration.responses:
                raise response_not_found()
            responses = {k: v for k, v in method.integration.responses.items() if k != p["statusCode"]}
            return replace(method, integration=replace(method.integration, responses=responses))

        await self.store.update_method(p["restApiId"], p["resourceId"], p["httpMethod"], remove)
        return {}
