"""How the ember CLI talks to an Ember server: the boto3 client, upload progress, and error reporting."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal
from urllib.parse import urlsplit

import boto3
import botocore.session
import click
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import ReadOnlyCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    WaiterError,
)
from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

# The server accepts any SigV4 credentials for now, so a fixed pair lets the CLI work on a machine
# that has never been configured for AWS.
FALLBACK_ACCESS_KEY_ID = "ember"
FALLBACK_SECRET_ACCESS_KEY = "ember"

# Invoke may legitimately run for the maximum function timeout (900 s) before answering; the extra
# minute covers cold start and response transfer.
READ_TIMEOUT_S = 960
CONNECT_TIMEOUT_S = 10

_CLIENT_CONFIG = Config(
    # botocore's "max_attempts" counts retries only; "total_max_attempts" includes the first try.
    retries={"mode": "standard", "total_max_attempts": 2},
    read_timeout=READ_TIMEOUT_S,
    connect_timeout=CONNECT_TIMEOUT_S,
    # A synchronous invoke keeps the connection silent for up to 15 minutes; keepalives stop
    # NATs and load balancers from dropping it in the meantime.
    tcp_keepalive=True,
)


def lambda_client(endpoint_url: str, region: str) -> Any:
    """Return a boto3 Lambda client that talks to the Ember server at ``endpoint_url`` (see service_client)."""
    return service_client("lambda", endpoint_url, region)


def service_client(service_name: Literal["lambda", "logs"], endpoint_url: str, region: str) -> Any:
    """Return a boto3 client of ``service_name`` ("lambda", "logs", ...) for the Ember server at ``endpoint_url``.

    Credentials come from the usual environment variables and profile files; when none are
    configured the client signs with the fixed ``ember``/``ember`` pair instead. An endpoint that is
    not an http(s) URL is a usage error: botocore would reject it with a bare ValueError.
    """
    if urlsplit(endpoint_url).scheme not in ("http", "https") or not (
        is_valid_endpoint_url(endpoint_url) or is_valid_ipv6_endpoint_url(endpoint_url)
    ):
        # --endpoint-url is a global option, so the usage shown is the top-level command's.
        ctx = click.get_current_context(silent=True)
        raise click.BadParameter(
            f"{endpoint_url!r} is not an http:// or https:// URL, e.g. http://127.0.0.1:4566",
            ctx=ctx.find_root() if ctx else None,
            param_hint="'--endpoint-url'",
        )
    session = _boto3_session(region)
    configured = session.get_credentials() is not None
    return session.client(service_name, endpoint_url=endpoint_url, config=_CLIENT_CONFIG,
                          aws_access_key_id=None if configured else FALLBACK_ACCESS_KEY_ID,
                          aws_secret_access_key=None if configured else FALLBACK_SECRET_ACCESS_KEY)


def _boto3_session(region: str) -> boto3.session.Session:
    core_session = botocore.session.Session()
    # Looking up EC2 instance-role credentials means an HTTP call to the metadata service that,
    # off EC2, only ends by timing out: it would add a second or more to every command.
    core_session.get_component("credential_provider").remove("iam-role")
    return boto3.session.Session(botocore_session=core_session, region_name=region)


def signed_get_headers(url: str, region: str) -> dict[str, str]:
    """The headers of a GET of one of Ember's own JSON endpoints (`/_ember/async`), signed with
    SigV4 as a Lambda request by the same credentials the boto3 clients use: a server in iam mode
    answers them only to a signed request (or a dashboard session)."""
    credentials = _boto3_session(region).get_credentials()
    frozen = credentials.get_frozen_credentials() if credentials is not None else \
        ReadOnlyCredentials(FALLBACK_ACCESS_KEY_ID, FALLBACK_SECRET_ACCESS_KEY, None)
    request = AWSRequest(method="GET", url=url)
    SigV4Auth(frozen, "lambda", region).add_auth(request)
    return dict(request.headers.items())


class _ReportingBody(io.BytesIO):
    """A request body over fixed bytes that reports how far it has been read."""

    def __init__(self, data: bytes, on_read: Callable[[int, int], None]) -> None:
        super().__init__(data)
        self._total_bytes = len(data)
        self._on_read = on_read

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self._on_read(self.tell(), self._total_bytes)
        return chunk


@contextlib.contextmanager
def reporting_upload_progress(
    client: Any, operation_names: Iterable[str], on_progress: Callable[[int, int], None]
) -> Iterator[None]:
    """Call ``on_progress(sent_bytes, total_bytes)`` while request bodies of the named operations are sent.

    ``sent_bytes`` restarts from zero if botocore retries the request.
    """

    def wrap_body(request: Any, **_: Any) -> None:
        body = request.body
        if not isinstance(body, (bytes, bytearray)) or not body:
            return
        # before-send fires after signing, so swapping the body object does not disturb the
        # signature as long as the bytes are the same.
        request.body = _ReportingBody(bytes(body), on_progress)
        # urllib3 falls back to chunked encoding for file-like bodies unless the length is explicit.
        request.headers["Content-Length"] = str(len(body))

    events = client.meta.events
    event_names = [f"before-send.lambda.{name}" for name in operation_names]
    for event_name in event_names:
        events.register(event_name, wrap_body)
    try:
        yield
    finally:
        for event_name in event_names:
            events.unregister(event_name, wrap_body)


class CliError(click.ClickException):
    """A failure to report as ``error: <message>`` on stderr with exit status 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


@contextlib.contextmanager
def reporting_api_errors(endpoint_url: str) -> Iterator[None]:
    """Turn botocore failures raised inside the block into one-line :class:`CliError` messages."""
    try:
        yield
    except ClientError as error:
        details = error.response.get("Error", {})
        code = details.get("Code", "Unknown")
        message = details.get("Message", "")
        raise CliError(f"{code}: {message}") from error
    except (EndpointConnectionError, ConnectTimeoutError) as error:
        # Refused or unanswered connections: nothing is serving at the endpoint.
        raise CliError(f"no Ember server answered at {endpoint_url}; start one with `ember serve`") from error
    except ReadTimeoutError as error:
        raise CliError(f"no response from {endpoint_url} within {READ_TIMEOUT_S} s") from error
    except WaiterError as error:
        raise CliError(_describe_waiter_error(error)) from error
    except BotoCoreError as error:
        raise CliError(str(error)) from error


def _describe_waiter_error(error: WaiterError) -> str:
    """Explain a failed wait, preferring the server's own reason for a Failed state."""
    last_response: dict[str, Any] = error.last_response or {}  # type: ignore[assignment]  # typed object
    configuration = last_response.get("Configuration", {})
    if configuration.get("State") == "Failed":
        return f"function failed to become Active: {configuration.get('StateReason', 'no reason given')}"
    if configuration.get("LastUpdateStatus") == "Failed":
        return f"function update failed: {configuration.get('LastUpdateStatusReason', 'no reason given')}"
    return f"gave up waiting for the function to become ready: {error.kwargs['reason']}"
