"""What only the isolated level does: a cgroup's process cap, a loop-mounted /tmp, the cgroup freezer, and a block
of uids and a data dir of its own per server on a host. What it shares with the other levels, and its guarantees
that differ from theirs, are in test_sandbox_contract.py.

As there, the probes must not harm the host should the sandbox ever fail: they create only new, uniquely named
files in /tmp, and a fork bomb's children never fork further.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.functional.conftest import VENV_BIN, EmberServer, invoke_json
from tests.functional.helpers import health, sandbox_uids, tail

FORK_BOMB = '''
import os, signal, time

def handler(event, context):
    children, refused, other_errors = [], 0, []
    deadline = time.monotonic() + event["seconds"]
    while time.monotonic() < deadline and refused < 20 and len(children) < 4096:
        try:
            pid = os.fork()
        except BlockingIOError:
            if not refused:
                print("first refusal after %d forks" % len(children), flush=True)
            refused += 1
            time.sleep(0.02)
            continue
        except OSError as exc:
            other_errors.append(exc.errno)
            time.sleep(0.02)
            continue
        if pid == 0:
            try:
                time.sleep(30)  # a child never forks further: the bomb stays bounded
            finally:
                os._exit(0)
        children.append(pid)
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    for pid in children:
        os.waitpid(pid, 0)
    return {"forked": len(children), "refused": refused, "other_errors": sorted(set(other_errors))}
'''

TMP_WRITER = '''
import os

COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    written, error = 0, None
    if event.get("mb"):
        chunk = b"\\x02" * (1024 * 1024)
        fd = os.open("/tmp/" + event["name"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            while written < event["mb"] * len(chunk):
                written += os.write(fd, chunk)
            os.fsync(fd)
        except OSError as exc:
            error = exc.errno
        finally:
            os.close(fd)
    if event.get("remove"):
        os.remove("/tmp/" + event["name"])
    return {"count": COUNT, "written_mb": written / 2**20, "errno": error, "files": sorted(os.listdir("/tmp"))}
'''

FROZEN_BETWEEN_INVOKES = '''
import os, subprocess, sys

def handler(event, context):
    if event.get("start"):  # a child that counts for ever, as code left running after a return does
        subprocess.Popen([sys.executable, "-c", "import time\\nn = 0\\nwhile True:\\n    n += 1\\n"
                          "    open('/tmp/count', 'w').write(str(n))\\n    time.sleep(0.01)",
                          os.environ["MARKER"]])
    try:
        with open("/tmp/count") as handle:
            return int(handle.read() or 0)
    except (FileNotFoundError, ValueError):  # not written yet, or caught mid-write
        return 0
'''


@pytest.fixture(scope="module")
def sandbox_server(level_server) -> EmberServer:
    return level_server("isolated")


def test_a_fork_bomb_hits_the_process_cap_and_the_server_keeps_serving(sandbox_server: EmberServer, sandbox_client,
                                                                      probe, deploy) -> None:
    # One vCPU: on an idle host the cap comes after ~1.5 s and the loop ends there; the long window is
    # for a busy host, where ~1,000 forks can take many seconds. The cap, not the clock, must end it.
    name = deploy(FORK_BOMB, MemorySize=1769, Timeout=60)
    response, result = invoke_json(sandbox_client, name, {"seconds": 50}, LogType="Tail")
    assert "FunctionError" not in response, result
    assert result["other_errors"] == [], result
    # EAGAIN, and well before 1,024 processes: the cap stopped it, not the clock
    refusal = re.search(r"^first refusal after (\d+) forks$", tail(response), re.MULTILINE)
    assert refusal is not None, tail(response)
    assert 500 <= int(refusal.group(1)) < 1024
    assert health(sandbox_server)["status"] == "ready"
    assert probe("result = 'after the bomb'") == "after the bomb"


def test_tmp_is_a_disk_not_memory(sandbox_client, deploy) -> None:
    # (Its size is the contract's: test_tmp_has_the_ephemeral_storage_size_where_the_level_sizes_it.)
    # 128 MB buys 0.07 vCPU: writing 512 MB takes a while on a busy machine
    name = deploy(TMP_WRITER, MemorySize=128, EphemeralStorage={"Size": 512}, Timeout=60)
    fill, kept_name = f"ember-fill-{uuid.uuid4().hex}", f"ember-kept-{uuid.uuid4().hex}"
    response, filled = invoke_json(sandbox_client, name, {"name": fill, "mb": 600, "remove": True})
    assert "FunctionError" not in response, filled
    assert filled["errno"] == errno.ENOSPC, filled
    assert 450 <= filled["written_mb"] <= 512, filled
    # Disk, not memory: a 128 MB function keeps 200 MB in /tmp.
    response, kept = invoke_json(sandbox_client, name, {"name": kept_name, "mb": 200})
    assert "FunctionError" not in response, kept
    assert kept["errno"] is None and kept["written_mb"] == 200, kept
    response, warm = invoke_json(sandbox_client, name, {})
    assert warm["count"] == kept["count"] + 1 == filled["count"] + 2  # one environment throughout
    assert kept_name in warm["files"] and fill not in warm["files"]


def pids_with_argument(argument: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError):
            if argument.encode() in Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0"):
                found.append(int(entry))
    return found


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_an_idle_environment_is_frozen_and_thawed_by_the_next_invoke(sandbox_client, deploy) -> None:
    marker = uuid.uuid4().hex
    name = deploy(FROZEN_BETWEEN_INVOKES, Environment={"Variables": {"MARKER": marker}})
    invoke_json(sandbox_client, name, {"start": True})  # the child starts
    deadline = time.monotonic() + 30
    while not (pids := pids_with_argument(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    (counter,) = pids
    _, first = invoke_json(sandbox_client, name)
    time.sleep(2)  # idle well past the freeze
    ticks = cpu_ticks(counter)
    time.sleep(1.5)
    assert cpu_ticks(counter) == ticks, "a child of an idle environment kept running"
    _, second = invoke_json(sandbox_client, name)  # thawed: the child counts on while the invoke runs
    assert second >= first
    deadline = time.monotonic() + 30
    while cpu_ticks(counter) == ticks and time.monotonic() < deadline:
        invoke_json(sandbox_client, name)
        time.sleep(0.05)
    assert cpu_ticks(counter) > ticks, "the next invocation did not thaw the environment"


def test_two_servers_on_one_host_never_share_a_sandbox_uid_or_a_data_dir(start_level_server) -> None:
    first, second = start_level_server("isolated"), start_level_server("isolated")
    assert sandbox_uids(first.data_dir) and sandbox_uids(second.data_dir)
    assert sandbox_uids(first.data_dir).isdisjoint(sandbox_uids(second.data_dir))
    result = subprocess.run([str(VENV_BIN / "ember"), "serve", "--sandbox", "isolated", "--port", "0",
                             "--data-dir", str(first.data_dir)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "another Ember server is running on the data dir" in result.stderr
    assert first.process is not None and first.process.poll() is None
