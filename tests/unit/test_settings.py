"""One rule for every setting: its flag, else its environment variable, else its default."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ember.config import ENVIRONMENT, Settings, SettingsError

#: a value of each setting's own kind, different from its default, as a flag and as the variable's text
SAMPLES: dict[str, tuple[object, str]] = {
    "host": ("0.0.0.0", "10.0.0.1"),
    "port": (8080, "9090"),
    "data_dir": (Path("/srv/ember"), "/var/lib/ember"),
    "sandbox": ("plain", "rootless"),
    "log_level": ("debug", "warning"),
    "region": ("eu-west-1", "ap-south-1"),
    "account_id": ("111111111111", "222222222222"),
    "keep_alive_s": (5.0, "7"),
    "shutdown_grace_s": (1.0, "2"),
    "account_concurrency": (10, "20"),
    "memory_share": (0.5, "0.25"),
    "parked_per_runtime": (0, "4"),
    "preimport_modules": (("boto3",), "boto3, requests"),
    "metrics_retention_s": (86_400.0, "2"),
    "async_retry_delays_s": ((1.0,), "3,4"),
    "async_throttle_backoff_s": ((2.0, 10.0), "3,30"),
    "async_concurrency": (8, "0"),
    "cors_origins": (("http://a.example",), "http://b.example,http://c.example"),
    "allowed_hosts": (("a.example",), "*.b.example"),
    "header_timeout_s": (3.0, "4"),
    "body_timeout_s": (5.0, "6"),
    "max_connections": (50, "60"),
    "store_url": ("sqlite:///srv/ember/meta.db", "sqlite:///var/lib/ember/meta.db"),
    "queue_url": ("sqlite:///srv/ember/queue.db", "sqlite:///var/lib/ember/queue.db"),
    "auth": ("iam", "open"),
    "insecure_open_auth": (True, "yes"),
    "root_access_key_id": ("AKIAFLAGFLAGFLAGFLAG", "AKIAVARIABLEVARIABLE"),
    "root_secret_access_key": ("flag-secret", "variable-secret"),
    "code_url_ttl_s": (60, "5"),
    "function_network": ("host", "none"),
    "function_dns": (("10.1.1.1",), "10.2.2.2,10.3.3.3"),
    "function_connections": (64, "128"),
    "function_bandwidth_mbit_s": (10, "20"),
}


def test_every_setting_has_an_environment_variable_and_a_sample() -> None:
    names = {f.name for f in dataclasses.fields(Settings)} - {"sources"}
    assert names == set(ENVIRONMENT) == set(SAMPLES)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_flag_beats_environment_beats_default(name: str) -> None:
    flag_value, env_text = SAMPLES[name]
    variable = ENVIRONMENT[name][0]
    default = getattr(Settings(), name)

    assert getattr(Settings.load({}, environ={}), name) == default
    from_env = Settings.load({}, environ={variable: env_text})
    assert getattr(from_env, name) != default and from_env.sources[name] == variable
    from_flag = Settings.load({name: flag_value}, environ={variable: env_text})
    assert getattr(from_flag, name) == flag_value and from_flag.sources[name].startswith("--")
    # a flag left off the command line is None: the variable still applies
    assert getattr(Settings.load({name: None}, environ={variable: env_text}), name) == getattr(from_env, name)
    # an empty variable counts as unset
    assert getattr(Settings.load({}, environ={variable: " "}), name) == default


def test_units_are_converted_once_at_the_boundary() -> None:
    settings = Settings.load({}, environ={"EMBER_METRICS_RETENTION_DAYS": "2", "EMBER_PREIMPORT": "boto3, ,requests"})
    assert settings.metrics_retention_s == 2 * 86_400
    assert settings.preimport_modules == ("boto3", "requests")


@pytest.mark.parametrize(("variable", "text", "says"), [
    ("EMBER_KEEP_ALIVE_S", "soon", "is not a number"),
    ("EMBER_KEEP_ALIVE_S", "nan", "is not a finite number"),
    ("EMBER_KEEP_ALIVE_S", "0", "at least 0.1"),
    ("EMBER_PORT", "70000", "between 0 and 65535"),
    ("EMBER_PORT", "80.5", "whole number"),
    ("EMBER_LOG_LEVEL", "loud", "one of debug"),
    ("EMBER_ACCOUNT_CONCURRENCY", "0", "at least 1"),
    ("EMBER_MEMORY_SHARE", "2", "at most 1"),
    ("EMBER_ASYNC_RETRY_DELAYS_S", "60,x", "comma-separated list of seconds"),
    ("EMBER_ASYNC_THROTTLE_BACKOFF_S", "1", "two positive values"),
    ("EMBER_ASYNC_CONCURRENCY", "-1", "cannot be negative"),
    ("EMBER_MAX_CONNECTIONS", "0", "at least 1"),
    ("EMBER_STORE_URL", "postgres://db/ember", "EMBER_STORE_URL names an unknown backend"),
    ("EMBER_QUEUE_URL", "nats://queue", "EMBER_QUEUE_URL names an unknown backend"),
    ("EMBER_STORE_URL", "/srv/ember.db", "is not a URL"),
    ("EMBER_CODE_URL_TTL_S", "0", "between 1 second and a week"),
    ("EMBER_CODE_URL_TTL_S", "604801", "between 1 second and a week"),
    ("EMBER_CODE_URL_TTL_S", "1.5", "not a whole number"),
    ("EMBER_FUNCTION_NETWORK", "bridge", "one of none, outbound, host"),
    ("EMBER_FUNCTION_DNS", "dns.example", "IPv4 addresses of DNS servers"),
    ("EMBER_FUNCTION_DNS", "::1", "IPv4 addresses of DNS servers"),
    ("EMBER_FUNCTION_CONNECTIONS", "2", "between 16 and 1000000"),
    ("EMBER_FUNCTION_BANDWIDTH_MBIT_S", "0", "between 1 and 100000"),
])
def test_a_bad_value_names_its_variable_and_what_is_wrong(variable: str, text: str, says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.load({}, environ={variable: text})
    assert variable in str(raised.value) and says in str(raised.value)


def test_a_bad_flag_value_names_the_flag() -> None:
    with pytest.raises(SettingsError, match="--keep-alive must be at least 0.1"):
        Settings.load({"keep_alive_s": 0.0}, environ={}, flag_names={"keep_alive_s": "--keep-alive"})


def test_backend_urls_default_to_sqlite_files_in_the_data_dir() -> None:
    settings = Settings(data_dir=Path("/srv/ember"))
    assert settings.store_backend == ("sqlite", {"path": Path("/srv/ember/ember.db")})
    assert settings.queue_backend == ("sqlite", {"path": Path("/srv/ember/async-queue.db")})
    elsewhere = Settings(store_url="sqlite:///var/lib/meta.db", queue_url="sqlite://relative/queue.db")
    assert elsewhere.store_backend == ("sqlite", {"path": Path("/var/lib/meta.db")})
    assert elsewhere.queue_backend == ("sqlite", {"path": Path("relative/queue.db")})


def test_url_schemes_are_the_registries_names() -> None:
    from ember.config import QUEUE_SCHEMES, STORE_SCHEMES
    from ember.invoke.async_queue import ASYNC_QUEUES
    from ember.store import STORES
    assert set(STORE_SCHEMES) == set(STORES) and set(QUEUE_SCHEMES) == set(ASYNC_QUEUES)


@pytest.mark.parametrize(("host", "auth", "mode"), [
    ("127.0.0.1", "auto", "open"), ("::1", "auto", "open"), ("localhost", "auto", "open"),
    ("127.0.0.2", "auto", "open"), ("0.0.0.0", "auto", "iam"), ("192.168.1.5", "auto", "iam"),
    ("ember.example.com", "auto", "iam"), ("127.0.0.1", "iam", "iam"), ("127.0.0.1", "open", "open"),
])
def test_auth_is_open_only_on_loopback_unless_told(host: str, auth: str, mode: str) -> None:
    assert Settings(host=host, auth=auth).auth_mode == mode


def test_open_auth_on_a_reachable_address_needs_insecure_open_auth() -> None:
    with pytest.raises(SettingsError, match="--auth is open on the non-loopback address 0.0.0.0.*--insecure-open-auth"):
        Settings.load({"host": "0.0.0.0", "auth": "open"}, environ={})
    allowed = Settings.load({"host": "0.0.0.0", "auth": "open", "insecure_open_auth": True}, environ={})
    assert allowed.auth_mode == "open"
    with pytest.raises(SettingsError, match="EMBER_AUTH must be one of auto, open, iam"):
        Settings.load({}, environ={"EMBER_AUTH": "none"})
    with pytest.raises(SettingsError, match="EMBER_INSECURE_OPEN_AUTH='maybe' is not a yes/no value"):
        Settings.load({}, environ={"EMBER_INSECURE_OPEN_AUTH": "maybe"})


def test_the_root_secret_is_never_in_the_settings_repr() -> None:
    assert "hush" not in repr(Settings(root_access_key_id="AKIAEXAMPLEEXAMPLEEX", root_secret_access_key="hush"))
