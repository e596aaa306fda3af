"""Function records rendered with Lambda's wire names (the API layer's only translation)."""

from __future__ import annotations

from typing import Any

from ember.arns import Home
from ember.lambda_.vpc import wire_vpc
from ember.models import Alias, FunctionConfig


def configuration(function: FunctionConfig, home: Home, qualifier: str | None = None) -> dict[str, Any]:
    """The FunctionConfiguration shape, as GetFunctionConfiguration returns it.

    FunctionArn carries `qualifier` when the caller named one (a version, an alias, $LATEST).
    """
    wire: dict[str, Any] = {
        "FunctionName": function.name,
        "FunctionArn": home.function_arn(function.name, qualifier),
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
        "RuntimeVersionConfig": {
            "RuntimeVersionArn": f"arn:aws:lambda:{home.region}::runtime:ember-{function.runtime}"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{function.name}"},
    }
    if function.environment:
        wire["Environment"] = {"Variables": dict(function.environment)}
    if function.kms_key_arn:
        wire["KMSKeyArn"] = function.kms_key_arn
    if function.layers:
        wire["Layers"] = [{"Arn": layer.arn, "CodeSize": layer.code.size_bytes} for layer in function.layers]
    if function.vpc is not None:
        wire["VpcConfig"] = wire_vpc(function.vpc)
    if function.dead_letter_target_arn:
        wire["DeadLetterConfig"] = {"TargetArn": function.dead_letter_target_arn}
    if function.state_reason:
        wire["StateReason"] = function.state_reason
        wire["StateReasonCode"] = function.state_reason_code
    return wire


def alias_configuration(alias: Alias, home: Home) -> dict[str, Any]:
    """The AliasConfiguration shape."""
    wire: dict[str, Any] = {
        "AliasArn": home.function_arn(alias.function_name, alias.name),
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.additional_weights:
        wire["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.additional_weights)}
    return wire


def listed(configuration: dict[str, Any]) -> dict[str, Any]:
    # ListFunctions leaves out the state fields (AWS documents this; use GetFunction for them).
    for key in ("State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
                "LastUpdateStatusReasonCode", "RuntimeVersionConfig"):
        configuration.pop(key, None)
    return configuration
