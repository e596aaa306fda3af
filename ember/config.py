"""Settings: one object built from CLI flags, then environment variables, then defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """A setting from the environment that cannot be used; the message names it and says why."""


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None


def _env_seconds_list(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """A comma-separated list of non-negative seconds, e.g. EMBER_ASYNC_RETRY_DELAYS_S="60,120"."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a comma-separated list of seconds, e.g. \"60,120\"") from None
    if any(value < 0 for value in values):
        raise SettingsError(f"{name}={raw!r}: seconds cannot be negative")
    return values


@dataclass(frozen=True)
class Settings:
    """Everything `ember serve` can be told; units in the names."""

    host: str = "127.0.0.1"
    port: int = 4566  # LocalStack's port, so tools that assume it work unchanged
    data_dir: Path = field(default_factory=lambda: Path(".ember"))
    region: str = field(default_factory=lambda: os.environ.get("EMBER_REGION", "us-east-1"))
    account_id: str = field(default_factory=lambda: os.environ.get("EMBER_ACCOUNT_ID", "000000000000"))
    #: how long an idle execution environment stays warm before it retires
    keep_alive_s: float = field(default_factory=lambda: _env_float("EMBER_KEEP_ALIVE_S", 300.0))
    #: how long in-flight invokes may run on after SIGINT/SIGTERM before their environments are killed
    shutdown_grace_s: float = field(default_factory=lambda: _env_float("EMBER_SHUTDOWN_GRACE_S", 10.0))
    #: invocations in flight at once across all functions (Lambda's account concurrency limit)
    account_concurrency: int = field(default_factory=lambda: int(_env_float("EMBER_ACCOUNT_CONCURRENCY", 1000)))
    #: the share of host RAM that all environments' MemorySize together may hold
    memory_share: float = field(default_factory=lambda: _env_float("EMBER_MEMORY_SHARE", 0.8))
    sandbox: str = "auto"
    #: environments kept started per runtime in use, waiting for a function (0: every cold start
    #: starts from nothing)
    parked_per_runtime: int = field(default_factory=lambda: int(_env_float("EMBER_PARKED_PER_RUNTIME", 2)))
    #: modules parked Python environments import ahead (comma-separated), e.g. "boto3"
    preimport_modules: tuple[str, ...] = field(default_factory=lambda: tuple(
        m.strip() for m in os.environ.get("EMBER_PREIMPORT", "").split(",") if m.strip()))
    #: how long one-minute metric data is kept (CloudWatch keeps one-minute data for 15 days)
    metrics_retention_s: float = field(
        default_factory=lambda: _env_float("EMBER_METRICS_RETENTION_DAYS", 15.0) * 86_400)
    #: wait before the 1st and 2nd retry of an Event invocation whose function failed (Lambda: 1 then 2 minutes)
    async_retry_delays_s: tuple[float, ...] = field(
        default_factory=lambda: _env_seconds_list("EMBER_ASYNC_RETRY_DELAYS_S", (60.0, 120.0)))
    #: a throttled Event invocation waits the first value, doubling up to the second (Lambda: 1 s to 5 minutes)
    async_throttle_backoff_s: tuple[float, ...] = field(
        default_factory=lambda: _env_seconds_list("EMBER_ASYNC_THROTTLE_BACKOFF_S", (1.0, 300.0)))
    #: Event invocations the dispatcher runs at once across all functions; 0 pauses async dispatch
    async_concurrency: int = field(default_factory=lambda: int(_env_float("EMBER_ASYNC_CONCURRENCY", 64)))

    def __post_init__(self) -> None:
        if not self.async_retry_delays_s:
            raise SettingsError("EMBER_ASYNC_RETRY_DELAYS_S needs at least one delay")
        if len(self.async_throttle_backoff_s) != 2 or self.async_throttle_backoff_s[0] <= 0:
            raise SettingsError("EMBER_ASYNC_THROTTLE_BACKOFF_S takes two positive values, FIRST,MAX, e.g. \"1,300\"")
        if self.async_concurrency < 0:
            raise SettingsError("EMBER_ASYNC_CONCURRENCY cannot be negative")

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
    def environments_dir(self) -> Path:
        return self.data_dir / "environments"
