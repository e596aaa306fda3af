"""Warm invoke latency at 1 client: p50/p90/p99 of a no-op function's invoke, client-observed,
on one keep-alive connection (http.client), against Ember and its baselines.

Every target runs at once; the invokes go in rounds that alternate between targets, so a
drift in the machine's speed hits all of them alike. Ember's function runs at two memory
sizes: 1769 MB (one vCPU's worth of CPU, as on Lambda) and 128 MB (the default, which buys
0.072 vCPU: the cgroup's CPU quota shows in the tail).

Usage: .venv/bin/python bench/warm_latency.py [--invokes 4000] [--rounds 8] [--spawn-invokes 60]
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import tempfile
from pathlib import Path

from _common import Client, ForeignCpu, machine_line, median, ms, pct, print_table, running_targets, verdict

TARGET_OVER_FLOOR_S = 0.0005
DURATION_RE = re.compile(r"\tDuration: ([0-9.]+) ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invokes", type=int, default=4000, help="timed invokes per target (spawn: see below)")
    parser.add_argument("--spawn-invokes", type=int, default=60, help="timed invokes for the process-per-invoke runner")
    parser.add_argument("--warmup", type=int, default=300, help="untimed invokes per target first")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--report-invokes", type=int, default=500,
                        help="extra Ember invokes with LogType=Tail, to read REPORT Duration")
    parser.add_argument("--memory", type=int, nargs="+", default=[1769, 128], help="Ember MemorySize(s), MB")
    parser.add_argument("--quiet-timeout", type=float, default=120.0)
    args = parser.parse_args()

    print(machine_line())
    print(f"warm latency: 1 client (http.client, keep-alive), {args.invokes} invokes per target in {args.rounds} "
          f"alternating rounds after {args.warmup} warm-up invokes; unpinned", flush=True)
    with ForeignCpu() as foreign, tempfile.TemporaryDirectory(prefix="bench-warm-") as tmp, \
            running_targets(Path(tmp), "noop", tuple(args.memory)) as targets:
        foreign.wait_quiet(timeout_s=args.quiet_timeout)
        start = len(foreign.samples)
        clients = {t.title: Client(t.port) for t in targets}
        samples: dict[str, list[float]] = {t.title: [] for t in targets}
        for t in targets:
            for _ in range(args.warmup if t.kind != "spawn" else 3):
                clients[t.title].invoke(t.function)
        for _ in range(args.rounds):
            for t in targets:
                n = (args.spawn_invokes if t.kind == "spawn" else args.invokes) // args.rounds
                client = clients[t.title]
                samples[t.title] += [client.invoke(t.function) for _ in range(n)]
        # Where Ember's time goes: its REPORT line's Duration is the environment's part (from handing
        # the invocation to the runtime to its result); the rest is the edge and the HTTP hop.
        durations: dict[str, list[float]] = {}
        for t in targets:
            if t.kind == "ember":
                for _ in range(args.report_invokes):
                    _, headers = clients[t.title].invoke_with_headers(t.function, headers={"X-Amz-Log-Type": "Tail"})
                    log = base64.b64decode(headers.get("x-amz-log-result", "")).decode(errors="replace")
                    if match := DURATION_RE.search(log):
                        durations.setdefault(t.title, []).append(float(match.group(1)) / 1000)
        for client in clients.values():
            client.close()
        noise = foreign.summary(start)

    floor = next(t for t in targets if t.kind == "floor")
    floor_p50 = median(samples[floor.title])
    rows = []
    for t in targets:
        xs = samples[t.title]
        over = median(xs) - floor_p50
        is_ember = t.kind == "ember"
        rows.append([t.title, len(xs), ms(median(xs), 3), ms(pct(xs, 90), 3), ms(pct(xs, 99), 3),
                     ms(sum(xs) / len(xs), 3), f"{1 / median(xs):.0f}",
                     ms(median(durations[t.title]), 3) if t.title in durations else "-",
                     ms(over, 3) if t is not floor else "-",
                     f"<= {TARGET_OVER_FLOOR_S * 1000}" if is_ember else "",
                     verdict(over * 1000, TARGET_OVER_FLOOR_S * 1000, "ms") if is_ember else ""])
    print_table("Warm invoke latency at 1 client, no-op function (ms)",
                ["target", "n", "p50", "p90", "p99", "mean", "invokes/s (1/p50)", "REPORT Duration p50",
                 "p50 over floor", "target over floor", "verdict"],
                rows,
                ["client-observed, one keep-alive HTTP/1.1 connection (Python http.client: its own cost, ~0.1 ms, "
                 "is in every row alike)",
                 "process per invoke: a new interpreter per invoke, so its 'warm' invoke is a cold one",
                 "REPORT Duration: Ember's own measure of the environment's part of an invoke (invocation handed to "
                 "the runtime → its result in), median of a separate pass with LogType=Tail; the rest of p50 is "
                 "outside the environment (edge HTTP, Lambda API parsing and serialising, scheduling, collecting the "
                 "invocation's output)",
                 noise])


if __name__ == "__main__":
    sys.exit(main())
