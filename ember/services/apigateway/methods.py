"""Methods and their responses: PutMethod, GetMethod, UpdateMethod, DeleteMethod,
PutMethodResponse, GetMethodResponse, DeleteMethodResponse.

A method is how a resource answers one HTTP verb (or ANY): who may call it (NONE, AWS_IAM, a
CUSTOM Lambda authorizer, a Cognito user pool), whether it needs an API key, which request
parameters it declares, and the responses it may give.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ember.apigateway_store.base import ApiGatewayStore
from ember.apigateway_store.records import AuthorizerType, Method, MethodResponse
from ember.errors import BadRequestException, ConflictException, NotFoundException
from ember.services.apigateway import patches, wire
from ember.services.apigateway.checks import (
    check_authorization_type,
    check_http_method,
    check_method_parameters,
    check_status_code,
)
from ember.services.apigateway.patches import Patch
from ember.services.base import RequestContext

#: which authorizers each authorization type takes
_AUTHORIZER_TYPES = {"CUSTOM": (AuthorizerType.TOKEN, AuthorizerType.REQUEST),
                     "COGNITO_USER_POOLS": (AuthorizerType.COGNITO_USER_POOLS,)}
_REPLACEABLE = ("/authorizationType", "/authorizerId", "/apiKeyRequired", "/operationName")


def needs_authorizer() -> BadRequestException:
    return BadRequestException("Invalid authorizer ID specified. Setting the authorization type to CUSTOM or "
                               "COGNITO_USER_POOLS requires a valid authorizer.")


def method_not_found() -> NotFoundException:
    return NotFoundException("Invalid Method identifier specified")


def response_not_found() -> NotFoundException:
    return NotFoundException("Invalid Response status code specified")


def _apply_patches(method: Method, changes: list[Patch]) -> Method:
    """`method` with UpdateMethod's patch operations applied, in order."""
    for patch in changes:
        segments = patch.segments
        if segments[0] == "requestParameters" and len(segments) == 2:
            kept = patches.patched_entry(patch, method.request_parameters,
                                         lambda p: patches.boolean(p) if p.value else False)
            if patch.op != "remove":
                check_method_parameters(kept)
            method = replace(method, request_parameters=kept)
            continue
        if patch.path not in _REPLACEABLE:
            raise patches.invalid_path(patch, (*_REPLACEABLE, "/requestParameters/NAME"))
        patches.require_op(patch, "replace")
        if patch.path == "/authorizationType":
            authorization_type = patches.required_text(patch)
            check_authorization_type(authorization_type)
            method = replace(method, authorization_type=authorization_type)
        elif patch.path == "/authorizerId":
            method = replace(method, authorizer_id=patches.text(patch))
        elif patch.path == "/apiKeyRequired":
            method = replace(method, api_key_required=patches.boolean(patch))
        else:
            method = replace(method, operation_name=patches.text(patch))
    if method.authorization_type not in _AUTHORIZER_TYPES:
        return replace(method, authorizer_id=None)  # only CUSTOM and COGNITO_USER_POOLS use one
    if method.authorizer_id is None:
        raise needs_authorizer()
    return method


class MethodOperations:
    def __init__(self, store: ApiGatewayStore) -> None:
        self.store = store

    async def _check_authorizer(self, api_id: str, method: Method) -> None:
        """A CUSTOM method names a Lambda authorizer, a COGNITO_USER_POOLS one a user pool's."""
        wanted = _AUTHORIZER_TYPES.get(method.authorization_type)
        if wanted is None:
            return
        found = await self.store.get_authorizer(api_id, method.authorizer_id) if method.authorizer_id else None
        if found is None:
            raise needs_authorizer()
        if found.type not in wanted:
            raise BadRequestException(
                f"Authorizer {found.authorizer_id} is a {found.type.value} authorizer; authorization type "
                f"{method.authorization_type} takes a {' or '.join(t.value for t in wanted)} authorizer")

    async def put_method(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        http_method = check_http_method(p["httpMethod"])
        check_authorization_type(p["authorizationType"])
        parameters = p.get("requestParameters", {})
        check_method_parameters(parameters)
        uses_authorizer = p["authorizationType"] in _AUTHORIZER_TYPES
        method = Method(
            http_method=http_method, authorization_type=p["authorizationType"],
            authorizer_id=p.get("authorizerId") if uses_authorizer else None,
            api_key_required=p.get("apiKeyRequired", False), operation_name=p.get("operationName"),
            request_parameters=dict(parameters), request_models=dict(p.get("requestModels", {})),
            request_validator_id=p.get("requestValidatorId"),
            authorization_scopes=tuple(p.get("authorizationScopes", ())))
        await self._check_authorizer(p["restApiId"], method)
        await self.store.put_method(p["restApiId"], p["resourceId"], method)
        return wire.method(method)

    async def get_method(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        return wire.method(await self._method(p))

    async def _method(self, p: dict[str, Any]) -> Method:
        found = await self.store.get_method(p["restApiId"], p["resourceId"], p["httpMethod"])
        if found is None:
            raise method_not_found()
        return found

    async def update_method(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        changes = patches.patches_of(p)
        current = await self._method(p)
        await self._check_authorizer(p["restApiId"], _apply_patches(current, changes))
        updated = await self.store.update_method(p["restApiId"], p["resourceId"], p["httpMethod"],
                                                 lambda method: _apply_patches(method, changes))
        return wire.method(updated)

    async def delete_method(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.delete_method(p["restApiId"], p["resourceId"], p["httpMethod"]):
            raise method_not_found()
        return {}

    async def put_method_response(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        status_code = p["statusCode"]
        check_status_code(status_code)
        response = MethodResponse(status_code, dict(p.get("responseParameters", {})),
                                  dict(p.get("responseModels", {})))

        def add(method: Method) -> Method:
            if status_code in method.responses:
                raise ConflictException("Response already exists for this resource")
            return replace(method, responses={**method.responses, status_code: response})

        await self.store.update_method(p["restApiId"], p["resourceId"], p["httpMethod"], add)
        return wire.method_response(response)

    async def get_method_response(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        response = (await self._method(p)).responses.get(p["statusCode"])
        if response is None:
            raise response_not_found()
        return wire.method_response(response)

    async def delete_method_response(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        def remove(method: Method) -> Method:
            if p["statusCode"] not in method.responses:
                raise response_not_found()
            return replace(method, responses={k: v for k, v in method.responses.items() if k != p["statusCode"]})

        await self.store.update_method(p["restApiId"], p["resourceId"], p["httpMethod"], remove)
        return {}
