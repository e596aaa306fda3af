"""The CloudWatch service as the edge sees it (signing name `monitoring`, json protocol)."""

from __future__ import annotations

from ember.clock import Clock
from ember.errors import RequestEntityTooLargeException
from ember.services.base import BodyLimit, Service, load_model
from ember.services.binding import bind_handlers
from ember.services.cloudwatch.operations import CloudWatchOperations
from ember.telemetry.metrics import MetricsRecorder

MAX_REQUEST_BYTES = 1024 * 1024


def build_cloudwatch_service(metrics: MetricsRecorder, clock: Clock | None = None) -> Service:
    model = load_model("cloudwatch")
    return Service(
        model=model,
        handlers=bind_handlers(model, [CloudWatchOperations(metrics, clock)], "CloudWatch"),
        default_body_limit=BodyLimit(MAX_REQUEST_BYTES, lambda: RequestEntityTooLargeException(
            f"Request must be smaller than {MAX_REQUEST_BYTES} bytes")),
    )
