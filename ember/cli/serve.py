"""`ember serve`: run the server in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import click
import uvicorn

from ember.config import AUTH_MODES, LOG_LEVELS, Settings, SettingsError
from ember.edge.http_protocol import guarded_protocol
from ember.egress import NETWORK_MODES
from ember.sandbox import SandboxUnavailable, choose_sandbox
from ember.server import Ember, function_network_of


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, with Ember's drain step between "stop accepting" and "close"."""

    def __init__(self, config: uvicorn.Config, ember: Ember) -> None:
        super().__init__(config)
        self.ember = ember

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # uvicorn waits for in-flight requests; environments still busy after the grace
        # period are killed, so those requests end with an error instead of hanging.
        drain = asyncio.create_task(self.ember.drain(self.ember.settings.shutdown_grace_s))
        try:
            await super().shutdown(sockets)
        finally:
            drain.cancel()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                # uvicorn re-raises the SIGINT/SIGTERM it caught once it has stopped, so the
                # process would die of it; Ember's shutdown is a clean one and exits with 0.
                self._captured_signals.clear()


#: the flag that sets each Settings field, for messages that name what the user typed
_FLAG_NAMES = {"host": "--host", "port": "--port", "data_dir": "--data-dir", "sandbox": "--sandbox",
               "keep_alive_s": "--keep-alive", "log_level": "--log-level", "cors_origins": "--cors-origins",
               "allowed_hosts": "--allowed-hosts", "auth": "--auth", "insecure_open_auth": "--insecure-open-auth",
               "function_network": "--function-network", "function_dns": "--function-dns"}


def _comma_list(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...] | None:
    """Repeatable options that also take comma-separated values; None when not given (so the
    environment variable applies)."""
    names = tuple(part.strip() for value in values for part in value.split(",") if part.strip())
    return names or None


@click.command()
@click.option("--host", default=None, help="Address to listen on.  [env EMBER_HOST; default 127.0.0.1]")
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Port to listen on.  [env EMBER_PORT; default 4566]")
@click.option("--data-dir", default=None, type=click.Path(path_type=Path),
              help="Where functions, code and state are kept.  [env EMBER_DATA_DIR; default ./.ember]")
@click.option("--sandbox", "sandbox_level", default=None,
              help="Isolation level for execution environments: auto (the strongest the host allows), isolated, "
                   "rootless or plain.  [env EMBER_SANDBOX; default auto]")
@click.option("--keep-alive", "keep_alive_s", default=None, type=click.FloatRange(0.1),
              help="Seconds an idle execution environment stays warm.  [env EMBER_KEEP_ALIVE_S; default 300]")
@click.option("--cors-origins", multiple=True, callback=_comma_list,
              help="Browser origins allowed to call Ember besides its own dashboard, e.g. http://localhost:3000 "
                   "(repeat or comma-separate; * allows any).  [env EMBER_CORS_ORIGINS]")
@click.option("--allowed-hosts", multiple=True, callback=_comma_list,
              help="Host names to answer besides loopback names, IP addresses and this machine's name, e.g. "
                   "ember.example.com or *.example.com (repeat or comma-separate).  [env EMBER_ALLOWED_HOSTS]")
@click.option("--auth", default=None, type=click.Choice(list(AUTH_MODES)),
              help="Who may call: open (any credentials, unchecked), iam (every request signed with a key Ember "
                   "knows and allowed by IAM policies), auto (open on a loopback address, iam on any other).  "
                   "[env EMBER_AUTH; default auto]")
@click.option("--insecure-open-auth", is_flag=True, default=None,
              help="Allow --auth open on a non-loopback address: anyone who can reach the port runs code as "
                   "Ember.  [env EMBER_INSECURE_OPEN_AUTH]")
@click.option("--function-network", default=None, type=click.Choice(list(NETWORK_MODES)),
              help="What functions' network reaches: none (Ember's API only), outbound (anything but this host, "
                   "as AWS functions outside a VPC), host (outbound, plus this host's loopback services at "
                   "host.ember.internal). VPC networks (`ember network`) come on top.  "
                   "[env EMBER_FUNCTION_NETWORK; default outbound]")
@click.option("--function-dns", multiple=True, callback=_comma_list,
              help="DNS servers functions use, IPv4 (repeat or comma-separate).  [env EMBER_FUNCTION_DNS; "
                   "default: this host's resolvers]")
@click.option("--log-level", default=None, type=click.Choice(list(LOG_LEVELS)),
              help="  [env EMBER_LOG_LEVEL; default info]")
def serve(host: str | None, port: int | None, data_dir: Path | None, sandbox_level: str | None,
          keep_alive_s: float | None, cors_origins: tuple[str, ...] | None, allowed_hosts: tuple[str, ...] | None,
          auth: str | None, insecure_open_auth: bool | None, function_network: str | None,
          function_dns: tuple[str, ...] | None, log_level: str | None) -> None:
    """Run Ember in the foreground (Ctrl-C or SIGTERM stops it cleanly).

    Each setting comes from its flag, else its environment variable, else its default."""
    flags = {"host": host, "port": port, "data_dir": data_dir, "sandbox": sandbox_level, "keep_alive_s": keep_alive_s,
             "cors_origins": cors_origins, "allowed_hosts": allowed_hosts, "auth": auth,
             "insecure_open_auth": insecure_open_auth, "function_network": function_network,
             "function_dns": function_dns, "log_level": log_level}
    try:
        settings = Settings.load(flags, flag_names=_FLAG_NAMES)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    try:
        network, network_warning = function_network_of(settings)
    except SandboxUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    try:
        sandbox = choose_sandbox(settings.sandbox, settings.data_dir, network)
    except SandboxUnavailable as exc:
        raise click.ClickException(f"cannot use sandbox level {settings.sandbox!r}: {exc}") from None
    ember = Ember(settings, sandbox, network_warning)
    config = uvicorn.Config(
        ember.app,
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(settings.header_timeout_s, settings.body_timeout_s, settings.max_connections),
        lifespan="on",
        access_log=False,  # the edge logs one line per request itself, with the operation name
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
        h11_max_incomplete_event_size=64 * 1024,
    )
    _DrainingServer(config, ember).run()
