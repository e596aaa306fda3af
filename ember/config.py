"""Settings: one object, each value from its CLI flag, else its environment variable, else its default.

`Settings.load(flags)` applies that one rule to every setting; `ENVIRONMENT` names the variable and
the parser of each, so a setting cannot have a flag that silently hides its variable (a flag left
unset on the command line is None, never its default).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ember.egress import NETWORK_MODES

LOG_LEVELS = ("debug", "info", "warning", "error")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it and says why."""


def _text(name: str, raw: str) -> str:
    return raw.strip()


def _number(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise SettingsError(f"{name}={raw!r} is not a finite number")
    return value


def _integer(name: str, raw: str) -> int:
    value = _number(name, raw)
    if value != int(value):
        raise SettingsError(f"{name}={raw!r} is not a whole number")
    return int(value)


def _days_as_seconds(name: str, raw: str) -> float:
    return _number(name, raw) * 86_400


def _flag(name: str, raw: str) -> bool:
    """A yes/no variable: 1/true/yes or 0/false/no."""
    text = raw.strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise SettingsError(f"{name}={raw!r} is not a yes/no value: write 1 or 0")


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def _names(name: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list, e.g. EMBER_CORS_ORIGINS="http://localhost:3000,https://app.example"."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _seconds_list(name: str, raw: str) -> tuple[float, ...]:
    """A comma-separated list of non-negative seconds, e.g. EMBER_ASYNC_RETRY_DELAYS_S="60,120"."""
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a comma-separated list of seconds, e.g. \"60,120\"") from None
    if any(value < 0 for value in values):
        raise SettingsError(f"{name}={raw!r}: seconds cannot be negative")
    return values


#: the schemes EMBER_STORE_URL and EMBER_QUEUE_URL accept: the names in `ember.store.STORES` and
#: `ember.invoke.async_queue.ASYNC_QUEUES` (kept equal by a test; config sits below both)
STORE_SCHEMES = ("sqlite",)
QUEUE_SCHEMES = ("sqlite",)


def _url(name: str, raw: str) -> str:
    """A backend URL, e.g. EMBER_STORE_URL="sqlite:///srv/ember/ember.db"."""
    url = raw.strip()
    if "://" not in url:
        raise SettingsError(f"{name}={raw!r} is not a URL: write SCHEME://..., e.g. \"sqlite://\"")
    return url


def backend_options(url: str, default_file: Path) -> tuple[str, dict[str, Any]]:
    """(registry name, options) that open the backend `url` names: for sqlite://PATH the file
    (sqlite:// alone: `default_file`, inside the data dir); for other schemes the URL itself."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.netloc + parts.path
        return "sqlite", {"path": Path(path) if path else default_file}
    return parts.scheme, {"url": url}


#: Settings field → (its environment variable, the parser of that variable's text)
ENVIRONMENT: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "host": ("EMBER_HOST", _text),
    "port": ("EMBER_PORT", _integer),
    "data_dir": ("EMBER_DATA_DIR", _path),
    "sandbox": ("EMBER_SANDBOX", _text),
    "log_level": ("EMBER_LOG_LEVEL", _text),
    "region": ("EMBER_REGION", _text),
    "account_id": ("EMBER_ACCOUNT_ID", _text),
    "keep_alive_s": ("EMBER_KEEP_ALIVE_S", _number),
    "shutdown_grace_s": ("EMBER_SHUTDOWN_GRACE_S", _number),
    "account_concurrency": ("EMBER_ACCOUNT_CONCURRENCY", _integer),
    "memory_share": ("EMBER_MEMORY_SHARE", _number),
    "parked_per_runtime": ("EMBER_PARKED_PER_RUNTIME", _integer),
    "preimport_modules": ("EMBER_PREIMPORT", _names),
    "metrics_retention_s": ("EMBER_METRICS_RETENTION_DAYS", _days_as_seconds),
    "async_retry_delays_s": ("EMBER_ASYNC_RETRY_DELAYS_S", _seconds_list),
    "async_throttle_backoff_s": ("EMBER_ASYNC_THROTTLE_BACKOFF_S", _seconds_list),
    "async_concurrency": ("EMBER_ASYNC_CONCURRENCY", _integer),
    "cors_origins": ("EMBER_CORS_ORIGINS", _names),
    "allowed_hosts": ("EMBER_ALLOWED_HOSTS", _names),
    "header_timeout_s": ("EMBER_HEADER_TIMEOUT_S", _number),
    "body_timeout_s": ("EMBER_BODY_TIMEOUT_S", _number),
    "max_connections": ("EMBER_MAX_CONNECTIONS", _integer),
    "store_url": ("EMBER_STORE_URL", _url),
    "queue_url": ("EMBER_QUEUE_URL", _url),
    "auth": ("EMBER_AUTH", _text),
    "insecure_open_auth": ("EMBER_INSECURE_OPEN_AUTH", _flag),
    "root_access_key_id": ("EMBER_ROOT_ACCESS_KEY_ID", _text),
    "root_secret_access_key": ("EMBER_ROOT_SECRET_ACCESS_KEY", _text),
    "code_url_ttl_s": ("EMBER_CODE_URL_TTL_S", _integer),
    "function_network": ("EMBER_FUNCTION_NETWORK", _text),
    "function_dns": ("EMBER_FUNCTION_DNS", _names),
    "function_connections": ("EMBER_FUNCTION_CONNECTIONS", _integer),
    "function_bandwidth_mbit_s": ("EMBER_FUNCTION_BANDWIDTH_MBIT_S", _integer),
}

def _is_ipv4(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 4
    except ValueError:
        return False


#: auth modes: open (any credentials, unchecked), iam (every request signed and authorised), and
#: auto: open when listening on a loopback address only, else iam
AUTH_MODES = ("auto", "open", "iam")
#: settings whose values are never written to the log
SECRET_SETTINGS = frozenset({"root_secret_access_key"})


@dataclass(frozen=True)
class Settings:
    """Everything `ember serve` can be told; units in the names."""

    host: str = "127.0.0.1"
    port: int = 4566  # LocalStack's port, so tools that assume it work unchanged
    data_dir: Path = Path(".ember")
    #: isolation level of execution environments: auto, isolated, rootless or plain
    sandbox: str = "auto"
    log_level: str = "info"
    region: str = "us-east-1"
    account_id: str = "000000000000"
    #: how long an idle execution environment stays warm before it retires
    keep_alive_s: float = 300.0
    #: how long in-flight invokes may run on after SIGINT/SIGTERM before their environments are killed
    shutdown_grace_s: float = 10.0
    #: invocations in flight at once across all functions (Lambda's account concurrency limit)
    account_concurrency: int = 1000
    #: the share of host RAM that all environments' MemorySize together may hold
    memory_share: float = 0.8
    #: environments kept started per runtime in use, waiting for a function (0: every cold start
    #: starts from nothing)
    parked_per_runtime: int = 2
    #: modules parked Python environments import ahead, e.g. ("boto3",)
    preimport_modules: tuple[str, ...] = ()
    #: how long one-minute metric data is kept (CloudWatch keeps one-minute data for 15 days)
    metrics_retention_s: float = 15 * 86_400
    #: wait before the 1st and 2nd retry of an Event invocation whose function failed (Lambda: 1 then 2 minutes)
    async_retry_delays_s: tuple[float, ...] = (60.0, 120.0)
    #: a throttled Event invocation waits the first value, doubling up to the second (Lambda: 1 s to 5 minutes)
    async_throttle_backoff_s: tuple[float, ...] = (1.0, 300.0)
    #: Event invocations the dispatcher runs at once across all functions; 0 pauses async dispatch
    async_concurrency: int = 64
    #: browser origins allowed to call Ember besides its own dashboard ("*": any origin)
    cors_origins: tuple[str, ...] = ()
    #: Host names Ember answers besides loopback names, IP addresses and this machine's name
    #: ("*.example.com" covers subdomains; "*": any name, which gives up the DNS-rebinding guard)
    allowed_hosts: tuple[str, ...] = ()
    #: how long a client may take to send a request's head (its line and headers)
    header_timeout_s: float = 10.0
    #: the longest a request's body may pause between two pieces
    body_timeout_s: float = 30.0
    #: client connections open at once; more are answered 503 and closed
    max_connections: int = 1024
    #: where metadata lives: sqlite:// is ember.db in the data dir, sqlite:///PATH another file
    store_url: str = "sqlite://"
    #: where Event invocations wait: sqlite:// is async-queue.db in the data dir, sqlite:///PATH another file
    queue_url: str = "sqlite://"
    #: who may call: "open" accepts any credentials, "iam" checks every request's signature and
    #: policies, "auto" is open on a loopback address and iam on any other
    auth: str = "auto"
    #: allow --auth open on a non-loopback address (anyone who reaches the port runs code as Ember)
    insecure_open_auth: bool = False
    #: the account's root access key (both or neither; neither: made once into the data dir)
    root_access_key_id: str = ""
    root_secret_access_key: str = field(default="", repr=False)
    #: how long the code URLs GetFunction and GetLayerVersion answer with stay valid (AWS's: 10 minutes)
    code_url_ttl_s: int = 600
    #: what functions' network reaches: none (Ember's API only), outbound (anything but this host, as
    #: AWS functions outside a VPC), host (outbound, and this host's loopback at host.ember.internal)
    function_network: str = "outbound"
    #: DNS servers environments use (IPv4 addresses); empty: this host's resolvers, through the
    #: environment's network stack
    function_dns: tuple[str, ...] = ()
    #: connections one environment may hold open at once
    function_connections: int = 1024
    #: one environment's network bandwidth, each way
    function_bandwidth_mbit_s: int = 1000
    #: where each value came from: field → "--flag", "ENV_VAR" (fields left at their default are absent)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.port <= 65535, "port", "must be between 0 and 65535"),
            (self.log_level in LOG_LEVELS, "log_level", f"must be one of {', '.join(LOG_LEVELS)}"),
            (self.keep_alive_s >= 0.1, "keep_alive_s", "must be at least 0.1 seconds"),
            (self.shutdown_grace_s >= 0, "shutdown_grace_s", "cannot be negative"),
            (self.account_concurrency >= 1, "account_concurrency", "must be at least 1"),
            (0 < self.memory_share <= 1, "memory_share", "must be a share of RAM above 0 and at most 1"),
            (self.parked_per_runtime >= 0, "parked_per_runtime", "cannot be negative"),
            (self.metrics_retention_s > 0, "metrics_retention_s", "must be positive"),
            (bool(self.async_retry_delays_s), "async_retry_delays_s", "needs at least one delay"),
            (len(self.async_throttle_backoff_s) == 2 and self.async_throttle_backoff_s[0] > 0,
             "async_throttle_backoff_s", "takes two positive values, FIRST,MAX, e.g. \"1,300\""),
            (self.async_concurrency >= 0, "async_concurrency", "cannot be negative"),
            (self.header_timeout_s > 0, "header_timeout_s", "must be positive"),
            (self.body_timeout_s > 0, "body_timeout_s", "must be positive"),
            (self.max_connections >= 1, "max_connections", "must be at least 1"),
            (0 < self.code_url_ttl_s <= 7 * 86_400, "code_url_ttl_s",
             "must be between 1 second and a week (604800), as an S3 presigned URL's lifetime"),
            (self.auth in AUTH_MODES, "auth", f"must be one of {', '.join(AUTH_MODES)}"),
            (self.function_network in NETWORK_MODES, "function_network", f"must be one of {', '.join(NETWORK_MODES)}"),
            (all(_is_ipv4(server) for server in self.function_dns), "function_dns",
             "takes IPv4 addresses of DNS servers, comma-separated"),
            (16 <= self.function_connections <= 1_000_000, "function_connections", "must be between 16 and 1000000"),
            (1 <= self.function_bandwidth_mbit_s <= 100_000, "function_bandwidth_mbit_s",
             "must be between 1 and 100000 Mbit/s"),
            (self.auth_mode == "iam" or self.is_loopback or self.insecure_open_auth, "auth",
             f"is open on the non-loopback address {self.host}: anyone who can reach it could run code as "
             "Ember. Use --auth iam, or add --insecure-open-auth if that is really wanted"),
        ]
        for name, schemes in (("store_url", STORE_SCHEMES), ("queue_url", QUEUE_SCHEMES)):
            checks.append((urlsplit(getattr(self, name)).scheme in schemes, name,
                           f"names an unknown backend: the schemes known are {', '.join(schemes)}"))
        for holds, name, why in checks:
            if not holds:
                raise SettingsError(f"{self.sources.get(name, ENVIRONMENT[name][0])} {why} "
                                    f"(got {getattr(self, name)!r})")

    @classmethod
    def load(cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None,
             flag_names: Mapping[str, str] | None = None) -> Settings:
        """Settings from `flags` (field → value, None where the flag was not given), then `environ`
        (os.environ by default; an empty variable counts as unset), then the defaults.

        `flag_names` (field → "--flag") only words error messages and `sources`."""
        flags = flags or {}
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for setting in fields(cls):
            if setting.name == "sources":
                continue
            variable, parse = ENVIRONMENT[setting.name]
            if flags.get(setting.name) is not None:
                values[setting.name] = flags[setting.name]
                sources[setting.name] = (flag_names or {}).get(setting.name, "--" + setting.name.replace("_", "-"))
            elif environ.get(variable, "").strip():
                values[setting.name] = parse(variable, environ[variable])
                sources[setting.name] = variable
        return cls(**values, sources=sources)

    @property
    def is_loopback(self) -> bool:
        """Whether the listening address is reachable from this machine alone."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # a host name: it may resolve to anything

    @property
    def auth_mode(self) -> str:
        """open or iam, "auto" decided by the listening address."""
        if self.auth == "auto":
            return "open" if self.is_loopback else "iam"
        return self.auth

    @property
    def iam_database_path(self) -> Path:
        return self.data_dir / "iam.db"

    @property
    def apigateway_database_path(self) -> Path:
        """API Gateway's REST APIs, deployments and stages."""
        return self.data_dir / "apigateway.db"

    @property
    def memory_budget_mb(self) -> int:
        host_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
        return int(host_mb * self.memory_share)

    @property
    def code_dir(self) -> Path:
        return self.data_dir / "code"

    @property
    def unpacked_dir(self) -> Path:
        return self.data_dir / "unpacked"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "ember.db"

    @property
    def async_queue_path(self) -> Path:
        """The durable queue of Event invocations (its own SQLite file: its commits never wait on the store's)."""
        return self.data_dir / "async-queue.db"

    @property
    def store_backend(self) -> tuple[str, dict[str, Any]]:
        """The store's registry name and options, from `store_url`."""
        return backend_options(self.store_url, self.database_path)

    @property
    def queue_backend(self) -> tuple[str, dict[str, Any]]:
        """The async queue's registry name and options, from `queue_url`."""
        return backend_options(self.queue_url, self.async_queue_path)

    @property
    def environments_dir(self) -> Path:
        return self.data_dir / "environments"
