"""Model-driven fuzzing: seeded random requests for an operation, built from its botocore input shape.

Values are mostly plausible (names from a small pool, so requests reach existing resources and the
handlers behind validation), with hostile ones mixed in: integers past 64 bits, NaN and 1e999,
`null` inside lists and maps and for required members, wrong JSON types, lone surrogates, very
long strings, and whole bodies that are empty, not JSON, or nested 100k levels deep. Requests are
raw HTTP, so they carry what boto3 would refuse to send.
"""

from __future__ import annotations

import base64
import io
import json
import random
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from typing import Any

from botocore.model import OperationModel, Shape, StructureShape

#: how deep generated values nest before structures stop adding optional members
MAX_DEPTH = 5
#: nesting of the deepest hostile body: far past any parser's recursion limit
DEEP_NESTING = 100_000
#: the longest value put in a path, query or header: longer request heads are refused by the HTTP
#: server before Ember sees them (uvicorn's 400 "Invalid HTTP request received."), so are no test of it
MAX_HEAD_VALUE_CHARS = 2000
ACCOUNT = "000000000000"
#: members naming what a request may create (functions, layers, log groups and streams)
CREATED_NAMES = {"FunctionName", "LayerName", "logGroupName", "logStreamName"}


@dataclass(frozen=True)
class Raw:
    """A token written into the JSON as is: NaN, Infinity, 1e999, which json.dumps cannot be asked for."""

    text: str


def dumps(value: Any) -> str:
    """JSON text for `value`, with Raw tokens verbatim and lone surrogates escaped (\\ud800)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value)


def deep_array(depth: int = DEEP_NESTING) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_object(depth: int = DEEP_NESTING) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


#: whole bodies no operation can read
HOSTILE_BODIES: tuple[bytes, ...] = (
    b"", b"   ", b"{", b"null", b"[]", b'"text"', b"7", b"\xff\xfe\x00\x01", b"NaN", b'{"a": 1} trailing',
    b'{"a": NaN}', deep_array(), deep_object(), b"[" * 5000 + b"]" * 5000,
)
HOSTILE_STRINGS: tuple[Any, ...] = (
    "\ud800", "a\udfffb", "", " ", "\x00", "x" * 100_000, "../../etc/passwd", "%2F%00", "函数", "null",
    "arn:aws:lambda:::", "$LATEST",
)
HOSTILE_INTEGERS: tuple[Any, ...] = (
    2**63, 2**63 - 1, 2**64, -(2**63) - 1, -(10**30), 10**400, 2**31, -1, 0, 1.5, Raw("NaN"), Raw("Infinity"),
    Raw("-Infinity"), Raw("1e999"), Raw("-1e999"), Raw("1e300"), "7", True,
)
HOSTILE_NUMBERS: tuple[Any, ...] = (
    Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("1e999"), Raw("-1e999"), 1e308, -1e308, -0.0, 2**70,
    -(2**70), "1.5", False,
)
HOSTILE_TIMESTAMPS: tuple[Any, ...] = (
    1e20, -1e20, 2**63, -(2**63), 10**400, Raw("NaN"), Raw("1e999"), "yesterday", "2024-13-45T00:00:00Z", "",
    "\ud800", [],
)
HOSTILE_BLOBS: tuple[Any, ...] = ("!!! not base64", "", "AA=", 123, "\ud800", None)
HOSTILE_BOOLEANS: tuple[Any, ...] = ("true", 1, 0, None, [])
HOSTILE_ANY: tuple[Any, ...] = (None, [None], [], {}, "x", 1, True, Raw("NaN"), {"a": None})


@dataclass
class NamePool:
    """The few names generated requests use, so that they meet the resources other requests made."""

    prefix: str

    def for_member(self, member_name: str, shape: Shape) -> list[str]:
        """Plausible values for a member (empty when the member is no resource name)."""
        key = member_name.lower()
        function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{self.prefix}-a"
        layer_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:layer:{self.prefix}-layer"
        pools = {
            "functionname": [f"{self.prefix}-a", f"{self.prefix}-b", function_arn, f"{function_arn}:live"],
            "layername": [f"{self.prefix}-layer", layer_arn],
            "layerversionarn": [f"{layer_arn}:1", f"{layer_arn}:2"],
            "arn": [f"{layer_arn}:1"],
            "layers": [f"{layer_arn}:1"],
            "resource": [function_arn],
            "qualifier": ["$LATEST", "1", "live"],
            "name": ["live", "blue"],
            "functionversion": ["$LATEST", "1"],
            "role": [f"arn:aws:iam::{ACCOUNT}:role/fuzz-role"],
            "handler": ["index.handler"],
            "statementid": ["s1", "s2"],
            "action": ["lambda:InvokeFunction", "lambda:GetLayerVersion"],
            "principal": ["s3.amazonaws.com", ACCOUNT, "*"],
            "loggroupname": [f"/aws/lambda/{self.prefix}-a", f"{self.prefix}-group"],
            "loggroupnameprefix": ["/aws/lambda/", self.prefix],
            "loggroupidentifier": [f"{self.prefix}-group"],
            "logstreamname": ["s1", "2024/01/01/[$LATEST]0123456789abcdef"],
            "logstreamnameprefix": ["s", "2024/"],
            "namespace": ["AWS/Lambda"],
            "metricname": ["Invocations", "Duration", "Errors"],
            "id": ["m1", "q2"],
            "expression": ["SUM(METRICS())", "m1 * 2"],
            "filterpattern": ["ERROR", '{ $.level = "x" }', "[a, b]"],
        }
        return pools.get(key, [])

    def valid_zip(self) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
        return buffer.getvalue()


@dataclass
class Generator:
    """Values for shapes, drawn from `rng`; each leaf is hostile with probability `hostile_rate`."""

    rng: random.Random
    names: NamePool
    runtime: str
    hostile_rate: float
    #: how often an optional member is sent (each is one more chance to break a constraint)
    optional_rate: float = 0.3
    _zip: bytes = field(init=False)

    def __post_init__(self) -> None:
        self._zip = self.names.valid_zip()

    def structure(self, shape: StructureShape, depth: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {}
        required = set(shape.required_members)
        for name, member in shape.members.items():
            if name in required:
                if self.rng.random() < 0.03:
                    out[name] = None  # a required member sent as null
                elif self.rng.random() < 0.95:
                    out[name] = self.value(member, name, depth + 1)
            elif depth < MAX_DEPTH and self.rng.random() < self.optional_rate:
                out[name] = self.value(member, name, depth + 1)
        return out

    def value(self, shape: Shape, member_name: str, depth: int) -> Any:
        if self.rng.random() < self.hostile_rate:
            return self._hostile(shape)
        kind = shape.type_name
        if kind == "structure":
            return self.structure(shape, depth)  # type: ignore[arg-type]
        if kind == "list":
            count = self.rng.choice((0, 1, 1, 2, 3))
            pooled = self.names.for_member(member_name, shape)
            return [self.rng.choice(pooled) if pooled else self.value(shape.member, member_name, depth + 1)  # type: ignore[attr-defined]
                    for _ in range(count)]
        if kind == "map":
            keys = [self.value(shape.key, "key", depth + 1) for _ in range(self.rng.choice((0, 1, 2)))]  # type: ignore[attr-defined]
            # JSON keys are strings: a hostile key of another type goes as its JSON text
            return {key if isinstance(key, str) else dumps(key): self.value(shape.value, "value", depth + 1)  # type: ignore[attr-defined]
                    for key in keys}
        if kind == "string":
            return self._string(shape, member_name)
        if kind in ("integer", "long"):
            low = shape.metadata.get("min", 0)
            high = shape.metadata.get("max", max(low, 0) + 1000)
            return self.rng.choice((low, high, self.rng.randint(low, high)))
        if kind in ("float", "double"):
            return self.rng.choice((0.0, 1.5, 60.0, self.rng.uniform(-1e6, 1e6)))
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "timestamp":
            return round(time.time() - self.rng.uniform(0, 3 * 86400), 3)
        if kind == "blob":
            raw = self._zip if member_name == "ZipFile" and self.rng.random() < 0.5 else self.rng.randbytes(8)
            return base64.b64encode(raw).decode()
        return None

    def _string(self, shape: Shape, member_name: str) -> str:
        if shape.enum:
            if member_name == "Runtime" and self.rng.random() < 0.5:
                return self.runtime
            return self.rng.choice(shape.enum)
        pooled = self.names.for_member(member_name, shape)
        if pooled and self.rng.random() < 0.8:
            return self.rng.choice(pooled)
        low = shape.metadata.get("min", 1)
        high = min(shape.metadata.get("max", 12), max(low, 12))
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_"
        text = "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(low, max(low, high))))
        # A new resource's name starts with the pool's prefix, so the clean-up finds it.
        return f"{self.names.prefix}-{text}" if member_name in CREATED_NAMES else text

    def _hostile(self, shape: Shape) -> Any:
        kind = shape.type_name
        if self.rng.random() < 0.15:
            return self.rng.choice(HOSTILE_ANY)  # a wrong type, or null where a value goes
        if kind == "string":
            return self.rng.choice(HOSTILE_STRINGS)
        if kind in ("integer", "long"):
            return self.rng.choice(HOSTILE_INTEGERS)
        if kind in ("float", "double"):
            return self.rng.choice(HOSTILE_NUMBERS)
        if kind == "timestamp":
            return self.rng.choice(HOSTILE_TIMESTAMPS)
        if kind == "blob":
            return self.rng.choice(HOSTILE_BLOBS)
        if kind == "boolean":
            return self.rng.choice(HOSTILE_BOOLEANS)
        if kind == "list":
            item = self.value(shape.member, "item", MAX_DEPTH)  # type: ignore[attr-defined]
            return self.rng.choice(([None], [item, None], "not a list", {"a": item}, [item] * 200))
        if kind == "map":
            item = self.value(shape.value, "value", MAX_DEPTH)  # type: ignore[attr-defined]
            return self.rng.choice(({"k": None}, {"\ud800": item}, {"": item}, ["k", item], "not a map"))
        return self.rng.choice(("not an object", [None], [], {"Unknown": 1}, Raw("NaN")))


@dataclass(frozen=True)
class FuzzRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def describe(self, limit: int = 300) -> str:
        body = self.body[:limit].decode("utf-8", "backslashreplace")
        return f"{self.method} {self.path[:limit]} {body}{' ...' if len(self.body) > limit else ''}"


def authorization(signing_name: str) -> str:
    """An Authorization header whose credential scope names the service (how the edge routes)."""
    return (f"AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{signing_name}/aws4_request, "
            "SignedHeaders=host, Signature=00")


def build_request(operation: OperationModel, params: dict[str, Any], body_override: bytes | None,
                  rng: random.Random) -> FuzzRequest:
    """The HTTP request carrying `params` (member names) as the operation's protocol places them."""
    service = operation.service_model
    headers = {"authorization": authorization(service.signing_name or service.endpoint_prefix)}
    if service.resolved_protocol == "json":
        headers["x-amz-target"] = f"{service.metadata['targetPrefix']}.{operation.name}"
        headers["content-type"] = f"application/x-amz-json-{service.metadata.get('jsonVersion', '1.0')}"
        body = body_override if body_override is not None else dumps(params).encode("utf-8", "surrogatepass")
        return FuzzRequest("POST", "/", headers, body)
    return _rest_json_request(operation, params, body_override, headers, rng)


def _rest_json_request(operation: OperationModel, params: dict[str, Any], body_override: bytes | None,
                       headers: dict[str, str], rng: random.Random) -> FuzzRequest:
    shape = operation.input_shape
    path = operation.http["requestUri"]
    query: list[tuple[str, str]] = []
    document: dict[str, Any] = {}
    body: bytes | None = None
    payload_name = shape.serialization.get("payload") if shape is not None else None
    members = shape.members if shape is not None else {}
    for name, member in members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            text = _text(params.get(name, ""))[:MAX_HEAD_VALUE_CHARS]
            greedy = "{" + wire_name + "+}" in path
            quoted = urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="/" if greedy else "")
            path = path.replace("{" + wire_name + ("+}" if greedy else "}"), quoted)
        elif name not in params:
            continue
        elif location == "querystring":
            values = params[name] if isinstance(params[name], list) else [params[name]]
            query.extend((wire_name, _text(value)[:MAX_HEAD_VALUE_CHARS]) for value in values)
        elif location == "header":
            headers[wire_name] = _header_text(params[name])
        elif name == payload_name:
            body = _payload(member, params[name], rng)
        elif location is None:
            document[wire_name] = params[name]
    path, _, static_query = path.partition("?")
    if static_query:
        query.extend(urllib.parse.parse_qsl(static_query, keep_blank_values=True))
    if query:
        path += "?" + "&".join(f"{urllib.parse.quote(k)}={urllib.parse.quote(v.encode('utf-8', 'surrogatepass'))}"
                               for k, v in query)
    if body_override is not None:
        body = body_override
    elif body is None:
        body = dumps(document).encode("utf-8", "surrogatepass") if document else b""
    headers["content-type"] = "application/json"
    return FuzzRequest(operation.http["method"], path, headers, body)


def _payload(member: Shape, value: Any, rng: random.Random) -> bytes:
    if member.type_name == "blob":
        return rng.choice((b"{}", b'{"a": 1}', b"not json", b"", deep_array(), b"\xff\xfe", b'"\\ud800"'))
    return dumps(value).encode("utf-8", "surrogatepass")


def _text(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return dumps(value)


def _header_text(value: Any) -> str:
    # http.client refuses control characters in headers; the rest goes as latin-1 bytes.
    text = _text(value).encode("utf-8", "surrogatepass").decode("latin-1")
    return "".join(ch for ch in text if ch >= " " and ch != "\x7f")[:MAX_HEAD_VALUE_CHARS]
