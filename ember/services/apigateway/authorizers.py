"""Authorizers: CreateAuthorizer, GetAuthorizer, GetAuthorizers, UpdateAuthorizer, DeleteAuthorizer.

A TOKEN authorizer is a Lambda function given one header's value; a REQUEST authorizer a
function given the identity sources' values (headers, query parameters, stage and context
variables). The policy it returns is reused for `authorizerResultTtlInSeconds` (0: every request
asks again), keyed by the identity sources, which is why REQUEST needs them when caching.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ember.apigateway_store.base import ApiGatewayStore
from ember.apigateway_store.records import Authorizer, AuthorizerType
from ember.errors import BadRequestException, NotFoundException
from ember.services.apigateway import paging, patches, wire
from ember.services.apigateway.ids import with_new_id
from ember.services.apigateway.integration_uris import check_lambda_uri
from ember.services.apigateway.patches import Patch
from ember.services.base import RequestContext

MAX_TTL_S = 3600
DEFAULT_TTL_S = 300
_TOKEN_SOURCE = re.compile(r"method\.request\.header\.[^\s,]+")
_REQUEST_SOURCE = re.compile(r"method\.request\.(?:header|querystring|multivalueheader|multivaluequerystring)"
                             r"\.[^\s,]+|stageVariables\.[^\s,]+|context\.[^\s,]+")
_REPLACEABLE = ("/name", "/type", "/authorizerUri", "/identitySource", "/identityValidationExpression",
                "/authorizerResultTtlInSeconds", "/authorizerCredentials", "/authType")


def authorizer_type(value: str) -> AuthorizerType:
    if value not in AuthorizerType.__members__:
        # the model's enum is shared with HTTP APIs (v2), whose JWT authorizers REST APIs do not take
        raise BadRequestException(f"Invalid authorizer type specified: {value}. Valid options are "
                                  f"{', '.join(AuthorizerType.__members__)}")
    return AuthorizerType(value)


def authorizer_not_found() -> NotFoundException:
    return NotFoundException("Invalid Authorizer identifier specified")


def check_authorizer(found: Authorizer) -> Authorizer:
    """`found` if API Gateway would take it; else BadRequestException saying what to change."""
    if not found.name.strip():
        raise BadRequestException("Invalid authorizer name specified: name must not be empty")
    if not 0 <= found.result_ttl_s <= MAX_TTL_S:
        raise BadRequestException(f"Invalid authorizer TTL specified: authorizerResultTtlInSeconds must be from 0 "
                                  f"to {MAX_TTL_S}")
    if found.identity_validation_expression is not None:
        try:
            re.compile(found.identity_validation_expression)
        except re.error as exc:
            raise BadRequestException(f"Invalid identity validation expression specified: {exc}") from None
    if found.type is AuthorizerType.COGNITO_USER_POOLS:
        if not found.provider_arns:
            raise BadRequestException("A COGNITO_USER_POOLS authorizer needs providerARNs: the user pools' ARNs")
        _check_token_source(found)
        return found
    check_lambda_uri(found.authorizer_uri, f"An authorizer of type {found.type.value}")
    if found.type is AuthorizerType.TOKEN:
        _check_token_source(found)
        return found
    sources = [part.strip() for part in (found.identity_source or "").split(",") if part.strip()]
    if not sources and found.result_ttl_s > 0:
        raise BadRequestException("Identity source must be specified for a REQUEST authorizer that caches its "
                                  "results: name them (method.request.header.NAME, method.request.querystring.NAME, "
                                  "stageVariables.NAME, context.NAME), or set authorizerResultTtlInSeconds to 0")
    for source in sources:
        if not _REQUEST_SOURCE.fullmatch(source):
            raise BadRequestException(f"Invalid identity source specified: {source}. Use method.request.header.NAME, "
                                      "method.request.querystring.NAME, stageVariables.NAME or context.NAME")
    return found


def _check_token_source(found: Authorizer) -> None:
    if not _TOKEN_SOURCE.fullmatch(found.identity_source or ""):
        raise BadRequestException(f"Invalid identity source specified: {found.identity_source or '(none)'}. A "
                                  f"{found.type.value} authorizer reads one header: method.request.header.NAME")


def _apply_patches(found: Authorizer, changes: list[Patch]) -> Authorizer:
    """`found` with UpdateAuthorizer's patch operations applied, in order, then checked whole."""
    for patch in changes:
        if patch.path not in _REPLACEABLE:
            raise patches.invalid_path(patch, _REPLACEABLE)
        patches.require_op(patch, "replace")
        if patch.path == "/name":
            found = replace(found, name=patches.required_text(patch))
        elif patch.path == "/type":
            found = replace(found, type=authorizer_type(patches.required_text(patch)))
        elif patch.path == "/authorizerResultTtlInSeconds":
            found = replace(found, result_ttl_s=patches.integer(patch, 0, MAX_TTL_S))
        elif patch.path == "/authorizerUri":
            found = replace(found, authorizer_uri=patches.text(patch))
        elif patch.path == "/identitySource":
            found = replace(found, identity_source=patches.text(patch))
        elif patch.path == "/identityValidationExpression":
            found = replace(found, identity_validation_expression=patches.text(patch))
        elif patch.path == "/authorizerCredentials":
            found = replace(found, authorizer_credentials=patches.text(patch))
        else:
            found = replace(found, auth_type=patches.text(patch))
    return check_authorizer(found)


class AuthorizerOperations:
    def __init__(self, store: ApiGatewayStore) -> None:
        self.store = store

    async def create_authorizer(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        def authorizer(authorizer_id: str) -> Authorizer:
            return check_authorizer(Authorizer(
                authorizer_id=authorizer_id, name=p["name"], type=authorizer_type(p["type"]),
                authorizer_uri=p.get("authorizerUri"), identity_source=p.get("identitySource"),
                identity_validation_expression=p.get("identityValidationExpression"),
                result_ttl_s=p.get("authorizerResultTtlInSeconds", DEFAULT_TTL_S),
                authorizer_credentials=p.get("authorizerCredentials"),
                provider_arns=tuple(p.get("providerARNs", ())), auth_type=p.get("authType")))

        authorizer("check0")  # refused before an id is drawn

        async def create(authorizer_id: str) -> Authorizer:
            made = authorizer(authorizer_id)
            await self.store.create_authorizer(p["restApiId"], made)
            return made

        return wire.authorizer(await with_new_id(create))

    async def get_authorizer(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        found = await self.store.get_authorizer(p["restApiId"], p["authorizerId"])
        if found is None:
            raise authorizer_not_found()
        return wire.authorizer(found)

    async def get_authorizers(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        found = await self.store.list_authorizers(p["restApiId"])
        shown, more = paging.page(found, lambda authorizer: authorizer.authorizer_id, p)
        return wire.items((wire.authorizer(authorizer) for authorizer in shown), more)

    async def update_authorizer(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        changes = patches.patches_of(p)
        return wire.authorizer(await self.store.update_authorizer(
            p["restApiId"], p["authorizerId"], lambda found: _apply_patches(found, changes)))

    async def delete_authorizer(self, ctx: RequestContext, p: dict[str, Any]) -> dict[str, Any]:
        if not await self.store.delete_authorizer(p["restApiId"], p["authorizerId"]):
            raise authorizer_not_found()
        return {}
