"""The one AWS protocol layer: botocore's service models drive routing, parsing,
validation and serialization, so a service is only its operation handlers.

`protocol_for(service_model)` returns the implementation of the model's wire protocol.
"""

from __future__ import annotations

from collections.abc import Mapping

from botocore.model import ServiceModel

from ember.errors import EmberError, ValidationException
from ember.protocol.base import Protocol
from ember.protocol.json_rpc import JsonRpcProtocol
from ember.protocol.messages import HttpRequest, HttpResponse
from ember.protocol.query import QueryProtocol
from ember.protocol.rest_json import RestJsonProtocol
from ember.protocol.validate import ShapeCheck

__all__ = ["HttpRequest", "HttpResponse", "Protocol", "protocol_for"]

# Later services add their protocol here: "rest-xml" (S3). Each is one module implementing Protocol.
PROTOCOLS: dict[str, type[Protocol]] = {"rest-json": RestJsonProtocol, "json": JsonRpcProtocol,
                                        "query": QueryProtocol}


def protocol_for(service_model: ServiceModel, shape_checks: Mapping[str, ShapeCheck] | None = None,
                 validation_error: type[EmberError] = ValidationException) -> Protocol:
    """Build the parser/serializer for the wire protocol clients use with `service_model`.

    A model may offer several (CloudWatch: smithy-rpc-v2-cbor, json, query); botocore speaks
    the first of them in its own order of preference, so that is the one to serve.
    """
    protocol = service_model.resolved_protocol
    try:
        protocol_class = PROTOCOLS[protocol]
    except KeyError:
        raise NotImplementedError(f"protocol {protocol!r} is not implemented") from None
    return protocol_class(service_model, shape_checks, validation_error)
