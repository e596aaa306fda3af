"""Memory per idle warm execution environment: USS (Private_Clean + Private_Dirty) and PSS from
/proc/PID/smaps_rollup, summed over the environment's processes on the host (bwrap, the
namespace's init that bwrap runs, and the runtime's interpreter). The environments are found
as children of the `ember serve` process; which function one holds is read from its runtime's
/proc/PID/mountinfo (the folder mounted at /var/task), so parked environments (an empty slot
there) are told apart.

Ember is started three ways: parking off, parking on (default), parking on with
EMBER_PREIMPORT=boto3 (and a fourth, parking on with its runtimes on another interpreter, with
--runtime-python); each time `--functions` no-op and as many boto3 functions are invoked
once, then left idle for `--idle` seconds before reading. Baselines, for comparison: the
process that keeps the same handler warm (the floor's uvicorn process; functions-framework's
gunicorn master and worker); the process-per-invoke runner keeps nothing between invokes
(its front server is shown).

Usage: .venv/bin/python bench/idle_memory.py [--functions 5] [--idle 3]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    BASELINE_TITLES,
    HANDLER_TITLES,
    Ember,
    Memory,
    baseline,
    children,
    descendants,
    machine_line,
    memory_of,
    mib,
    print_table,
    verdict,
)

TARGET_USS_MB = 10.0
EMBER_CONFIGS = [
    ("Ember, parking off", {"EMBER_PARKED_PER_RUNTIME": "0"}),
    ("Ember, parking on (default)", {}),
    ("Ember, parking on, EMBER_PREIMPORT=boto3", {"EMBER_PREIMPORT": "boto3"}),
]
HANDLERS = ("noop", "boto3")


@dataclass
class EnvMemory:
    total: Memory
    runtime: Memory  #: the interpreter alone
    kind: str  #: "noop", "boto3" or "parked"


@dataclass
class Row:
    title: str
    kind: str
    envs: list[EnvMemory] = field(default_factory=list)


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def task_mount_root(pid: int) -> str:
    """The source folder (root within its file system) of the mount at /var/task, as the
    process sees it; '' when none."""
    try:
        for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            if fields[4] == "/var/task":
                root = fields[3]
        return root
    except (OSError, UnboundLocalError):
        return ""


def ember_environments(ember_pid: int, kind_by_sha: dict[str, str]) -> list[EnvMemory]:
    found = []
    for pid in children(ember_pid):
        if comm(pid) != "bwrap":
            continue
        tree = descendants(pid)
        runtimes = [p for p in tree if comm(p).startswith("python")]
        if not runtimes:
            continue
        root = task_mount_root(runtimes[0])
        if root.rstrip("/").endswith("task-slot"):
            kind = "parked"
        else:
            kind = next((k for sha, k in kind_by_sha.items() if sha in root), "other")
        found.append(EnvMemory(memory_of(tree), memory_of(runtimes), kind))
    return found


def measure_ember(title: str, env: dict[str, str], functions: int, idle_s: float,
                  settle_s: float) -> tuple[list[Row], Memory, str]:
    rows = {kind: Row(title, kind) for kind in (*HANDLERS, "parked")}
    with Ember(env) as ember:
        ember.start()
        # A runtime's first cold start is what starts parking for it: a warm-up function (other
        # code, so its environment is told apart and left out) goes first.
        ember.create_function("warmup", "warmup")
        ember.client.invoke("warmup")
        time.sleep(settle_s * 3)
        kind_by_sha = {}
        for handler in HANDLERS:
            for i in range(functions):
                ember.create_function(f"{handler}-{i}", handler)
            _, _, body = ember.client.request("GET", f"/2015-03-31/functions/{handler}-0")
            sha_b64 = json.loads(body)["Configuration"]["CodeSha256"]
            kind_by_sha[base64.b64decode(sha_b64).hex()] = handler
        for i in range(functions):
            for handler in HANDLERS:
                ember.client.invoke(f"{handler}-{i}")
                time.sleep(settle_s)  # parking refills between the cold starts
        time.sleep(idle_s)
        for env_memory in ember_environments(ember.pid, kind_by_sha):
            if env_memory.kind in rows:
                rows[env_memory.kind].envs.append(env_memory)
        server = memory_of([ember.pid])
        level = ember.sandbox_level
    return [row for row in rows.values() if row.envs], server, level


BOOTSTRAP_IMPORTS = "decimal, http.client, importlib, json, logging, math, os, re, site, socket, sys, time, traceback"


def bare_interpreter(imports: str | None) -> Memory:
    """For scale: the runtime's interpreter (real binary, -s as Ember starts it) idle, with nothing
    imported or with what Ember's bootstrap imports; no sandbox."""
    code = (f"import {imports}; " if imports else "") + "import sys; sys.stdin.read()"
    process = subprocess.Popen([os.path.realpath(sys.executable), "-s", "-c", code], stdin=subprocess.PIPE)
    try:
        time.sleep(1.5)
        return memory_of([process.pid])
    finally:
        process.communicate(b"", timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", type=int, default=5, help="functions (so environments) of each kind")
    parser.add_argument("--runtime-python", metavar="PATH",
                        help="also run Ember (parking on) with EMBER_PYTHON3_11=PATH, e.g. /usr/bin/python3.11")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds idle before reading")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds between cold starts (lot refill)")
    args = parser.parse_args()
    configs = EMBER_CONFIGS + ([(f"Ember, parking on, runtime {args.runtime_python}",
                                 {"EMBER_PYTHON3_11": args.runtime_python})] if args.runtime_python else [])

    print(machine_line(), flush=True)
    rows: list[Row] = []
    servers: list[list[str]] = []
    level = "?"
    for title, env in configs:
        config_rows, server, level = measure_ember(title, env, args.functions, args.idle, args.settle)
        rows += config_rows
        servers.append([f"{title}: the `ember serve` process itself", mib(server.uss_kb), mib(server.pss_kb),
                        mib(server.rss_kb)])
    baseline_rows = []
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as tmp:
        for kind in ("floor", "ff", "spawn"):
            for handler in HANDLERS if kind != "spawn" else ("noop",):
                server = baseline(kind, handler, Path(tmp)).start()
                try:
                    server.wait_ready()
                    time.sleep(args.idle)
                    memory = memory_of(descendants(server.pid))
                finally:
                    server.stop()
                label = HANDLER_TITLES[handler] if kind != "spawn" else "(front server only)"
                baseline_rows.append([f"{BASELINE_TITLES[kind]}", label, 1, mib(memory.uss_kb), "", mib(memory.pss_kb),
                                      mib(memory.rss_kb), "", "", len(memory.pids), "", ""])

    interpreter = os.path.realpath(sys.executable)
    for label, imports in ((f"{interpreter} -s alone, idle, no sandbox", None),
                           (f"{interpreter} -s + Ember bootstrap's imports, no sandbox", BOOTSTRAP_IMPORTS)):
        memory = bare_interpreter(imports)
        baseline_rows.append([f"for scale: {label}", "-", 1, mib(memory.uss_kb), "", mib(memory.pss_kb),
                              mib(memory.rss_kb), "", "", 1, "", ""])

    table = []
    for row in rows:
        uss = statistics.median(e.total.uss_kb for e in row.envs)
        runtime_uss = statistics.median(e.runtime.uss_kb for e in row.envs)
        is_noop = row.kind == "noop"
        low, high = min(e.total.uss_kb for e in row.envs), max(e.total.uss_kb for e in row.envs)
        table.append([row.title, HANDLER_TITLES.get(row.kind, "parked (no function yet)"), len(row.envs),
                      mib(uss), f"{mib(low)}–{mib(high)}",
                      mib(statistics.median(e.total.pss_kb for e in row.envs)),
                      mib(statistics.median(e.total.rss_kb for e in row.envs)), mib(runtime_uss),
                      mib(uss - runtime_uss), len(row.envs[0].total.pids),
                      f"<= {TARGET_USS_MB:.0f}" if is_noop else "",
                      verdict(uss / 1024, TARGET_USS_MB, "MB") if is_noop else ""])
    print_table(f"Memory per idle environment (MB = MiB; Ember sandbox level: {level})",
                ["target", "function", "n", "USS p50", "USS range", "PSS p50", "RSS p50", "runtime USS", "bwrap USS",
                 "processes", "target USS", "verdict"],
                table + baseline_rows,
                ["USS = Private_Clean + Private_Dirty, summed over the environment's processes (bwrap, its init, "
                 "the interpreter); 'runtime USS' is the interpreter alone, 'bwrap USS' the two bwrap processes",
                 "baselines: one server process tree keeping the same handler warm (n = 1)"])
    print_table("For scale: the Ember server process (idle, after the above)", ["process", "USS", "PSS", "RSS"],
                servers)


if __name__ == "__main__":
    sys.exit(main())
