"""The Python runtime bootstrap, run for real against a fake Runtime API.

Each test starts ``ember/runtimes/python/bootstrap.py`` as the host does
(``python3.X -s -u bootstrap.py``, clean environment, stdout and stderr on one
pipe) for every Python interpreter available, serves it invocations from a
small Runtime API on 127.0.0.1, and checks what it posts and prints.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BOOTSTRAP = str(Path(__file__).resolve().parents[2] / "ember" / "runtimes" / "python" / "bootstrap.py")

_PYENV = "/root/.pyenv/versions"
_INTERPRETERS = [
    ("3.9", f"{_PYENV}/3.9.18/bin/python3.9"),
    ("3.10", f"{_PYENV}/3.10.13/bin/python3.10"),
    ("3.11", f"{_PYENV}/3.11.7/bin/python3.11"),
    ("3.12", f"{_PYENV}/3.12.1/bin/python3.12"),
    ("3.13", f"{_PYENV}/3.13.0/bin/python3.13"),
]


def _python_params():
    if not any(os.path.exists(path) for _, path in _INTERPRETERS):
        # None of the pinned interpreters here: still test with the current one.
        return [pytest.param(sys.executable, id="py-current")]
    return [
        pytest.param(
            path,
            id=f"py{version}",
            marks=pytest.mark.skipif(not os.path.exists(path), reason=f"no Python {version} at {path}"),
        )
        for version, path in _INTERPRETERS
    ]


@pytest.fixture(params=_python_params())
def python(request):
    return request.param


API = "/2018-06-01/runtime"
FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "my-func",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/my-func",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]0123456789abcdef",
    "AWS_REGION": "us-east-1",
}
ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-func"
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def marker(request_id: str) -> bytes:
    """The end marker the bootstrap writes for `request_id`: the secret FakeRuntimeAPI sent it."""
    return b"\x00EMBER-END " + nonce(request_id).encode() + b"\x00\n"


def nonce(request_id: str) -> str:
    return "secret-" + request_id


# --------------------------------------------------------------------------
# Harness


@dataclass
class Invocation:
    request_id: str
    body: bytes = b"{}"
    headers: dict = field(default_factory=dict)
    deadline_in_ms: int = 30_000


@dataclass
class Post:
    path: str
    headers: dict
    body: bytes
    marker_seen_first: bool | None  # was the invocation's marker on stdout before the POST?

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class Run:
    returncode: int
    output: bytes
    posts: list
    next_calls: int

    @property
    def text(self) -> str:
        return self.output.decode("utf-8")

    def post(self, path: str) -> Post:
        matching = [p for p in self.posts if p.path == path]
        assert len(matching) == 1, (path, self.posts, self.text)
        return matching[0]

    def response(self, request_id: str):
        return self.post(f"{API}/invocation/{request_id}/response").json

    def error(self, request_id: str) -> Post:
        return self.post(f"{API}/invocation/{request_id}/error")


class _Output:
    """Collects the child's combined stdout+stderr as it arrives."""

    def __init__(self, stream):
        self._stream = stream
        self._data = bytearray()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        fd = self._stream.fileno()
        while True:
            chunk = os.read(fd, 65536)
            with self._cond:
                if not chunk:
                    self._cond.notify_all()
                    return
                self._data += chunk
                self._cond.notify_all()

    def wait_for(self, needle: bytes, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: needle in self._data, timeout)

    def finish(self) -> bytes:
        self._thread.join(10)
        self._stream.close()
        return bytes(self._data)


class FakeRuntimeAPI:
    def __init__(self, invocations):
        self.queue = list(invocations)
        self.posts: list[Post] = []
        self.next_calls = 0
        self.output: _Output | None = None
        self._lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the bootstrap expects
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                assert self.path == f"{API}/invocation/next", self.path
                with api._lock:
                    api.next_calls += 1
                    invocation = api.queue.pop(0) if api.queue else None
                if invocation is None:
                    # Nothing left: hang up, as a host that went away would.
                    self.close_connection = True
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Lambda-Runtime-Aws-Request-Id", invocation.request_id)
                deadline = int(time.time() * 1000) + invocation.deadline_in_ms
                self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", ARN)
                self.send_header("Ember-Output-Marker", nonce(invocation.request_id))
                for name, value in invocation.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(invocation.body)))
                self.end_headers()
                self.wfile.write(invocation.body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                seen = None
                match = re.fullmatch(rf"{API}/invocation/([^/]+)/(response|error)", self.path)
                if match:
                    # Hold the POST until the marker shows up on the pipe: if
                    # the bootstrap only wrote it after the POST, it never will.
                    seen = api.output.wait_for(marker(match.group(1)), timeout=5)
                with api._lock:
                    api.posts.append(Post(self.path, dict(self.headers), body, seen))
                reply = b'{"status":"OK"}'
                self.send_response(202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


def run_bootstrap(python, task_root, handler, invocations=(), env=None, address=None, timeout=15) -> Run:
    api = FakeRuntimeAPI(invocations)
    full_env = dict(FUNCTION_ENV)
    full_env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": address or api.address,
            "_HANDLER": handler,
            "LAMBDA_TASK_ROOT": str(task_root),
        }
    )
    full_env.update(env or {})
    try:
        proc = subprocess.Popen(
            [python, "-s", "-u", BOOTSTRAP],
            env=full_env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        api.output = _Output(proc.stdout)
        try:
            returncode = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        finally:
            output = api.output.finish()
    finally:
        api.close()
    return Run(returncode, output, list(api.posts), api.next_calls)


def write(root: Path, name: str, source: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


def assert_clean_exit(run: Run) -> None:
    assert run.returncode == 0, run.text
    assert BOOTSTRAP not in run.text  # no traceback through the runtime itself


# --------------------------------------------------------------------------
# Successful invocations and output


def test_success_with_dict_result(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        """
        import os

        def handler(event, context):
            return {"ok": True, "echo": event, "cwd": os.getcwd(), "text": "h\\u00e9llo"}
        """,
    )
    run = run_bootstrap(python, tmp_path, "index.handler", [Invocation("req-1", b'{"a": [1, 2.5, null]}')])
    assert_clean_exit(run)
    post = run.post(f"{API}/invocation/req-1/response")
    assert post.json == {
        "ok": True,
        "echo": {"a": [1, 2.5, None]},
        "cwd": str(tmp_path),
        "text": "h\u00e9llo",
    }
    assert post.headers["Content-Type"] == "application/json"
    assert post.marker_seen_first is True
    assert [p.path for p in run.posts] == [f"{API}/invocation/req-1/response"]
    assert run.output.count(b"\x00EMBER-END") == 1
    assert run.output.endswith(marker("req-1"))


def test_print_output_precedes_marker(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        """
        import sys
        print("at init")

        def handler(event, context):
            print("out", event["n"])
            sys.stderr.write("err %d\\n" % event["n"])
            print("no newline", end="")
            if event["n"] == 2:
                raise KeyError("k")
            return None
        """,
    )
    invocations = [Invocation("r1", b'{"n": 1}'), Invocation("r2", b'{"n": 2}'), Invocation("r3", b"")]
    run = run_bootstrap(python, tmp_path, "index.handler", invocations)
    assert_clean_exit(run)
    init = b"at init\n"  # init output comes first, and no marker follows init
    first = b"out 1\nerr 1\nno newline" + marker("r1")
    assert run.output.startswith(init + first)
    rest = run.output[len(init + first) :]
    assert rest.startswith(b"out 2\nerr 2\nno newline[ERROR] KeyError: 'k'\r")
    assert rest.endswith(marker("r3"))
    assert run.output.count(b"\x00EMBER-END") == 3
    assert [p.marker_seen_first for p in run.posts] == [True, True, True]
    assert run.response("r1") is None
    # An empty body is the event None (this handler would fail on None["n"]).
    assert run.error("r3").json["errorType"] == "TypeError"


def test_logging_record_format(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        """
        import logging
        logger = logging.getLogger()
        logging.warning("init %s", "warning")

        def handler(event, context):
            logger.info("hidden: the default level is WARNING")
            logger.warning("careful %d", 42)
            logging.getLogger("child").error("from child")
            try:
                1 / 0
            except ZeroDivisionError:
                logger.exception("caught")
            print("after")
            return "done"
        """,
    )
    run = run_bootstrap(python, tmp_path, "index.handler", [Invocation("rid-7")])
    assert_clean_exit(run)
    assert run.response("rid-7") == "done"
    text = run.text
    assert re.search(rf"^\[WARNING\]\t{TIMESTAMP}\t\tinit warning\n", text)
    assert "hidden" not in text
    assert re.search(rf"\n\[WARNING\]\t{TIMESTAMP}\trid-7\tcareful 42\n", "\n" + text)
    assert re.search(rf"\n\[ERROR\]\t{TIMESTAMP}\trid-7\tfrom child\n", text)
    match = re.search(
        rf"\n\[ERROR\]\t{TIMESTAMP}\trid-7\tcaught\nTraceback \(most recent call last\):\n", text
    )
    assert match, text
    assert "ZeroDivisionError: division by zero\nafter\n" in text
    # The timestamp is UTC, now.
    stamp = re.search(r"\trid-7\tcareful", text).start()
    logged = time.strptime(text[stamp - 24 : stamp - 5], "%Y-%m-%dT%H:%M:%S")
    assert abs(time.mktime(logged) - time.mktime(time.gmtime())) < 60


def test_log_level_from_environment(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        """
        import logging

        def handler(event, context):
            logging.debug("debug line")
            return None
        """,
    )
    run = run_bootstrap(
        python, tmp_path, "index.handler", [Invocation("r1")], env={"AWS_LAMBDA_LOG_LEVEL": "debug"}
    )
    assert_clean_exit(run)
    assert re.search(rf"^\[DEBUG\]\t{TIMESTAMP}\tr1\tdebug line\n", run.text, re.MULTILINE)


# --------------------------------------------------------------------------
# Errors during an invocation


def test_handler_exception(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        """
        def handler(event, context):
            return helper()

        def helper():
            raise ValueError("boom")
        """,
    )
    run = run_bootstrap(python, tmp_path, "index.handler", [Invocation("req-e")])
    assert_clean_exit(run)
    post = run.error("req-e")
    assert post.marker_seen_first is True
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == "ValueError"
    index = str(tmp_path / "index.py")
    stack = [
        f'  File "{index}", line 3, in handler\n    return helper()\n',
        f'  File "{index}", line 6, in helper\n    raise ValueError("boom")\n',
    ]
    assert post.json == {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "requestId": "req-e",
        "stackTrace": stack,
    }
    nb = "\u00a0"
    record = (
        "[ERROR] ValueError: boom\r"
        "Traceback (most recent call last):\r"
        f'{nb * 2}File "{index}", line 3, in handler\r{nb * 4}return helper()\r'
        f'{nb * 2}File "{index}", line 6, in helper\r{nb * 4}raise ValueError("boom")\n'
    )
    assert run.text == record + marker("req-e").decode()


def test_marshal_and_unmarshal_errors(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        """
        def handler(event, context):
            return {"s": {1, 2}}
        """,
    )
    invocations = [Invocation("m1"), Invocation("u1", b"{not json")]
    run = run_bootstrap(python, tmp_path, "index.handler", invocations)
    assert_clean_exit(run)
    unmarshal = run.error("u1")
    assert unmarshal.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.UnmarshalError"
    assert unmarshal.json["errorMessage"].startswith("Unable to unmarshal input: Expecting property name")
    assert unmarshal.marker_seen_first is True
    post = run.error("m1")
    message = "Unable to marshal response: Object of type set is not JSON serializable"
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.MarshalError"
    assert post.json == {
        "errorMessage": message,
        "errorType": "Runtime.MarshalError",
        "requestId": "m1",
        "stackTrace": [],
    }
    assert run.text.startswith(
        f"[ERROR] Runtime.MarshalError: {message}\rTraceback (most recent call last):\n"
    )


def test_decimal_and_bytes_marshalling(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        """
        from decimal import Decimal

        def handler(event, context):
            if event == "raw":
                return b"\\x00raw bytes"
            return {"price": Decimal("1.10"), "big": Decimal("12345678901234567890.000000001"),
                    "nan": Decimal("NaN"), "b": b"text", "s": "__ember_decimal_"}
        """,
    )
    run = run_bootstrap(python, tmp_path, "index.handler", [Invocation("d1"), Invocation("d2", b'"raw"')])
    assert_clean_exit(run)
    body = run.post(f"{API}/invocation/d1/response").body
    assert b'"price": 1.10' in body
    assert b'"big": 12345678901234567890.000000001' in body
    assert b'"nan": NaN' in body
    assert b'"b": "text"' in body and b'"s": "__ember_decimal_"' in body
    raw = run.post(f"{API}/invocation/d2/response")
    assert raw.body == b"\x00raw bytes"
    assert raw.headers["Content-Type"] == "application/unknown"


# --------------------------------------------------------------------------
# Init errors


INIT_ERRORS = {
    "import-missing": (
        {},
        "index.handler",
        "Runtime.ImportModuleError",
        "Unable to import module 'index': No module named 'index'",
    ),
    "import-missing-dependency": (
        {"index.py": "import no_such_dependency_xyz\ndef handler(e, c):\n    pass\n"},
        "index.handler",
        "Runtime.ImportModuleError",
        "Unable to import module 'index': No module named 'no_such_dependency_xyz'",
    ),
    "handler-missing": (
        {"index.py": "def other(e, c):\n    pass\n"},
        "index.handler",
        "Runtime.HandlerNotFound",
        "Handler 'handler' missing on module 'index'",
    ),
    "malformed-handler": (
        {"index.py": "def handler(e, c):\n    pass\n"},
        "index",
        "Runtime.MalformedHandlerName",
        "Bad handler 'index': not enough values to unpack (expected 2, got 1)",
    ),
    "builtin-module": (
        {},
        "sys.handler",
        "Runtime.BuiltInModuleConflict",
        "Cannot use built-in module sys as a handler module",
    ),
}


@pytest.mark.parametrize("case", sorted(INIT_ERRORS))
def test_init_error(python, tmp_path, case):
    files, handler, error_type, message = INIT_ERRORS[case]
    for name, source in files.items():
        write(tmp_path, name, source)
    run = run_bootstrap(python, tmp_path, handler, [Invocation("never")])
    assert run.returncode == 1, run.text
    post = run.post(f"{API}/init/error")
    assert [p.path for p in run.posts] == [post.path]
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == error_type
    assert post.json == {"errorMessage": message, "errorType": error_type, "requestId": "", "stackTrace": []}
    assert run.next_calls == 0
    assert b"EMBER-END" not in run.output
    assert run.text == f"[ERROR] {error_type}: {message}\rTraceback (most recent call last):\n"


def test_init_syntax_error(python, tmp_path):
    write(tmp_path, "index.py", "x = 1\ndef handler(event, context)\n    return 1\n")
    run = run_bootstrap(python, tmp_path, "index.handler", [Invocation("never")])
    assert run.returncode == 1, run.text
    post = run.post(f"{API}/init/error")
    error = post.json
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.UserCodeSyntaxError"
    assert error["errorType"] == "Runtime.UserCodeSyntaxError"
    assert error["requestId"] == ""
    assert error["errorMessage"].startswith("Syntax error in module 'index': ")
    assert error["errorMessage"].endswith(" (index.py, line 2)")
    assert error["stackTrace"] == [
        f'  File "{tmp_path / "index.py"}" Line 2\n    def handler(event, context)\n'
    ]
    assert run.text.startswith("[ERROR] Runtime.UserCodeSyntaxError: Syntax error in module 'index': ")
    assert b"EMBER-END" not in run.output and run.next_calls == 0


def test_init_exception_in_user_code(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        """
        print("starting")
        CONFIG = {}
        TABLE = CONFIG["table"]

        def handler(event, context):
            pass
        """,
    )
    run = run_bootstrap(python, tmp_path, "index.handler", [Invocation("never")])
    assert run.returncode == 1, run.text
    post = run.post(f"{API}/init/error")
    error = post.json
    assert post.headers["Lambda-Runtime-Function-Error-Type"] == "KeyError"
    assert (error["errorType"], error["errorMessage"], error["requestId"]) == ("KeyError", "'table'", "")
    assert (
        error["stackTrace"][-1]
        == f'  File "{tmp_path / "index.py"}", line 4, in <module>\n    TABLE = CONFIG["table"]\n'
    )
    assert not any("bootstrap.py" in line for line in error["stackTrace"])
    assert run.text.startswith("starting\n[ERROR] KeyError: 'table'\rTraceback (most recent call last):\r")
    assert b"EMBER-END" not in run.output


# --------------------------------------------------------------------------
# Handler resolution


@pytest.mark.parametrize("handler", ["pkg/mod.handler", "pkg.mod.handler"])
def test_nested_module_handler(python, tmp_path, handler):
    write(tmp_path, "pkg/__init__.py", "")
    write(tmp_path, "pkg/mod.py", "def handler(event, context):\n    return __name__\n")
    run = run_bootstrap(python, tmp_path, handler, [Invocation("n1")])
    assert_clean_exit(run)
    assert run.response("n1") == "pkg.mod"


def test_user_module_named_bootstrap_is_not_shadowed(python, tmp_path):
    write(tmp_path, "bootstrap.py", "def handler(event, context):\n    return ['user bootstrap', __file__]\n")
    run = run_bootstrap(python, tmp_path, "bootstrap.handler", [Invocation("b1")])
    assert_clean_exit(run)
    assert run.response("b1") == ["user bootstrap", str(tmp_path / "bootstrap.py")]


# --------------------------------------------------------------------------
# Context and per-invocation environment


def test_context_fields(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        """
        import os, sys

        def handler(event, context):
            remaining = context.get_remaining_time_in_millis()
            return {
                "function_name": context.function_name,
                "function_version": context.function_version,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "aws_request_id": context.aws_request_id,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining": remaining,
                "remaining_type": type(remaining).__name__,
                "sys_path_head": sys.path[0],
            }
        """,
    )
    invocations = [Invocation("c1", deadline_in_ms=5_000), Invocation("c2", deadline_in_ms=-1_000)]
    run = run_bootstrap(python, tmp_path, "index.handler", invocations)
    assert_clean_exit(run)
    first = run.response("c1")
    assert 3_000 < first.pop("remaining") <= 5_000
    assert first == {
        "function_name": "my-func",
        "function_version": "$LATEST",
        "invoked_function_arn": ARN,
        "memory_limit_in_mb": "256",
        "aws_request_id": "c1",
        "log_group_name": "/aws/lambda/my-func",
        "log_stream_name": "2024/01/01/[$LATEST]0123456789abcdef",
        "remaining_type": "int",
        "sys_path_head": str(tmp_path),
    }
    assert run.response("c2")["remaining"] == 0  # deadline passed: never negative


def test_client_context_and_identity(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        """
        def handler(event, context):
            cc = context.client_context
            return {
                "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
                "client_context": None if cc is None else {
                    "custom": cc.custom,
                    "env": cc.env,
                    "client": None if cc.client is None else [cc.client.installation_id, cc.client.app_title,
                        cc.client.app_version_name, cc.client.app_version_code, cc.client.app_package_name],
                },
            }
        """,
    )
    client_context = {
        "client": {
            "installation_id": "inst-1",
            "app_title": "App",
            "app_version_name": "1.0",
            "app_version_code": "10",
            "app_package_name": "com.example",
        },
        "custom": {"k": "v"},
        "env": {"platform": "Android"},
    }
    identity = {"cognitoIdentityId": "us-east-1:abc", "cognitoIdentityPoolId": "us-east-1:pool"}
    headers = {
        "Lambda-Runtime-Client-Context": json.dumps(client_context),
        "Lambda-Runtime-Cognito-Identity": json.dumps(identity),
    }
    run = run_bootstrap(
        python, tmp_path, "index.handler", [Invocation("i1", headers=headers), Invocation("i2")]
    )
    assert_clean_exit(run)
    assert run.response("i1") == {
        "identity": ["us-east-1:abc", "us-east-1:pool"],
        "client_context": {
            "custom": {"k": "v"},
            "env": {"platform": "Android"},
            "client": ["inst-1", "App", "1.0", "10", "com.example"],
        },
    }
    assert run.response("i2") == {"identity": [None, None], "client_context": None}


def test_trace_id_environment(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        "import os\ndef handler(event, context):\n    return os.environ.get('_X_AMZN_TRACE_ID')\n",
    )
    trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    invocations = [Invocation("t1", headers={"Lambda-Runtime-Trace-Id": trace}), Invocation("t2")]
    run = run_bootstrap(python, tmp_path, "index.handler", invocations)
    assert_clean_exit(run)
    assert run.response("t1") == trace
    assert run.response("t2") is None


def test_module_state_persists_across_invocations(python, tmp_path):
    write(
        tmp_path,
        "index.py",
        """
        import os
        COUNT = 0

        def handler(event, context):
            global COUNT
            COUNT += 1
            return [COUNT, os.getpid()]
        """,
    )
    run = run_bootstrap(python, tmp_path, "index.handler", [Invocation("s1"), Invocation("s2")])
    assert_clean_exit(run)
    (count1, pid1), (count2, pid2) = run.response("s1"), run.response("s2")
    assert (count1, count2) == (1, 2)
    assert pid1 == pid2
    assert run.next_calls == 4  # the third, and its one retry on a new connection, find the host gone


def test_exits_quietly_when_runtime_api_is_unreachable(python, tmp_path):
    import socket

    write(tmp_path, "index.py", "def handler(event, context):\n    return 1\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = run_bootstrap(python, tmp_path, "index.handler", address=f"127.0.0.1:{port}")
    assert run.returncode == 0, run.text
    assert run.output == b""
