"""The Lambda service as the edge sees it: model, handlers by operation, body limits."""

from __future__ import annotations

from typing import Any, cast

from botocore.model import Shape, StringShape

from ember.errors import RequestEntityTooLargeException, RequestTooLargeException
from ember.lambda_.account import AccountOperations
from ember.lambda_.aliases import AliasOperations
from ember.lambda_.backend import LambdaBackend
from ember.lambda_.code_download import code_download_route
from ember.lambda_.concurrency import ConcurrencyOperations
from ember.lambda_.event_invoke_config import EventInvokeConfigOperations
from ember.lambda_.function_urls import FunctionUrlOperations
from ember.lambda_.functions import FunctionOperations
from ember.lambda_.invoke import MAX_INVOKE_ASYNC_BYTES, MAX_SYNC_PAYLOAD_BYTES, InvokeOperations
from ember.lambda_.layers import LayerOperations
from ember.lambda_.permissions import PermissionOperations
from ember.lambda_.recursion import RecursionOperations
from ember.lambda_.settings_check import DEPRECATED_RUNTIMES, runtime_enum_error
from ember.lambda_.tags import TagOperations
from ember.lambda_.versions import VersionOperations
from ember.services.base import BodyLimit, InternalRoute, Service, load_model
from ember.services.binding import bind_handlers

#: CreateFunction/UpdateFunctionCode bodies carry a base64 zip of up to 50 MB
MAX_CODE_REQUEST_BYTES = 70_167_211


def build_lambda_service(backend: LambdaBackend) -> tuple[Service, list[InternalRoute]]:
    """The Lambda service and Ember's own routes that go with it (code downloads)."""
    model = load_model("lambda")
    functions = FunctionOperations(backend)
    groups: list[Any] = [
        functions,
        VersionOperations(backend),
        AliasOperations(backend),
        LayerOperations(backend),
        ConcurrencyOperations(backend, functions),
        InvokeOperations(backend),
        EventInvokeConfigOperations(backend),
        PermissionOperations(backend, functions),
        TagOperations(backend, functions),
        AccountOperations(backend),
        RecursionOperations(backend, functions),
        FunctionUrlOperations(backend),
    ]
    handlers = bind_handlers(model, groups, "Lambda")

    def code_limit(operation: str) -> BodyLimit:
        return BodyLimit(MAX_CODE_REQUEST_BYTES, lambda: RequestEntityTooLargeException(
            f"Request must be smaller than {MAX_CODE_REQUEST_BYTES} bytes for the {operation} operation"))

    body_limits = {
        "Invoke": BodyLimit(MAX_SYNC_PAYLOAD_BYTES, lambda: RequestTooLargeException(
            f"Request must be smaller than {MAX_SYNC_PAYLOAD_BYTES} bytes for the InvokeFunction operation")),
        "InvokeWithResponseStream": BodyLimit(MAX_SYNC_PAYLOAD_BYTES, lambda: RequestTooLargeException(
            f"Request must be smaller than {MAX_SYNC_PAYLOAD_BYTES} bytes for the InvokeWithResponseStream operation")),
        "InvokeAsync": BodyLimit(MAX_INVOKE_ASYNC_BYTES, lambda: RequestTooLargeException(
            f"Request must be smaller than {MAX_INVOKE_ASYNC_BYTES} bytes for the InvokeAsync operation")),
        "CreateFunction": code_limit("CreateFunction"),
        "UpdateFunctionCode": code_limit("UpdateFunctionCode"),
        "PublishLayerVersion": code_limit("PublishLayerVersion"),
    }
    runtime_enum = list(cast(StringShape, model.shape_for("Runtime")).enum)
    # AWS's message lists the runtimes one can still choose, not the deprecated ones.
    choosable = [name for name in runtime_enum if name not in DEPRECATED_RUNTIMES]

    def check_runtime_value(shape: Shape, value: Any) -> None:
        if value not in runtime_enum:
            raise runtime_enum_error(value, choosable)

    service = Service(
        model=model,
        handlers=handlers,
        body_limits=body_limits,
        default_body_limit=BodyLimit(1 << 20, lambda: RequestEntityTooLargeException(
            "Request must be smaller than 1048576 bytes for this operation")),
        shape_checks={"Runtime": check_runtime_value},
    )
    return service, [code_download_route(backend)]

