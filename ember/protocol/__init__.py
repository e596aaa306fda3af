"""The one AWS protocol layer: botocore's service models drive routing, parsing,
validation and serialization, so a service is only its operation handlers.

`protocol_for(service_model)` returns the implementation of the model's wire protocol.
"""

from __future__ import annotations

from collections.abc import Mapping

from botocore.model import ServiceModel

from ember.protocol.base import Protocol
from ember.protocol.messages import HttpRequest, HttpResponse
from ember.protocol.rest_json import RestJsonProtocol
from ember.protocol.validate import ShapeCheck

__all__ = ["HttpRequest", "HttpResponse", "Protocol", "protocol_for"]

# Later services add their protocol here: "json" (Logs, DynamoDB, Kinesis), "query" (SQS,
# CloudWatch), "rest-xml" (S3). Each is one module implementing Protocol.
PROTOCOLS: dict[str, type[Protocol]] = {"rest-json": RestJsonProtocol}


def protocol_for(service_model: ServiceModel, shape_checks: Mapping[str, ShapeCheck] | None = None) -> Protocol:
    """Build the parser/serializer for `service_model`'s wire protocol."""
    try:
        protocol_class = PROTOCOLS[service_model.protocol]
    except KeyError:
        raise NotImplementedError(f"protocol {service_model.protocol!r} is not implemented") from None
    return protocol_class(service_model, shape_checks)
