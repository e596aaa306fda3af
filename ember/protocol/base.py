"""The contract every wire protocol implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

from botocore.model import OperationModel, ServiceModel

from ember.errors import EmberError, ValidationException
from ember.protocol.messages import HttpRequest, HttpResponse
from ember.protocol.validate import ShapeCheck


class Protocol(ABC):
    """Parses requests into operation parameters and serializes results, for one service."""

    #: whether a request names its operation in its body (the query protocol's `Action=...`), so
    #: the edge reads the body (within a fixed limit) before route()
    routes_by_body: ClassVar[bool] = False

    def __init__(self, service_model: ServiceModel, shape_checks: Mapping[str, ShapeCheck] | None = None,
                 validation_error: type[EmberError] = ValidationException) -> None:
        self.service_model = service_model
        #: the service's own validation for some shapes, by shape name (see validate.validate)
        self.shape_checks: Mapping[str, ShapeCheck] = shape_checks or {}
        #: what a constraint failure is answered with (the services differ: see validate.validate)
        self.validation_error = validation_error

    @abstractmethod
    def route(self, request: HttpRequest) -> tuple[OperationModel, dict[str, str]] | None:
        """The operation `request` addresses and its path labels, or None if none matches.

        Needs only method, path, query and headers, so the edge can route before it reads
        the body (and apply the operation's body limit while reading). A protocol that
        `routes_by_body` is given the body too, and may raise the EmberError its services answer
        a request naming no operation of theirs with (query: MissingAction, InvalidAction).
        """

    @abstractmethod
    def parse(self, operation: OperationModel, labels: dict[str, str], request: HttpRequest) -> dict[str, Any]:
        """The operation's input as a dict of wire member names, validated against the model.

        Raises ValidationException (constraint failures, AWS's wording) or
        InvalidRequestContentException (a body that cannot be read).
        """

    @abstractmethod
    def serialize(self, operation: OperationModel, result: dict[str, Any], *, request_id: str) -> HttpResponse:
        """The HTTP response for a handler's `result` (wire member names).

        `request_id` is the id the edge also sends as `x-amzn-RequestId`; protocols that put it
        in the body (query: ResponseMetadata) use the same one.
        """

    @abstractmethod
    def serialize_error(self, error: EmberError, *, request_id: str) -> HttpResponse:
        """The HTTP response for `error`, as the service renders errors (`request_id` as for serialize)."""
