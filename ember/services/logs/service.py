"""The CloudWatch Logs service as the edge sees it (signing name `logs`, json protocol)."""

from __future__ import annotations

from ember.clock import Clock
from ember.errors import InvalidParameterException, RequestEntityTooLargeException
from ember.services.base import BodyLimit, Service, load_model
from ember.services.binding import bind_handlers
from ember.services.logs.operations import LogsOperations
from ember.telemetry.log_store import LogStore
from ember.telemetry.log_writer import LogWriter

#: PutLogEvents takes up to 1 MB of events; the JSON around them adds a little
MAX_REQUEST_BYTES = 1_100_000


def build_logs_service(store: LogStore, writer: LogWriter, region: str, account_id: str,
                       clock: Clock | None = None) -> Service:
    model = load_model("logs")
    operations = LogsOperations(store, writer, region, account_id, clock)
    return Service(
        model=model,
        handlers=bind_handlers(model, [operations], "CloudWatch Logs"),
        default_body_limit=BodyLimit(MAX_REQUEST_BYTES, lambda: RequestEntityTooLargeException(
            f"Request must be smaller than {MAX_REQUEST_BYTES} bytes")),
        # CloudWatch Logs answers constraint failures with InvalidParameterException.
        validation_error=InvalidParameterException,
    )
