"""The ``deploy``, ``invoke`` and ``functions`` commands: managing and calling functions on a server."""

from __future__ import annotations

import base64
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from botocore.exceptions import ClientError

from ember.cli.client import lambda_client, reporting_upload_progress
from ember.cli.packaging import PackagingError, zip_folder

DEFAULT_ROLE_ARN = "arn:aws:iam::000000000000:role/ember-function"

# Below this size an upload finishes too quickly for a progress bar to tell the user anything.
UPLOAD_PROGRESS_MIN_BYTES = 1024 * 1024
UPLOAD_OPERATIONS = ("CreateFunction", "UpdateFunctionCode")

# ListFunctions omits State (as AWS does), so it is fetched per function; a few requests in
# flight keep long listings quick without hammering the server.
STATE_LOOKUP_CONCURRENCY = 8

FUNCTION_TABLE_HEADERS = ("NAME", "RUNTIME", "MEMORY_MB", "TIMEOUT_S", "LAST_MODIFIED", "STATE")
DEPLOY_RESULT_FIELDS = ("FunctionArn", "CodeSha256", "CodeSize", "State")


@dataclass(frozen=True)
class FunctionSettings:
    """The configuration a deploy asks for; ``None`` means "not given, leave as it is"."""

    runtime: str
    handler: str
    role: str | None = None
    memory_mb: int | None = None
    timeout_s: int | None = None
    environment: dict[str, str] | None = None


@dataclass(frozen=True)
class Invocation:
    """What a synchronous invoke returned."""

    payload: bytes
    log_tail: str
    function_error: str | None


# --- deploy -------------------------------------------------------------------------------------


def package_for_upload(path: Path, on_warning: Callable[[str], None]) -> bytes:
    """Zip ``path`` for upload, reporting an unusable path as a usage error on PATH."""
    try:
        return zip_folder(path, on_warning=on_warning)
    except PackagingError as error:
        raise click.BadParameter(str(error), param_hint="PATH") from error


def read_env_option(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str] | None:
    """Click callback turning repeated ``--env KEY=VALUE`` into a dict; None when none were given."""
    if not values:
        return None
    environment: dict[str, str] = {}
    for item in values:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}")
        environment[key] = value
    return environment


def deploy_function(
    client: Any, name: str, zip_bytes: bytes, settings: FunctionSettings, report: Callable[[str], None]
) -> dict[str, Any]:
    """Create function ``name`` or update its code and configuration, and wait until it is ready.

    Returns the function's configuration once the deployment has settled.
    """
    current = _current_configuration(client, name)
    if current is None:
        report(f"Creating function {name}")
        with _upload_progress_bar(client, len(zip_bytes)):
            client.create_function(**_create_request(name, zip_bytes, settings))
        report("Waiting for the function to become Active")
        client.get_waiter("function_active_v2").wait(FunctionName=name)
    else:
        report(f"Updating code of function {name}")
        with _upload_progress_bar(client, len(zip_bytes)):
            client.update_function_code(FunctionName=name, ZipFile=zip_bytes)
        changes = configuration_changes(current, settings)
        if changes:
            # AWS rejects a configuration update while the code update is still in progress.
            _wait_until_updated(client, name, report)
            report(f"Updating configuration of function {name}: {', '.join(sorted(changes))}")
            client.update_function_configuration(FunctionName=name, **changes)
        # Invokes keep running the old code until the update finishes, so the deploy is only done
        # once it has.
        _wait_until_updated(client, name, report)
    deployed: dict[str, Any] = client.get_function_configuration(FunctionName=name)
    return deployed


def configuration_changes(current: dict[str, Any], settings: FunctionSettings) -> dict[str, Any]:
    """Return the UpdateFunctionConfiguration parameters needed to turn ``current`` into ``settings``.

    Only settings that were given and differ from the current configuration are included, so a
    redeploy with unchanged flags does not trigger a configuration update.
    """
    wanted: dict[str, Any] = {
        "Runtime": settings.runtime,
        "Handler": settings.handler,
        "Role": settings.role,
        "MemorySize": settings.memory_mb,
        "Timeout": settings.timeout_s,
    }
    changes = {key: value for key, value in wanted.items() if value is not None and current.get(key) != value}
    if settings.environment is not None:
        current_variables = current.get("Environment", {}).get("Variables", {})
        if current_variables != settings.environment:
            changes["Environment"] = {"Variables": settings.environment}
    return changes


def _current_configuration(client: Any, name: str) -> dict[str, Any] | None:
    """Return the configuration of function ``name``, or None if it does not exist."""
    try:
        configuration: dict[str, Any] = client.get_function(FunctionName=name)["Configuration"]
        return configuration
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def _create_request(name: str, zip_bytes: bytes, settings: FunctionSettings) -> dict[str, Any]:
    """Build CreateFunction parameters, leaving unset options to the server's defaults."""
    request: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": settings.runtime,
        "Handler": settings.handler,
        "Role": settings.role or DEFAULT_ROLE_ARN,
        "Code": {"ZipFile": zip_bytes},
    }
    if settings.memory_mb is not None:
        request["MemorySize"] = settings.memory_mb
    if settings.timeout_s is not None:
        request["Timeout"] = settings.timeout_s
    if settings.environment is not None:
        request["Environment"] = {"Variables": settings.environment}
    return request


def _wait_until_updated(client: Any, name: str, report: Callable[[str], None]) -> None:
    """Block until the function's last update has finished, raising WaiterError if it failed."""
    report("Waiting for the update to finish")
    client.get_waiter("function_updated_v2").wait(FunctionName=name)


@contextlib.contextmanager
def _upload_progress_bar(client: Any, zip_size_bytes: int) -> Iterator[None]:
    """Show a progress bar on stderr while a large zip is uploaded by a call made inside the block."""
    if zip_size_bytes <= UPLOAD_PROGRESS_MIN_BYTES:
        yield
        return
    label = f"Uploading {zip_size_bytes / (1024 * 1024):.1f} MiB"
    with click.progressbar(length=zip_size_bytes, label=label, file=sys.stderr) as bar:
        shown_bytes = 0

        def advance(sent_bytes: int, total_bytes: int) -> None:
            nonlocal shown_bytes
            # The body is JSON around the base64-encoded zip, so scale to zip bytes to keep the
            # bar's total equal to the package size. A retry restarts at zero; the bar just pauses.
            reached_bytes = zip_size_bytes * sent_bytes // total_bytes
            if reached_bytes > shown_bytes:
                bar.update(reached_bytes - shown_bytes)
                shown_bytes = reached_bytes

        with reporting_upload_progress(client, UPLOAD_OPERATIONS, advance):
            yield


def format_deploy_result(configuration: dict[str, Any]) -> str:
    """Render the fields of a deployed function's configuration that the user needs to see."""
    width = max(len(field) for field in DEPLOY_RESULT_FIELDS) + 1
    return "\n".join(
        f"{field + ':':<{width}} {configuration.get(field, '-')}" for field in DEPLOY_RESULT_FIELDS
    )


# --- invoke -------------------------------------------------------------------------------------


def invoke_function(client: Any, name: str, payload: bytes | None, qualifier: str | None) -> Invocation:
    """Invoke ``name`` synchronously and collect its response payload and log tail."""
    request: dict[str, Any] = {"FunctionName": name, "InvocationType": "RequestResponse", "LogType": "Tail"}
    if payload is not None:
        request["Payload"] = payload
    if qualifier is not None:
        request["Qualifier"] = qualifier
    response = client.invoke(**request)
    log_result = response.get("LogResult")
    # The tail is cut at a byte limit and may start mid-character.
    log_tail = base64.b64decode(log_result).decode("utf-8", errors="replace") if log_result else ""
    return Invocation(
        payload=response["Payload"].read(),
        log_tail=log_tail,
        function_error=response.get("FunctionError"),
    )


def format_response_payload(payload: bytes) -> str | bytes:
    """Pretty-print a JSON payload; return anything else unchanged."""
    try:
        document = json.loads(payload)
    except ValueError:
        return payload
    return json.dumps(document, indent=2, ensure_ascii=False)


def read_payload_option(ctx: click.Context, param: click.Parameter, value: str | None) -> bytes | None:
    """Click callback turning ``--payload JSON|@file`` into request bytes, checked to be JSON."""
    if value is None:
        return None
    if value.startswith("@"):
        try:
            payload = Path(value[1:]).read_bytes()
        except OSError as error:
            raise click.BadParameter(f"cannot read payload file {value[1:]}: {error.strerror}") from error
    else:
        payload = value.encode("utf-8")
    try:
        json.loads(payload)
    except ValueError as error:
        raise click.BadParameter(f"payload is not valid JSON: {error}") from error
    return payload


# --- functions ----------------------------------------------------------------------------------


def list_function_rows(client: Any) -> list[tuple[str, ...]]:
    """Return one table row per function on the server, sorted by name."""
    functions = [
        function
        for page in client.get_paginator("list_functions").paginate()
        for function in page.get("Functions", [])
    ]
    functions.sort(key=lambda function: function["FunctionName"])
    states = _function_states(client, functions)
    return [
        (
            function["FunctionName"],
            function.get("Runtime", "-"),
            str(function.get("MemorySize", "-")),
            str(function.get("Timeout", "-")),
            function.get("LastModified", "-"),
            state,
        )
        for function, state in zip(functions, states, strict=True)
    ]


def _function_states(client: Any, functions: list[dict[str, Any]]) -> list[str]:
    """Return each function's State, asking the server for the ones the listing left out."""

    def state_of(function: dict[str, Any]) -> str:
        if "State" in function:
            return str(function["State"])
        try:
            configuration = client.get_function_configuration(FunctionName=function["FunctionName"])
        except ClientError as error:
            # Deleted between the listing and this lookup.
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return "-"
            raise
        return str(configuration.get("State", "-"))

    with ThreadPoolExecutor(max_workers=STATE_LOOKUP_CONCURRENCY) as pool:
        return list(pool.map(state_of, functions))


def format_table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Render rows as left-aligned columns separated by two spaces."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (headers, *rows)
    )


# --- commands -----------------------------------------------------------------------------------


def _client(obj: dict[str, str]) -> Any:
    return lambda_client(obj["endpoint_url"], obj["region"])


def _warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def _status(message: str) -> None:
    click.echo(message, err=True)


@click.command("deploy")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", required=True, help="Function name.")
@click.option("--runtime", required=True, help="Runtime identifier, e.g. python3.12.")
@click.option("--handler", required=True, help="Handler, e.g. app.handler.")
@click.option("--memory", "memory_mb", type=int, metavar="MB", help="Memory size in MB.")
@click.option("--timeout", "timeout_s", type=int, metavar="SECONDS", help="Timeout in seconds.")
@click.option(
    "--env",
    "environment",
    multiple=True,
    metavar="KEY=VALUE",
    callback=read_env_option,
    help="Environment variable; repeatable. Replaces all variables of an existing function.",
)
@click.option("--role", help=f"Execution role ARN. New functions default to {DEFAULT_ROLE_ARN}.")
@click.pass_obj
def deploy_command(
    obj: dict[str, str],
    path: Path,
    name: str,
    runtime: str,
    handler: str,
    memory_mb: int | None,
    timeout_s: int | None,
    environment: dict[str, str] | None,
    role: str | None,
) -> None:
    """Zip PATH (a folder or a .zip) and create or update function NAME with it."""
    zip_bytes = package_for_upload(path, on_warning=_warn)
    settings = FunctionSettings(runtime, handler, role, memory_mb, timeout_s, environment)
    configuration = deploy_function(_client(obj), name, zip_bytes, settings, report=_status)
    click.echo(format_deploy_result(configuration))


@click.command("invoke")
@click.argument("name")
@click.option(
    "--payload",
    metavar="JSON|@FILE",
    callback=read_payload_option,
    help="Event as inline JSON, or @path to a file holding it.",
)
@click.option("--qualifier", help="Version or alias to invoke.")
@click.pass_context
def invoke_command(ctx: click.Context, name: str, payload: bytes | None, qualifier: str | None) -> None:
    """Invoke function NAME synchronously; print its response, and its log tail on stderr.

    Exits with status 1 if the function returned an error.
    """
    invocation = invoke_function(_client(ctx.obj), name, payload, qualifier)
    if invocation.log_tail:
        click.echo(invocation.log_tail, err=True, nl=not invocation.log_tail.endswith("\n"))
    rendered = format_response_payload(invocation.payload)
    click.echo(rendered, nl=isinstance(rendered, str))
    if invocation.function_error:
        ctx.exit(1)


@click.command("functions")
@click.pass_obj
def functions_command(obj: dict[str, str]) -> None:
    """List the functions on the server."""
    click.echo(format_table(FUNCTION_TABLE_HEADERS, list_function_rows(_client(obj))))


COMMANDS = (deploy_command, invoke_command, functions_command)
