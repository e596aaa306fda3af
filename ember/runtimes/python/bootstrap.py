"""Ember's Python runtime bootstrap.

This file runs inside a function's execution environment.  The host starts it
as ``<python3.X> -s -u /path/to/bootstrap.py`` with a clean environment, and it
then speaks the AWS Lambda Runtime API (2018-06-01) to the address given in
``AWS_LAMBDA_RUNTIME_API``:

* init: import the module named by ``_HANDLER`` from ``LAMBDA_TASK_ROOT``; on
  failure POST ``/runtime/init/error`` and exit with status 1;
* loop: GET ``/runtime/invocation/next``, call the handler, POST
  ``/runtime/invocation/{id}/response`` or ``/runtime/invocation/{id}/error``.

Error types, messages and log lines follow what AWS's own Python runtime
produces, so that functions (and the people reading their logs) see the same
thing here as on Lambda.

Ember-specific: after every invocation, before posting its outcome, the
bootstrap flushes stdout/stderr and writes ``\\x00EMBER-END <nonce>\\x00\\n``
straight to file descriptor 1, where the nonce is the secret the host sent with
that invocation alone (header ``Ember-Output-Marker``; never shown to the
function).  The host reads stdout+stderr from one pipe and uses the marker to
know that all of that invocation's output has arrived; a function cannot forge it.

Stdlib only; must run unchanged on Python 3.9 to 3.13.  Everything this file
needs is imported up front, before the task root goes on ``sys.path``, so a
user file called ``json.py`` or ``logging.py`` cannot break the runtime.
"""

from __future__ import annotations

import decimal
import http.client
import importlib
import json
import logging
import math
import os
import re
import site
import socket
import sys
import time
import traceback

_THIS_FILE = os.path.abspath(__file__)

_API_PREFIX = "/2018-06-01/runtime"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"

# How AWS's runtime writes a multi-line error to stdout so that it stays one
# log record: lines joined with CR, leading spaces turned into NO-BREAK SPACE.
_ERROR_LINE_SEPARATOR = "\r"
_ERROR_INDENT = "\u00a0"

_LOG_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
_LOG_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

# AWS's Python 3.12+ runtimes emit non-ASCII characters as they are.
_ENSURE_ASCII = sys.version_info < (3, 12)


class _Fault(Exception):
    """An error the runtime reports under a ``Runtime.*`` error type."""

    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


class _RuntimeGone(Exception):
    """The Runtime API cannot be reached any more: the host went away."""


class _RuntimeProtocolError(Exception):
    """The Runtime API answered with something the runtime cannot use."""


# --------------------------------------------------------------------------
# JSON, the way AWS's runtime marshals it


class _Encoder(json.JSONEncoder):
    """JSON encoder matching AWS's runtime on the points that show.

    AWS encodes Decimal as its exact digits (NaN as ``NaN``) and, like
    simplejson, bytes as UTF-8 text.  The stdlib encoder cannot emit raw
    number text from ``default``, so each Decimal is emitted as a unique
    placeholder string and swapped for its digits afterwards.
    """

    def __init__(self, ensure_ascii):
        super().__init__(ensure_ascii=ensure_ascii)
        self._decimals: list[str] | None = None
        self._token = ""  # chosen when the first Decimal is met

    def default(self, o):
        if isinstance(o, decimal.Decimal):
            if o.is_nan():
                return math.nan
            if self._decimals is None:
                self._decimals = []
                self._token = "__ember_decimal_" + os.urandom(12).hex() + "_"
            self._decimals.append(str(o))
            return self._token + str(len(self._decimals) - 1)
        if isinstance(o, bytes):
            return o.decode("utf-8")
        return super().default(o)

    def encode(self, o):
        self._decimals = None
        text = super().encode(o)
        decimals, self._decimals = self._decimals, None
        if decimals:
            pattern = re.compile('"' + re.escape(self._token) + '([0-9]+)"')
            text = pattern.sub(lambda match: decimals[int(match.group(1))], text)
        return text


def _json_bytes(obj):
    """Encode obj as AWS's runtime would, as UTF-8 bytes."""
    try:
        return _Encoder(_ENSURE_ASCII).encode(obj).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate cannot go out as UTF-8; escaped, it is valid JSON.
        return _Encoder(True).encode(obj).encode("ascii")


def _marshal_response(response):
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return _json_bytes(response), "application/json"
    except Exception as exc:  # noqa: BLE001
        raise _Fault(_Fault.MARSHAL_ERROR, f"Unable to marshal response: {exc}")


def _unmarshal_event(body):
    if not body:
        return None
    try:
        return json.loads(body)
    except Exception as exc:  # noqa: BLE001
        raise _Fault(_Fault.UNMARSHAL_ERROR, f"Unable to unmarshal input: {exc}")


# --------------------------------------------------------------------------
# The context object handed to the handler


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, cognito_identity_id=None, cognito_identity_pool_id=None):
        self.cognito_identity_id = cognito_identity_id
        self.cognito_identity_pool_id = cognito_identity_pool_id

    def __repr__(self):
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    __slots__ = ("app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id")

    def __repr__(self):
        fields = ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")
        return "Client([{}])".format(",".join(f"{name}={getattr(self, name)}" for name in fields))


class ClientContext:
    __slots__ = ("client", "custom", "env")
    client: Client | None
    custom: dict[str, object] | None
    env: dict[str, object] | None

    def __repr__(self):
        return f"ClientContext([custom={self.custom},env={self.env},client={self.client}])"


def _object_from_dict(cls, values):
    if values is None:
        return None
    if not isinstance(values, dict):
        values = {}
    obj = cls()
    for name in cls.__slots__:
        setattr(obj, name, values.get(name))
    return obj


def _parse_json_header(value, name):
    try:
        return json.loads(value)
    except Exception as exc:  # noqa: BLE001
        raise _Fault(_Fault.CONTEXT_UNMARSHAL_ERROR, f"Unable to parse {name} JSON: {exc}")


def _memory_size():
    # A string, as on Lambda: AWS's runtime reads it straight from the environment.
    return os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")


class LambdaContext:
    """What AWS's Python runtime passes as the handler's second argument."""

    def __init__(
        self,
        aws_request_id,
        client_context=None,
        cognito_identity=None,
        deadline_ms=0,
        invoked_function_arn=None,
        tenant_id=None,
    ):
        self.aws_request_id = aws_request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = _memory_size()
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id

        self.client_context = _object_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _object_from_dict(Client, self.client_context.client)

        self.identity = CognitoIdentity()
        if isinstance(cognito_identity, dict):
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")

        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return max(0, remaining)

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}])"
        )


# --------------------------------------------------------------------------
# Logging


class _RequestState:
    request_id: str | None = None


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _RequestState.request_id or ""
        return True


class _LambdaLoggerHandler(logging.Handler):
    """Writes each record to (the current) sys.stdout, AWS's text format."""

    def emit(self, record):
        try:
            message = self.format(record)
            if not message.endswith("\n"):
                message += "\n"
            sys.stdout.write(message)
        except Exception:  # noqa: BLE001
            self.handleError(record)


def _setup_logging():
    logging.Formatter.converter = time.gmtime
    handler = _LambdaLoggerHandler()
    handler.setFormatter(logging.Formatter(_LOG_FORMAT, _LOG_DATE_FORMAT))
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").strip().upper()
    if level == "TRACE":
        level = "DEBUG"
    if level and isinstance(logging.getLevelName(level), int):
        root.setLevel(level)
    root.addHandler(handler)


def _make_error(message, error_type, stack_trace, request_id=None):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": stack_trace or [],
    }


def _with_nbsp_indent(line):
    stripped = line.lstrip(" ")
    return _ERROR_INDENT * (len(line) - len(stripped)) + stripped


def _log_error(error):
    description = "[ERROR]"
    if error["errorType"]:
        description += " " + error["errorType"]
    if error["errorMessage"]:
        if error["errorType"]:
            description += ":"
        description += " " + error["errorMessage"]
    lines = [description, "Traceback (most recent call last):"]
    for element in error["stackTrace"]:
        if element == "":
            lines.append("")
        else:
            lines.extend(_with_nbsp_indent(line) for line in element.splitlines())
    try:
        sys.stdout.write(_ERROR_LINE_SEPARATOR.join(lines) + "\n")
    except Exception:  # noqa: BLE001, S110
        pass


def _safe_str(value):
    try:
        return str(value)
    except Exception:  # noqa: BLE001
        return "<exception str() failed>"


def _user_frames(tb):
    """The traceback as (file, line, name, text) tuples, minus our own leading frames."""
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for index, frame in enumerate(frames):
        if frame[0] != _THIS_FILE:
            return frames[index:]
    return frames


def _error_from_exception(exc, request_id=None):
    if isinstance(exc, _Fault):
        return _make_error(exc.message, exc.error_type, exc.trace, request_id)
    frames = _user_frames(exc.__traceback__)
    return _make_error(_safe_str(exc), type(exc).__name__, traceback.format_list(frames), request_id)


def _flush_std_streams():
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:  # noqa: BLE001, S110
            pass


def _write_end_marker(nonce):
    _flush_std_streams()
    if not nonce:
        return
    data = b"\x00EMBER-END " + nonce.encode("ascii", "replace") + b"\x00\n"
    try:
        while data:
            written = os.write(1, data)
            data = data[written:]
    except OSError:
        pass


# --------------------------------------------------------------------------
# Runtime API client


class _Connection(http.client.HTTPConnection):
    def connect(self):
        super().connect()
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class _RuntimeClient:
    def __init__(self, address):
        self._address = address
        self._conn = None
        self._user_agent = "ember-python/{}.{}.{}".format(*sys.version_info[:3])

    def _close(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001, S110
                pass
            self._conn = None

    def _request(self, method, path, body=None, headers=None):
        """One request on the kept-alive connection; one retry on a fresh one."""
        all_headers = {"User-Agent": self._user_agent}
        if headers:
            all_headers.update(headers)
        for attempt in (1, 2):
            try:
                if self._conn is None:
                    self._conn = _Connection(self._address)
                self._conn.request(method, path, body=body, headers=all_headers)
                response = self._conn.getresponse()
                data = response.read()
                return response.status, response.headers, data
            except (OSError, http.client.HTTPException):
                self._close()
                if attempt == 2:
                    raise _RuntimeGone()
        raise _RuntimeGone()  # not reached

    def next_invocation(self):
        status, headers, body = self._request("GET", _API_PREFIX + "/invocation/next")
        if status != 200:
            raise _RuntimeProtocolError(f"GET /runtime/invocation/next answered {status}: {body[:200]!r}")
        return headers, body

    def post_response(self, request_id, body, content_type):
        self._request(
            "POST",
            f"{_API_PREFIX}/invocation/{request_id}/response",
            body=body,
            headers={"Content-Type": content_type},
        )

    def post_error(self, request_id, error):
        self._post_error(f"{_API_PREFIX}/invocation/{request_id}/error", error)

    def post_init_error(self, error):
        self._post_error(_API_PREFIX + "/init/error", error)

    def _post_error(self, path, error):
        error_type = error["errorType"].encode("ascii", "backslashreplace").decode("ascii")
        self._request(
            "POST",
            path,
            body=_json_bytes(error),
            headers={"Content-Type": "application/json", _ERROR_TYPE_HEADER: error_type},
        )


# --------------------------------------------------------------------------
# Init


def _setup_sys_path(task_root):
    # Python put this file's directory first; it must not shadow user modules
    # (a user module called "bootstrap", for one).
    here = os.path.dirname(_THIS_FILE)
    if sys.path and sys.path[0] and os.path.realpath(sys.path[0]) == os.path.realpath(here):
        del sys.path[0]

    # Layers are at /opt; only the plain sandbox level (no mount namespace) puts them elsewhere.
    layer_root = os.environ.get("_EMBER_OPT_ROOT", "/opt") + "/python"
    layer_site = "{}/lib/python{}.{}/site-packages".format(layer_root, *sys.version_info[:2])
    front = [task_root]
    for path in (layer_site, layer_root):
        if os.path.isdir(path):
            if path == layer_site:
                try:
                    site.addsitedir(path)  # honours .pth files, as a site directory
                except Exception:  # noqa: BLE001, S110
                    pass
            front.append(path)
    for path in front:
        while path in sys.path:
            sys.path.remove(path)
    sys.path[0:0] = front


def _load_handler(spec):
    try:
        module_name, function_name = spec.rsplit(".", 1)
    except ValueError as exc:
        raise _Fault(_Fault.MALFORMED_HANDLER_NAME, f"Bad handler '{spec}': {exc}")

    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise _Fault(
                _Fault.BUILT_IN_MODULE_CONFLICT,
                f"Cannot use built-in module {module_name} as a handler module",
            )
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise _Fault(_Fault.IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {exc}")
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise _Fault(
            _Fault.USER_CODE_SYNTAX_ERROR,
            f"Syntax error in module '{module_name}': {exc}",
            trace,
        )

    try:
        return getattr(module, function_name)
    except AttributeError:
        raise _Fault(
            _Fault.HANDLER_NOT_FOUND,
            f"Handler '{function_name}' missing on module '{module_name}'",
        )


# --------------------------------------------------------------------------
# Invocations


def _set_trace_id(trace_id):
    if trace_id is not None:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)


def _deadline_ms(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _make_context(request_id, headers):
    client_context = headers.get("Lambda-Runtime-Client-Context")
    cognito_identity = headers.get("Lambda-Runtime-Cognito-Identity")
    return LambdaContext(
        request_id,
        _parse_json_header(client_context, "Client Context") if client_context else None,
        _parse_json_header(cognito_identity, "Cognito Identity") if cognito_identity else None,
        _deadline_ms(headers.get("Lambda-Runtime-Deadline-Ms")),
        headers.get("Lambda-Runtime-Invoked-Function-Arn"),
        headers.get("Lambda-Runtime-Aws-Tenant-Id"),
    )


def _invoke(client, handler, headers, body):
    request_id = headers.get("Lambda-Runtime-Aws-Request-Id") or ""
    _RequestState.request_id = request_id
    _set_trace_id(headers.get("Lambda-Runtime-Trace-Id"))

    error: dict[str, object] | None = None
    try:
        context = _make_context(request_id, headers)
        event = _unmarshal_event(body)
        response = handler(event, context)
        result, content_type = _marshal_response(response)
    except Exception as exc:  # noqa: BLE001
        error = _error_from_exception(exc, request_id)

    if error is not None:
        _log_error(error)
    _write_end_marker(headers.get("Ember-Output-Marker"))
    if error is not None:
        client.post_error(request_id, error)
    else:
        client.post_response(request_id, result, content_type)


def _serve(client, handler):
    while True:
        headers, body = client.next_invocation()
        _invoke(client, handler, headers, body)


def _add_sdk_paths():
    """The AWS SDK for Python (boto3), as Lambda's runtime provides it: after everything else
    on sys.path, so a function's own or a layer's boto3 wins."""
    for path in filter(None, os.environ.pop("_EMBER_SDK_PATHS", "").split(os.pathsep)):
        if path not in sys.path:
            sys.path.append(path)


#: service models a parked runtime with boto3 pre-imported loads ahead (the commonest clients)
_WARM_SERVICES = ("s3", "dynamodb", "sqs", "sns", "lambda", "sts")


def _warm_boto3():
    """Most of a first boto3.client() is botocore reading JSON (endpoints, partitions, the
    service model): do it for boto3's default session while parked. Nothing read here
    depends on the function: region and credentials are looked up when a client is made."""
    try:
        import boto3

        boto3.setup_default_session()
        if boto3.DEFAULT_SESSION is None:
            return
        session = boto3.DEFAULT_SESSION._session
        session.get_component("endpoint_resolver")
        loader = session.get_component("data_loader")
        loader.load_data("partitions")
        for service in _WARM_SERVICES:
            session.get_service_model(service)
            loader.load_service_model(service, "endpoint-rule-set-1")
    except Exception:  # noqa: BLE001, S110 - warming is an optimisation; never fail the runtime for it
        pass


def _wait_for_function(client):
    """A parked environment: started (and its interpreter warmed) before any function was
    chosen. Pre-import what Ember was told to, then wait for the function's environment
    variables; everything after this is the function's own init, timed as on Lambda."""
    for name in filter(None, os.environ.pop("_EMBER_PREIMPORT", "").split(",")):
        try:
            importlib.import_module(name.strip())
        except Exception:  # noqa: BLE001, S110 - a missing optional module must not stop the runtime
            pass
    if "boto3" in sys.modules:
        _warm_boto3()
    status, _, body = client._request("GET", "/2018-06-01/ember/specialise")
    if status != 200:
        raise _RuntimeProtocolError("GET /ember/specialise answered {}: {!r}".format(status, body[:200]))
    os.environ.update(json.loads(body))
    _add_sdk_paths()  # the function's variables name them too; keep them off its environment
    importlib.invalidate_caches()  # /var/task and /opt just changed under us
    if hasattr(time, "tzset"):
        time.tzset()


def main():
    address = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not address:
        sys.stderr.write("ember bootstrap: AWS_LAMBDA_RUNTIME_API is not set\n")
        sys.exit(1)

    _add_sdk_paths()
    client = _RuntimeClient(address)
    if os.environ.pop("_EMBER_PARKED", None):
        try:
            _wait_for_function(client)
        except _RuntimeGone:
            os._exit(0)

    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    _setup_sys_path(task_root)
    try:
        os.chdir(task_root)
    except OSError:
        pass

    _setup_logging()

    try:
        handler = _load_handler(os.environ.get("_HANDLER", ""))
    except Exception as exc:  # noqa: BLE001
        error = _error_from_exception(exc)
        _log_error(error)
        _flush_std_streams()
        try:
            client.post_init_error(error)
        except _RuntimeGone:
            pass
        sys.exit(1)

    try:
        _serve(client, handler)
    except _RuntimeGone:
        # The host went away.  Leave without a traceback, and without waiting
        # for threads the function may have started: nobody will stop us.
        _flush_std_streams()
        os._exit(0)
    except _RuntimeProtocolError as exc:
        _flush_std_streams()
        sys.stderr.write(f"ember bootstrap: {exc}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
