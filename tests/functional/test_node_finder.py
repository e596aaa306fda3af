"""Finding node on the host: runs the host's node (`node --version`) to check its major version."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ember.runtimes.interpreters import NodeFinder

HOST_NODE = Path("/usr/bin/node")


@pytest.mark.skipif(not HOST_NODE.exists(), reason="no /usr/bin/node on this host")
def test_an_override_must_be_a_node_of_the_runtime_major(monkeypatch: pytest.MonkeyPatch) -> None:
    version = subprocess.run([str(HOST_NODE), "--version"], capture_output=True, text=True, check=True).stdout
    major = int(version.strip().lstrip("v").split(".")[0])
    monkeypatch.setenv(f"EMBER_NODEJS{major}_X", str(HOST_NODE))
    monkeypatch.setenv(f"EMBER_NODEJS{major + 2}_X", str(HOST_NODE))
    finder = NodeFinder()
    assert finder.find(major) == HOST_NODE
    assert finder.find(major + 2) is None  # the override names a node of another major version
