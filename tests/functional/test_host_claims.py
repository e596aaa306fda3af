"""HostClaims: one server per data dir, distinct uid blocks, and clean-up after servers that died."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ember.sandbox.host_claims import ClaimRefused, HostClaims

HOLDER = """
import sys, time
from pathlib import Path
from ember.sandbox.host_claims import HostClaims
claims = HostClaims(sys.argv[1], Path(sys.argv[2]), registry_dir=Path(sys.argv[3]))
print(claims.uid_block, flush=True)
time.sleep(600)
"""


def hold_in_another_process(instance: str, state_dir: Path, registry: Path) -> tuple[subprocess.Popen, int]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, instance, str(state_dir), str(registry)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None
    block = int(holder.stdout.readline())
    holder.stdout.close()
    return holder, block


def test_a_data_dir_has_one_live_server_and_servers_get_distinct_uid_blocks(tmp_path: Path) -> None:
    registry = tmp_path / "run"
    holder, holder_block = hold_in_another_process("aaaa", tmp_path / "a", registry)
    try:
        with pytest.raises(ClaimRefused, match="another Ember server is running on the data dir"):
            HostClaims("aaaa", tmp_path / "a", registry_dir=registry)
        mine = HostClaims("bbbb", tmp_path / "b", registry_dir=registry)
        assert mine.uid_block != holder_block
        assert mine.live_instances() == {"aaaa", "bbbb"}
        assert mine.collect_dead(lambda instance, state_dir: pytest.fail("nothing is dead")) == []
        mine.release()
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_server_is_cleaned_up_once_by_the_next_one(tmp_path: Path) -> None:
    registry = tmp_path / "run"
    holder, _ = hold_in_another_process("dead", tmp_path / "dead-data", registry)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    cleaned: list[tuple[str, Path]] = []
    survivor = HostClaims("live", tmp_path / "live-data", registry_dir=registry)
    assert survivor.uid_block == 0  # the dead server's block is free again
    assert survivor.collect_dead(lambda instance, state_dir: cleaned.append((instance, state_dir))) == ["dead"]
    assert cleaned == [("dead", (tmp_path / "dead-data").resolve())]
    assert survivor.collect_dead(lambda instance, state_dir: cleaned.append((instance, state_dir))) == []
    assert survivor.live_instances() == {"live"}
    # its data dir can be served again
    HostClaims("dead", tmp_path / "dead-data", registry_dir=registry).release()
    survivor.release()
    assert sorted(path.name for path in registry.glob("instance-*")) == []


def test_a_failed_clean_up_is_tried_again_later(tmp_path: Path) -> None:
    registry = tmp_path / "run"
    holder, _ = hold_in_another_process("dead", tmp_path / "dead-data", registry)
    holder.kill()
    holder.wait()
    survivor = HostClaims("live", tmp_path / "live-data", registry_dir=registry)

    def failing(instance: str, state_dir: Path) -> None:
        raise OSError("device busy")

    assert survivor.collect_dead(failing) == []
    # the record stays for the next collection
    assert survivor.collect_dead(lambda instance, state_dir: None) == ["dead"]
    survivor.release()
