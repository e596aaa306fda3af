"""Function records rendered with Lambda's wire names (the API layer's only translation)."""

from __future__ import annotations

from typing import Any

from ember.arns import function_arn
from ember.models import FunctionConfig


def configuration(function: FunctionConfig, region: str, account_id: str) -> dict[str, Any]:
    """The FunctionConfiguration shape, as GetFunctionConfiguration returns it."""
    wire: dict[str, Any] = {
        "FunctionName": function.name,
        "FunctionArn": function_arn(region, account_id, function.name),
        "Runtime": function.runtime,
        "Role": function.role,
        "Handler": function.handler,
        "CodeSize": function.code.size_bytes,
        "Description": function.description,
        "Timeout": function.timeout_s,
        "MemorySize": function.memory_mb,
        "LastModified": function.last_modified,
        "CodeSha256": function.code.sha256_b64,
        "Version": function.version,
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": function.revision_id,
        "State": function.state.value,
        "LastUpdateStatus": function.last_update_status.value,
        "PackageType": function.package_type,
        "Architectures": list(function.architectures),
        "EphemeralStorage": {"Size": function.ephemeral_storage_mb},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "RuntimeVersionConfig": {"RuntimeVersionArn": f"arn:aws:lambda:{region}::runtime:ember-{function.runtime}"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{function.name}"},
    }
    if function.environment:
        wire["Environment"] = {"Variables": dict(function.environment)}
    if function.state_reason:
        wire["StateReason"] = function.state_reason
        wire["StateReasonCode"] = function.state_reason_code
    return wire
