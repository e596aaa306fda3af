"""Checks on function settings that the service model cannot express, worded as AWS words them."""

from __future__ import annotations

import json
import re

from ember.errors import InvalidParameterValueException, ValidationException
from ember.runtimes.catalog import Runtime

#: Lambda's limit on the environment variables, measured as their compact JSON
MAX_ENVIRONMENT_BYTES = 4096
#: keys Lambda sets itself and refuses to take from the user
RESERVED_ENVIRONMENT_KEYS = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
#: runtimes AWS no longer lets anyone create or update, mapped to what it recommends
DEPRECATED_RUNTIMES = {
    "python2.7", "python3.6", "python3.7", "python3.8", "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10",
    "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x", "java8", "dotnetcore1.0",
    "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", "dotnet7", "ruby2.5", "ruby2.7", "go1.x",
    "provided",
}
#: the runtime AWS recommends instead of a deprecated one, by family (the name's leading letters)
RECOMMENDED_RUNTIMES = {"python": "python3.13", "nodejs": "nodejs22.x", "java": "java21", "dotnet": "dotnet8",
                        "dotnetcore": "dotnet8", "ruby": "ruby3.3", "go": "provided.al2023",
                        "provided": "provided.al2023"}
#: Lambda's limits for a function: the service model allows more (32 GB, 5400 s) only for
#: Managed Instances and durable functions, which Ember does not offer, so the model cannot check them
MAX_MEMORY_MB = 10240
MAX_TIMEOUT_S = 900
MAX_EPHEMERAL_STORAGE_MB = 10240
#: tags a function may carry
MAX_TAGS = 50


def check_limits(timeout_s: int | None, memory_mb: int | None, ephemeral_storage_mb: int | None) -> None:
    """Refuse settings over Lambda's limits, worded as the model's own range errors are."""
    problems = [
        f"Value '{value}' at '{path}' failed to satisfy constraint: Member must have value less than or equal to "
        f"{limit}"
        for path, value, limit in (("timeout", timeout_s, MAX_TIMEOUT_S), ("memorySize", memory_mb, MAX_MEMORY_MB),
                                   ("ephemeralStorage.size", ephemeral_storage_mb, MAX_EPHEMERAL_STORAGE_MB))
        if value is not None and value > limit
    ]
    if problems:
        noun = "error" if len(problems) == 1 else "errors"
        raise ValidationException(f"{len(problems)} validation {noun} detected: " + "; ".join(problems))


def check_tag_count(tags: dict[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValueException("Number of tags exceeds resource tag limit.")


def check_environment(variables: dict[str, str]) -> None:
    reserved = sorted(set(variables) & RESERVED_ENVIRONMENT_KEYS)
    if reserved:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you "
            "have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}"
        )
    measured = json.dumps(variables, separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > MAX_ENVIRONMENT_BYTES:
        raise InvalidParameterValueException(
            "Lambda was unable to configure your environment variables because the environment variables you "
            f"have provided exceeded the 4KB limit. String measured: {measured}"
        )


def check_runtime(name: str, runtimes: dict[str, Runtime]) -> Runtime:
    """The runtime to run `name` on, or the error saying why it cannot be used here."""
    if name in DEPRECATED_RUNTIMES:
        family = re.match(r"[a-z]+", name)
        recommended = RECOMMENDED_RUNTIMES.get(family[0] if family else "", "python3.13")
        raise InvalidParameterValueException(
            f"The runtime parameter of {name} is no longer supported for creating or updating AWS Lambda "
            f"functions. We recommend you use the new runtime ({recommended}) while creating or "
            "updating functions."
        )
    runtime = runtimes.get(name)
    if runtime is None:
        supported = ", ".join(runtimes)
        raise InvalidParameterValueException(
            f"Runtime {name} is not supported by Ember yet. Supported runtimes: {supported}."
        )
    if runtime.blocked_reason is not None:
        raise InvalidParameterValueException(
            f"Runtime {name} is not available on this Ember host: {runtime.blocked_reason}."
        )
    if not runtime.is_available:
        raise InvalidParameterValueException(
            f"Runtime {name} is not available on this Ember host: no {name} interpreter was found. "
            f"To enable it, {runtime.search_note}, then restart Ember."
        )
    return runtime


def runtime_enum_error(value: str, allowed: list[str]) -> InvalidParameterValueException:
    """Lambda's answer to a runtime name outside its list (note: not a ValidationException)."""
    return InvalidParameterValueException(
        f"Value {value} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        f"[{', '.join(allowed)}] or be a valid ARN"
    )
