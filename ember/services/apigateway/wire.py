"""Records rendered as API Gateway's wire shapes (the model's member names). Members without a
value are left out, as API Gateway leaves them out; times are epoch seconds, which the protocol
layer writes as the model's timestamps."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ember.apigateway_store.records import (
    ApiSnapshot,
    Authorizer,
    Deployment,
    Integration,
    IntegrationResponse,
    IntegrationType,
    Method,
    MethodResponse,
    Resource,
    RestApi,
    Stage,
)

Wire = dict[str, Any]


def _present(document: Wire) -> Wire:
    """`document` without its None members and empty collections."""
    return {key: value for key, value in document.items()
            if value is not None and not (isinstance(value, (dict, list)) and not value)}


def rest_api(api: RestApi) -> Wire:
    return _present({
        "id": api.api_id, "name": api.name, "description": api.description, "createdDate": api.created_at_s,
        "version": api.version, "binaryMediaTypes": list(api.binary_media_types),
        "minimumCompressionSize": api.minimum_compression_size_bytes, "apiKeySource": api.api_key_source,
        "endpointConfiguration": {"types": list(api.endpoint_types), "ipAddressType": "ipv4"},
        "policy": api.policy, "tags": dict(api.tags),
        "disableExecuteApiEndpoint": api.disable_execute_api_endpoint, "rootResourceId": api.root_resource_id,
    })


def method_response(response: MethodResponse) -> Wire:
    return _present({"statusCode": response.status_code, "responseParameters": dict(response.response_parameters),
                     "responseModels": dict(response.response_models)})


def integration_response(response: IntegrationResponse) -> Wire:
    return _present({
        "statusCode": response.status_code, "selectionPattern": response.selection_pattern,
        "responseParameters": dict(response.response_parameters),
        "responseTemplates": dict(response.response_templates), "contentHandling": response.content_handling,
    })


def integration(found: Integration) -> Wire:
    document = _present({
        "type": found.type.value, "httpMethod": found.http_method, "uri": found.uri,
        # a MOCK integration reaches nothing, so it has no connection to describe
        "connectionType": None if found.type is IntegrationType.MOCK else found.connection_type,
        "credentials": found.credentials, "requestParameters": dict(found.request_parameters),
        "requestTemplates": dict(found.request_templates), "passthroughBehavior": found.passthrough_behavior,
        "contentHandling": found.content_handling, "timeoutInMillis": found.timeout_ms,
        "cacheNamespace": found.cache_namespace,
        "integrationResponses": {code: integration_response(r) for code, r in found.responses.items()},
    })
    document["cacheKeyParameters"] = list(found.cache_key_parameters)  # [] is shown, as AWS shows it
    return document


def method(found: Method) -> Wire:
    return _present({
        "httpMethod": found.http_method, "authorizationType": found.authorization_type,
        "authorizerId": found.authorizer_id, "apiKeyRequired": found.api_key_required,
        "operationName": found.operation_name, "requestParameters": dict(found.request_parameters),
        "requestModels": dict(found.request_models), "requestValidatorId": found.request_validator_id,
        "authorizationScopes": list(found.authorization_scopes),
        "methodResponses": {code: method_response(r) for code, r in found.responses.items()},
        "methodIntegration": integration(found.integration) if found.integration is not None else None,
    })


def resource(found: Resource, *, embed_methods: bool = False) -> Wire:
    """A resource; its methods named only (`{"GET": {}}`) unless `embed_methods` (`?embed=methods`)."""
    return _present({
        "id": found.resource_id, "parentId": found.parent_id, "pathPart": found.path_part, "path": found.path,
        "resourceMethods": {name: method(m) if embed_methods else {} for name, m in found.methods.items()},
    })


def authorizer(found: Authorizer) -> Wire:
    return _present({
        "id": found.authorizer_id, "name": found.name, "type": found.type.value,
        "providerARNs": list(found.provider_arns), "authType": found.auth_type,
        "authorizerUri": found.authorizer_uri, "authorizerCredentials": found.authorizer_credentials,
        "identitySource": found.identity_source,
        "identityValidationExpression": found.identity_validation_expression,
        "authorizerResultTtlInSeconds": found.result_ttl_s,
    })


def api_summary(snapshot: ApiSnapshot) -> Wire:
    """GetDeployment's `apiSummary`: path → method → how it is authorised."""
    return {r.path: {name: {"authorizationType": m.authorization_type, "apiKeyRequired": m.api_key_required}
                     for name, m in r.methods.items()} for r in snapshot.resources if r.methods}


def deployment(found: Deployment, snapshot: ApiSnapshot | None = None) -> Wire:
    return _present({"id": found.deployment_id, "description": found.description,
                     "createdDate": found.created_at_s,
                     "apiSummary": api_summary(snapshot) if snapshot is not None else None})


def stage(found: Stage) -> Wire:
    document = _present({
        "deploymentId": found.deployment_id, "stageName": found.stage_name, "description": found.description,
        "cacheClusterEnabled": found.cache_cluster_enabled, "cacheClusterSize": found.cache_cluster_size,
        "cacheClusterStatus": "AVAILABLE" if found.cache_cluster_enabled else "NOT_AVAILABLE",
        "variables": dict(found.variables), "tracingEnabled": found.tracing_enabled,
        "tags": dict(found.tags), "createdDate": found.created_at_s, "lastUpdatedDate": found.last_updated_at_s,
    })
    document["methodSettings"] = {}  # Ember keeps no per-method settings; AWS shows the empty map
    return document


def items(rendered: Iterable[Wire], position: str | None) -> Wire:
    """A page of a list operation's answer: `items` (`item` on the wire, `[]` when there are none)
    and the next `position` when there are more."""
    page: Wire = {"items": list(rendered)}
    if position is not None:
        page["position"] = position
    return page
