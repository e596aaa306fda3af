"""The records of API Gateway's REST APIs (v1), as frozen dataclasses with API Gateway's nouns.

A REST API is a tree of resources (paths) whose methods each have at most one integration (what
a request is sent to); a deployment is a snapshot of that tree, and a stage names the deployment
its URL serves. Times are epoch seconds; string maps are plain dicts (records are never hashed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class IntegrationType(StrEnum):
    AWS_PROXY = "AWS_PROXY"  #: a Lambda function, handed the whole request as its event
    AWS = "AWS"  #: an AWS service action (or a Lambda function) through mapping templates
    HTTP_PROXY = "HTTP_PROXY"  #: an HTTP endpoint, handed the request as it came
    HTTP = "HTTP"  #: an HTTP endpoint through mapping templates
    MOCK = "MOCK"  #: no backend: the integration responses' templates are the answer


class AuthorizerType(StrEnum):
    TOKEN = "TOKEN"  #: a Lambda function given one header's value (a bearer token)
    REQUEST = "REQUEST"  #: a Lambda function given the identity sources' values
    COGNITO_USER_POOLS = "COGNITO_USER_POOLS"  #: a Cognito user pool's tokens


@dataclass(frozen=True)
class RestApi:
    api_id: str  #: 10 lowercase letters and digits
    name: str
    created_at_s: float
    root_resource_id: str  #: the resource at "/", made with the API
    description: str | None = None
    version: str | None = None
    #: media types served as binary (an API setting, taken by a deployment)
    binary_media_types: tuple[str, ...] = ()
    #: payloads of at least this many bytes are compressed; None: compression off
    minimum_compression_size_bytes: int | None = None
    api_key_source: str = "HEADER"  #: HEADER or AUTHORIZER
    endpoint_types: tuple[str, ...] = ("EDGE",)  #: EDGE, REGIONAL or PRIVATE (one)
    disable_execute_api_endpoint: bool = False
    policy: str | None = None  #: the API's resource policy, JSON text as given
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MethodResponse:
    status_code: str  #: "200"
    #: method.response.header.NAME → whether it is required
    response_parameters: dict[str, bool] = field(default_factory=dict)
    response_models: dict[str, str] = field(default_factory=dict)  #: content type → model name


@dataclass(frozen=True)
class IntegrationResponse:
    status_code: str  #: the method response it maps to
    #: a regular expression on the backend's error (Lambda) or status (HTTP); None: the default response
    selection_pattern: str | None = None
    response_parameters: dict[str, str] = field(default_factory=dict)
    response_templates: dict[str, str] = field(default_factory=dict)  #: content type → template
    content_handling: str | None = None


@dataclass(frozen=True)
class Integration:
    type: IntegrationType
    #: the method the backend is called with (Lambda: POST); None for MOCK
    http_method: str | None = None
    #: AWS_PROXY and AWS: arn:aws:apigateway:REGION:SERVICE:path/...; HTTP: the endpoint URL
    uri: str | None = None
    connection_type: str = "INTERNET"
    credentials: str | None = None  #: the role API Gateway calls the backend as
    #: integration.request.* → method.request.* (or a literal)
    request_parameters: dict[str, str] = field(default_factory=dict)
    request_templates: dict[str, str] = field(default_factory=dict)  #: content type → template
    passthrough_behavior: str = "WHEN_NO_MATCH"
    content_handling: str | None = None
    timeout_ms: int = 29_000
    cache_namespace: str | None = None
    cache_key_parameters: tuple[str, ...] = ()
    #: by status code
    responses: dict[str, IntegrationResponse] = field(default_factory=dict)


@dataclass(frozen=True)
class Method:
    http_method: str  #: GET, POST... or ANY
    authorization_type: str  #: NONE, AWS_IAM, CUSTOM or COGNITO_USER_POOLS
    authorizer_id: str | None = None  #: for CUSTOM and COGNITO_USER_POOLS
    api_key_required: bool = False
    operation_name: str | None = None
    #: method.request.{path,querystring,header}.NAME → whether it is required
    request_parameters: dict[str, bool] = field(default_factory=dict)
    request_models: dict[str, str] = field(default_factory=dict)
    request_validator_id: str | None = None
    authorization_scopes: tuple[str, ...] = ()
    #: by status code
    responses: dict[str, MethodResponse] = field(default_factory=dict)
    integration: Integration | None = None


@dataclass(frozen=True)
class Resource:
    resource_id: str
    parent_id: str | None  #: None for the root
    path_part: str | None  #: None for the root; "items", "{id}" or "{proxy+}"
    path: str  #: "/", "/items", "/items/{id}"
    #: by HTTP method (filled in by reads; ignored on writes)
    methods: dict[str, Method] = field(default_factory=dict)


@dataclass(frozen=True)
class Authorizer:
    authorizer_id: str
    name: str
    type: AuthorizerType
    #: TOKEN and REQUEST: the Lambda function's invocations URI (as an AWS_PROXY integration's)
    authorizer_uri: str | None = None
    #: TOKEN: method.request.header.NAME; REQUEST: a comma-separated list of sources
    identity_source: str | None = None
    identity_validation_expression: str | None = None  #: TOKEN: a regular expression the token must match
    result_ttl_s: int = 300  #: how long a policy it returned is reused; 0: never
    authorizer_credentials: str | None = None  #: the role API Gateway invokes the function as
    provider_arns: tuple[str, ...] = ()  #: COGNITO_USER_POOLS: the user pools
    auth_type: str | None = None


@dataclass(frozen=True)
class Deployment:
    deployment_id: str
    created_at_s: float
    description: str | None = None


@dataclass(frozen=True)
class ApiSnapshot:
    """What a deployment froze: the API's settings, its resources with their methods and
    integrations, and its authorizers, as they were when it was made."""

    rest_api: RestApi
    resources: tuple[Resource, ...]
    authorizers: tuple[Authorizer, ...] = ()


@dataclass(frozen=True)
class Stage:
    stage_name: str
    deployment_id: str
    created_at_s: float
    last_updated_at_s: float
    description: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    tracing_enabled: bool = False
    cache_cluster_enabled: bool = False
    cache_cluster_size: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StagePlacement:
    """CreateDeployment's stageName and what comes with it: the stage is made, or moved onto the
    new deployment (its description kept, the variables given set over its own)."""

    stage_name: str
    description: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    tracing_enabled: bool | None = None


@dataclass(frozen=True)
class DeployedStage:
    """A stage as its URL serves it: its variables and the snapshot of its deployment."""

    api_id: str
    stage: Stage
    deployment: Deployment
    snapshot: ApiSnapshot

    @property
    def variables(self) -> dict[str, str]:
        return self.stage.variables

    @property
    def resources(self) -> tuple[Resource, ...]:
        return self.snapshot.resources

    @property
    def authorizers(self) -> tuple[Authorizer, ...]:
        return self.snapshot.authorizers
