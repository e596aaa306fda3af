"""Ember run by an unprivileged user: the rootless level's server is that user's process, and the isolated level is
refused. What the rootless level promises its functions is in test_sandbox_contract.py.

Uid 65534 runs Ember on Debian's python3.11 from a copy it can read (see sandbox_levels).
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.functional.conftest import EmberServer, free_port
from tests.functional.sandbox_levels import EMBER_AS_NOBODY, NOBODY, nobody_env


@pytest.fixture(scope="module")
def sandbox_server(level_server) -> EmberServer:
    return level_server("rootless")


def test_the_rootless_server_runs_unprivileged(sandbox_server: EmberServer) -> None:
    assert sandbox_server.process is not None
    with open(f"/proc/{sandbox_server.process.pid}/status") as status:
        uids = next(line for line in status if line.startswith("Uid:")).split()[1:]
    # setpriv execs the interpreter, so the server itself is the unprivileged process
    assert uids == [str(NOBODY)] * 4


def test_isolated_is_refused_without_root(nobody_home: Path) -> None:
    port = free_port()
    refused = subprocess.run(
        [*EMBER_AS_NOBODY, "serve", "--sandbox", "isolated", "--port", str(port),
         "--data-dir", str(nobody_home / "refused")],
        env=nobody_env(nobody_home), capture_output=True, text=True, timeout=60, check=False,
    )
    assert refused.returncode != 0
    message = refused.stdout + refused.stderr
    assert "isolated" in message and "needs root" in message, message
    with socket.socket() as probe_socket:
        assert probe_socket.connect_ex(("127.0.0.1", port)) != 0  # it never served
