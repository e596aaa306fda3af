"""Records to JSON text and back, for backends that keep a record as one document.

Written out field by field (not `asdict` and `**kwargs`) so a record read back has its tuples,
enums and nested records rebuilt, and a field added later reads as its default from older rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from ember.apigateway_store.records import (
    ApiSnapshot,
    Authorizer,
    AuthorizerType,
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

Document = dict[str, Any]


def dump(record: Any) -> str:
    """A record (a dataclass instance, nested records and enums included) as JSON text."""
    return json.dumps(asdict(record))


def rest_api(d: Document) -> RestApi:
    return RestApi(
        api_id=d["api_id"], name=d["name"], created_at_s=d["created_at_s"], root_resource_id=d["root_resource_id"],
        description=d.get("description"), version=d.get("version"),
        binary_media_types=tuple(d.get("binary_media_types", ())),
        minimum_compression_size_bytes=d.get("minimum_compression_size_bytes"),
        api_key_source=d.get("api_key_source", "HEADER"), endpoint_types=tuple(d.get("endpoint_types", ("EDGE",))),
        disable_execute_api_endpoint=d.get("disable_execute_api_endpoint", False), policy=d.get("policy"),
        tags=dict(d.get("tags", {})))


def method_response(d: Document) -> MethodResponse:
    return MethodResponse(d["status_code"], dict(d.get("response_parameters", {})),
                          dict(d.get("response_models", {})))


def integration_response(d: Document) -> IntegrationResponse:
    return IntegrationResponse(d["status_code"], d.get("selection_pattern"), dict(d.get("response_parameters", {})),
                               dict(d.get("response_templates", {})), d.get("content_handling"))


def integration(d: Document) -> Integration:
    return Integration(
        type=IntegrationType(d["type"]), http_method=d.get("http_method"), uri=d.get("uri"),
        connection_type=d.get("connection_type", "INTERNET"), credentials=d.get("credentials"),
        request_parameters=dict(d.get("request_parameters", {})),
        request_templates=dict(d.get("request_templates", {})),
        passthrough_behavior=d.get("passthrough_behavior", "WHEN_NO_MATCH"),
        content_handling=d.get("content_handling"), timeout_ms=d.get("timeout_ms", 29_000),
        cache_namespace=d.get("cache_namespace"), cache_key_parameters=tuple(d.get("cache_key_parameters", ())),
        responses={code: integration_response(r) for code, r in d.get("responses", {}).items()})


def method(d: Document) -> Method:
    found = d.get("integration")
    return Method(
        http_method=d["http_method"], authorization_type=d["authorization_type"],
        authorizer_id=d.get("authorizer_id"), api_key_required=d.get("api_key_required", False),
        operation_name=d.get("operation_name"), request_parameters=dict(d.get("request_parameters", {})),
        request_models=dict(d.get("request_models", {})), request_validator_id=d.get("request_validator_id"),
        authorization_scopes=tuple(d.get("authorization_scopes", ())),
        responses={code: method_response(r) for code, r in d.get("responses", {}).items()},
        integration=integration(found) if found is not None else None)


def resource(d: Document) -> Resource:
    return Resource(d["resource_id"], d.get("parent_id"), d.get("path_part"), d["path"],
                    {name: method(m) for name, m in d.get("methods", {}).items()})


def authorizer(d: Document) -> Authorizer:
    return Authorizer(
        authorizer_id=d["authorizer_id"], name=d["name"], type=AuthorizerType(d["type"]),
        authorizer_uri=d.get("authorizer_uri"), identity_source=d.get("identity_source"),
        identity_validation_expression=d.get("identity_validation_expression"),
        result_ttl_s=d.get("result_ttl_s", 300), authorizer_credentials=d.get("authorizer_credentials"),
        provider_arns=tuple(d.get("provider_arns", ())), auth_type=d.get("auth_type"))


def deployment(d: Document) -> Deployment:
    return Deployment(d["deployment_id"], d["created_at_s"], d.get("description"))


def snapshot(d: Document) -> ApiSnapshot:
    return ApiSnapshot(rest_api(d["rest_api"]), tuple(resource(r) for r in d["resources"]),
                       tuple(authorizer(a) for a in d.get("authorizers", ())))


def stage(d: Document) -> Stage:
    return Stage(
        stage_name=d["stage_name"], deployment_id=d["deployment_id"], created_at_s=d["created_at_s"],
        last_updated_at_s=d["last_updated_at_s"], description=d.get("description"),
        variables=dict(d.get("variables", {})), tracing_enabled=d.get("tracing_enabled", False),
        cache_cluster_enabled=d.get("cache_cluster_enabled", False),
        cache_cluster_size=d.get("cache_cluster_size"), tags=dict(d.get("tags", {})))


def load(text: str) -> Document:
    document = json.loads(text)
    assert isinstance(document, dict)
    return document
