"""API Gateway (REST APIs, v1) as the edge sees it: signing name `apigateway`, rest-json."""

from __future__ import annotations

from ember.apigateway_store.base import ApiGatewayStore
from ember.clock import Clock
from ember.errors import BadRequestException, RequestEntityTooLargeException
from ember.services.apigateway.access import apigateway_targets
from ember.services.apigateway.authorizers import AuthorizerOperations
from ember.services.apigateway.deployments import DeploymentOperations
from ember.services.apigateway.integrations import IntegrationOperations
from ember.services.apigateway.methods import MethodOperations
from ember.services.apigateway.resources import ResourceOperations
from ember.services.apigateway.rest_apis import RestApiOperations
from ember.services.apigateway.stages import StageOperations
from ember.services.apigateway.tags import TagOperations
from ember.services.base import BodyLimit, Service, load_model
from ember.services.binding import bind_handlers

#: the control plane's documents are small; API Gateway's own cap on a request (an imported
#: definition) is 6 MB
MAX_REQUEST_BYTES = 6 * 1024 * 1024


def build_apigateway_service(store: ApiGatewayStore, clock: Clock) -> Service:
    model = load_model("apigateway")
    groups = [RestApiOperations(store, clock), ResourceOperations(store), MethodOperations(store),
              IntegrationOperations(store), AuthorizerOperations(store), DeploymentOperations(store, clock),
              StageOperations(store, clock), TagOperations(store)]
    return Service(
        model=model,
        handlers=bind_handlers(model, groups, "API Gateway"),
        default_body_limit=BodyLimit(MAX_REQUEST_BYTES, lambda: RequestEntityTooLargeException(
            f"Request must be smaller than {MAX_REQUEST_BYTES} bytes")),
        # API Gateway answers a missing member or a value outside an enum with BadRequestException.
        validation_error=BadRequestException,
        targets=apigateway_targets(model),
    )
