"""Throughput at 32 concurrent clients: invokes/s of a no-op function, Ember against its
baselines, with the same load generator for every target: wrk (one thread, 32 keep-alive
connections, a Lua script for the POST), installed from Debian when running as root and missing.

wrk, the server and (for Ember) 32 execution environments share the machine's vCPUs
(unpinned). Each target gets an untimed warm-up run first (for Ember, 32 Python clients
start the 32 environments before it), then `--seconds` timed, with the CPU the target's
processes used per invoke; the whole sequence runs `--rounds` times, alternating
targets. Ember's function runs at 128 MB (the default) and 512 MB (32 × 1,769 MB would
exceed Ember's memory budget on this machine: EMBER_MEMORY_SHARE × RAM).

Usage: .venv/bin/python bench/throughput.py [--seconds 10] [--rounds 2] [--connections 32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from _common import (
    Ember,
    ForeignCpu,
    Target,
    concurrent_invokes,
    ensure_wrk,
    invoke_path,
    machine_line,
    ms,
    print_table,
    run_wrk,
    running_targets,
    tree_cpu_s,
    verdict,
)

TARGET_RPS = 5000


def environments(target: Target) -> str:
    """Ember's count of execution environments (its health document), else '-'."""
    if not isinstance(target.server, Ember):
        return "-"
    _, _, body = target.server.client.request("GET", "/_ember/health")
    return str(json.loads(body)["environments"])


def statuses(runs: list) -> str:
    total: dict[int, int] = {}
    for run in runs:
        for status, count in run.statuses.items():
            total[status] = total.get(status, 0) + count
    return " ".join(f"{status}:{count}" for status, count in sorted(total.items())) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="timed seconds per target and round")
    parser.add_argument("--warmup-seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--memory", type=int, nargs="+", default=[128, 512], help="Ember MemorySize(s), MB")
    parser.add_argument("--quiet-timeout", type=float, default=120.0)
    args = parser.parse_args()

    print(machine_line())
    wrk = ensure_wrk()
    if wrk is None:
        print_table("Throughput", ["target", "invokes/s"], [["all", "skipped"]],
                    ["wrk is not installed and could not be installed (not root, or no apt-get): "
                     "apt-get install wrk, then run again"])
        return
    print(f"throughput: wrk -t1 -c{args.connections}, POST {{}} keep-alive, {args.warmup_seconds} s warm-up then "
          f"{args.seconds} s timed per target, {args.rounds} alternating rounds; unpinned", flush=True)
    results: dict[str, list] = {}
    envs: dict[str, list[str]] = {}
    cpu: dict[str, list[tuple[float, float]]] = {}
    with ForeignCpu() as foreign, tempfile.TemporaryDirectory(prefix="bench-tput-") as tmp, \
            running_targets(Path(tmp), "noop", tuple(args.memory)) as targets:
        foreign.wait_quiet(timeout_s=args.quiet_timeout)
        start = len(foreign.samples)
        for _ in range(args.rounds):
            for t in targets:
                path = invoke_path(t.function)
                if t.kind == "ember":
                    # Start the environments with clients that never abandon a request: wrk closes its
                    # connections mid-request when its time is up, and an invoke abandoned during a
                    # cold start costs its environment.
                    concurrent_invokes(t.port, t.function, args.connections, 20)
                run_wrk(wrk, t.port, path, args.connections, args.warmup_seconds)
                before = environments(t)
                cpu_before = tree_cpu_s(t.server.pid)
                result = run_wrk(wrk, t.port, path, args.connections, args.seconds)
                cpu_after = tree_cpu_s(t.server.pid)
                results.setdefault(t.title, []).append(result)
                envs.setdefault(t.title, []).append(f"{before}→{environments(t)}")
                cpu.setdefault(t.title, []).append(tuple((after - start) / max(1, result.requests) for start, after
                                                         in zip(cpu_before, cpu_after, strict=True)))
        noise = foreign.summary(start)

    rows = []
    for t in targets:
        runs = results[t.title]
        rps = statistics.median(r.requests_per_s for r in runs)
        is_ember = t.kind == "ember"
        rows.append([t.title, f"{rps:.0f}", " / ".join(f"{r.requests_per_s:.0f}" for r in runs),
                     ms(statistics.median(r.p50_s for r in runs)), ms(statistics.median(r.p99_s for r in runs)),
                     sum(r.requests for r in runs), statuses(runs), sum(r.socket_errors for r in runs),
                     ", ".join(envs[t.title]) if is_ember else "-",
                     f"{statistics.median(c[0] for c in cpu[t.title]) * 1e6:.0f}",
                     f"{statistics.median(c[1] for c in cpu[t.title]) * 1e6:.0f}" if t.kind != "spawn" else "-",
                     f">= {TARGET_RPS}" if is_ember else "",
                     verdict(rps, TARGET_RPS, "invokes/s", higher_is_better=True) if is_ember else ""])
    print_table(f"Throughput at {args.connections} concurrent clients, no-op function",
                ["target", "invokes/s (median)", "per round", "latency p50 ms", "p99 ms", "requests", "statuses",
                 "socket errors", "environments", "server CPU µs/invoke", "children CPU µs/invoke", "target",
                 "verdict"],
                rows,
                [f"load generator: wrk -t1 -c{args.connections} --latency with a Lua POST script, the same for every "
                 "target; latency percentiles are wrk's",
                 "statuses: HTTP statuses of the timed runs' responses (429 = throttled); environments: Ember's count "
                 "before → after each timed run",
                 "CPU per invoke during the timed runs: the server process itself, and its child processes (Ember: "
                 "the environments' bwrap and runtime processes; functions-framework: the gunicorn worker); the "
                 "process-per-invoke runner's children exit before they can be counted",
                 noise])


if __name__ == "__main__":
    sys.exit(main())
