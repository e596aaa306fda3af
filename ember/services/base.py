"""What a built-in AWS service gives the edge: its model and its operation handlers.

The plumbing every service shares sits here, below the services and the edge alike, so a
service never imports the entry point that serves it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.model import ServiceModel

from ember.errors import EmberError, ValidationException
from ember.protocol import HttpRequest, HttpResponse, Protocol, protocol_for
from ember.protocol.validate import ShapeCheck


@dataclass(frozen=True)
class RequestContext:
    """Facts about the request that handlers may need beyond its parameters."""

    request_id: str
    region: str
    account_id: str
    base_url: str  #: scheme://host:port the client used, for URLs handed back to it
    headers: dict[str, str]


Handler = Callable[[RequestContext, dict[str, Any]], Awaitable[dict[str, Any]]]
#: a route of Ember's own (not an AWS API): path regex → async handler
InternalRoute = tuple[str, re.Pattern[str], Callable[[HttpRequest, re.Match[str]], Awaitable[HttpResponse]]]


@dataclass(frozen=True)
class BodyLimit:
    """The most bytes an operation's request body may have, and the error beyond it."""

    max_bytes: int
    error: Callable[[], EmberError]


@dataclass
class Service:
    """A built-in service: operation handlers keyed by operation name, driven by its model."""

    model: ServiceModel
    handlers: dict[str, Handler]
    body_limits: dict[str, BodyLimit] = field(default_factory=dict)
    #: the largest body any operation takes; beyond it the edge refuses without routing
    default_body_limit: BodyLimit | None = None
    #: the service's own validation for some model shapes (see protocol.validate)
    shape_checks: dict[str, ShapeCheck] = field(default_factory=dict)
    #: what a model constraint failure is answered with (CloudWatch Logs: InvalidParameterException)
    validation_error: type[EmberError] = ValidationException
    protocol: Protocol = field(init=False)

    def __post_init__(self) -> None:
        self.protocol = protocol_for(self.model, self.shape_checks, self.validation_error)

    @property
    def signing_name(self) -> str:
        return str(self.model.signing_name or self.model.endpoint_prefix)


@functools.cache
def load_model(service_name: str) -> ServiceModel:
    """The botocore service model for `service_name` (e.g. "lambda")."""
    session = botocore.session.get_session()
    return session.get_service_model(service_name)
