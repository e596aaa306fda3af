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

from ember.config import Settings, SettingsError
from ember.sandbox import SandboxUnavailable, choose_sandbox
from ember.server import Ember


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


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=4566, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--data-dir", default="./.ember", show_default=True, type=click.Path(path_type=Path),
              help="Where functions, code and state are kept.")
@click.option("--sandbox", "sandbox_level", default="auto", show_default=True,
              help="Isolation level for execution environments (auto = strongest the host allows).")
@click.option("--keep-alive", "keep_alive_s", default=300.0, show_default=True, type=click.FloatRange(0.1),
              help="Seconds an idle execution environment stays warm.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(host: str, port: int, data_dir: Path, sandbox_level: str, keep_alive_s: float, log_level: str) -> None:
    """Run Ember in the foreground (Ctrl-C or SIGTERM stops it cleanly)."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    try:
        sandbox = choose_sandbox(sandbox_level, data_dir)
    except SandboxUnavailable as exc:
        raise click.ClickException(f"cannot use sandbox level {sandbox_level!r}: {exc}") from None
    try:
        settings = Settings(host=host, port=port, data_dir=data_dir, keep_alive_s=keep_alive_s,
                            sandbox=sandbox_level)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    ember = Ember(settings, sandbox)
    config = uvicorn.Config(
        ember.app,
        host=host,
        port=port,
        lifespan="on",
        access_log=False,  # the edge logs one line per request itself, with the operation name
        log_level=log_level,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 5,
        h11_max_incomplete_event_size=64 * 1024,
    )
    _DrainingServer(config, ember).run()
