"""Cold start: the client-observed first invoke of a new execution environment minus a warm
invoke, for a no-op Python function and for one that imports boto3 and creates a client.

Ember (a real `ember serve`, isolated sandbox level where the host allows it): each sample is
a distinct function created up front and invoked once (cold); once every sample's cold start
is done, each function is invoked `--warm` times more (warm: the median of those is
subtracted) -- not right after its cold start, when the parking lot's refill competes for
CPU. Three servers: parking off (EMBER_PARKED_PER_RUNTIME=0), parking on (the default, 2 per
runtime), and parking on with EMBER_PREIMPORT=boto3, all with the default function network
(outbound: a user-mode stack and a firewall per environment); then parking off and on again
with --function-network none, so the difference is what an environment's network costs its
start. Before each sample the script sleeps `--settle` seconds, so the parking lot has refilled.

Baselines, with the same handler files: for the floor (bare ASGI, in-process) and for
functions-framework a cold start is a new server process: from spawning it to its first
answer (the client retries the connection every 1 ms), minus a warm invoke on that process.
For the process-per-invoke runner every invoke is a cold start: its row shows the invoke's
latency, and its overhead is that minus the floor's warm invoke.

Usage: .venv/bin/python bench/cold_start.py [--samples 20] [--baseline-samples 10] [--settle 1.0]
       .venv/bin/python bench/cold_start.py --network-only   # the four network rows, no baselines
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import (
    BASELINE_TITLES,
    HANDLER_TITLES,
    Client,
    Ember,
    ForeignCpu,
    baseline,
    first_response_after_spawn,
    machine_line,
    median,
    ms,
    pct,
    print_table,
    verdict,
)

HANDLERS = ("noop", "boto3")
#: Ember configurations: (title, environment of `ember serve`)
EMBER_CONFIGS = [
    ("Ember, parking off", {"EMBER_PARKED_PER_RUNTIME": "0"}),
    ("Ember, parking on (default: 2 per runtime)", {}),
    ("Ember, parking on, EMBER_PREIMPORT=boto3", {"EMBER_PREIMPORT": "boto3"}),
    ("Ember, parking off, --function-network none",
     {"EMBER_PARKED_PER_RUNTIME": "0", "EMBER_FUNCTION_NETWORK": "none"}),
    ("Ember, parking on, --function-network none", {"EMBER_FUNCTION_NETWORK": "none"}),
]
#: the rows --network-only runs: outbound (the default) and none, parking off and on
NETWORK_ROWS = (0, 1, 3, 4)
#: (config title, handler) → overhead p50 target in seconds
TARGETS = {(EMBER_CONFIGS[1][0], "noop"): 0.005, (EMBER_CONFIGS[2][0], "boto3"): 0.040}
INIT_RE = re.compile(r"Init Duration: ([0-9.]+) ms")


@dataclass
class Row:
    target: str
    handler: str
    firsts: list[float] = field(default_factory=list)
    warms: list[float] = field(default_factory=list)
    overheads: list[float] = field(default_factory=list)
    inits: list[float] = field(default_factory=list)  #: Ember's REPORT Init Duration, seconds
    errors: list[str] = field(default_factory=list)  #: cold invokes that failed (not in the numbers)


def measure_server_spawn(kind: str, root: Path, samples: int, warm_n: int) -> dict[str, Row]:
    rows = {h: Row(BASELINE_TITLES[kind], h) for h in HANDLERS}
    for _ in range(samples):
        for handler in HANDLERS:  # alternated, so drift in machine speed hits both alike
            server = baseline(kind, handler, root).start()
            try:
                first = first_response_after_spawn(server.port, server.started)
                client = Client(server.port)
                warm = median([client.invoke("bench") for _ in range(warm_n)])
                client.close()
            finally:
                server.stop()
            row = rows[handler]
            row.firsts.append(first)
            row.warms.append(warm)
            row.overheads.append(first - warm)
    return rows


def measure_spawn_runner(root: Path, samples: int, floor_warm: dict[str, float]) -> dict[str, Row]:
    rows = {}
    servers = {h: baseline("spawn", h, root).start() for h in HANDLERS}
    try:
        clients = {}
        for handler, server in servers.items():
            server.wait_ready()
            clients[handler] = Client(server.port)
            clients[handler].invoke("bench")  # the first one also warms the page cache
            rows[handler] = Row(BASELINE_TITLES["spawn"], handler)
        for _ in range(samples):
            for handler in HANDLERS:
                latency = clients[handler].invoke("bench")
                rows[handler].firsts.append(latency)
                rows[handler].overheads.append(latency - floor_warm[handler])
        for client in clients.values():
            client.close()
    finally:
        for server in servers.values():
            server.stop()
    return rows


def measure_ember(env: dict[str, str], title: str, samples: int, warm_n: int,
                  settle_s: float) -> tuple[dict[str, Row], str]:
    rows = {h: Row(title, h) for h in HANDLERS}
    with Ember(env) as ember:
        ember.start()
        for handler in HANDLERS:
            ember.create_function(f"warmup-{handler}", handler)
            for i in range(samples):
                ember.create_function(f"{handler}-{i}", handler)
        # The first cold start of a runtime is what starts parking for it.
        for handler in HANDLERS:
            ember.client.invoke(f"warmup-{handler}")
        time.sleep(max(3.0, 2 * settle_s))
        firsts: dict[str, float] = {}
        for i in range(samples):
            for handler in HANDLERS:
                time.sleep(settle_s)
                name = f"{handler}-{i}"
                row = rows[handler]
                try:
                    first, headers = ember.client.invoke_with_headers(name, headers={"X-Amz-Log-Type": "Tail"})
                except RuntimeError as exc:
                    row.errors.append(str(exc))
                    continue
                firsts[name] = first
                log = base64.b64decode(headers.get("x-amz-log-result", "")).decode(errors="replace")
                if match := INIT_RE.search(log):
                    row.inits.append(float(match.group(1)) / 1000)
        # The warm invokes come in a pass of their own, once nothing is starting: right after a
        # cold start the parking lot is refilling, and that new sandbox's start-up would slow them.
        time.sleep(settle_s)
        for name, first in firsts.items():
            row = rows[name.rsplit("-", 1)[0]]
            warm = median([ember.client.invoke(name) for _ in range(warm_n)])
            row.firsts.append(first)
            row.warms.append(warm)
            row.overheads.append(first - warm)
        level = ember.sandbox_level
    return rows, level


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="cold starts per Ember row (distinct functions)")
    parser.add_argument("--baseline-samples", type=int, default=10, help="cold starts per baseline row")
    parser.add_argument("--warm", type=int, default=5, help="warm invokes after each cold one (median is used)")
    parser.add_argument("--settle", type=float, default=1.0, help="seconds between Ember samples (lot refill)")
    parser.add_argument("--skip-baselines", action="store_true")
    parser.add_argument("--network-only", action="store_true",
                        help="only the rows that compare --function-network outbound (default) with none")
    parser.add_argument("--runtime-python", metavar="PATH",
                        help="also run Ember (parking on) with EMBER_PYTHON3_11=PATH, e.g. /usr/bin/python3.11")
    parser.add_argument("--quiet-timeout", type=float, default=120.0,
                        help="seconds to wait for other processes on the machine to go quiet first")
    args = parser.parse_args()
    configs = EMBER_CONFIGS + ([(f"Ember, parking on, runtime {args.runtime_python}",
                                 {"EMBER_PYTHON3_11": args.runtime_python})] if args.runtime_python else [])
    if args.network_only:
        configs = [EMBER_CONFIGS[index] for index in NETWORK_ROWS]
        args.skip_baselines = True

    print(machine_line())
    print(f"cold start: {args.samples} Ember samples per row (distinct functions, {args.settle} s apart), "
          f"{args.baseline_samples} per baseline row, warm = median of {args.warm}; client: http.client, 1 connection",
          flush=True)
    rows: list[Row] = []
    level = "?"
    with ForeignCpu() as foreign, tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        foreign.wait_quiet(timeout_s=args.quiet_timeout)
        start = len(foreign.samples)
        root = Path(tmp)
        if not args.skip_baselines:
            floor = measure_server_spawn("floor", root, args.baseline_samples, args.warm)
            ff = measure_server_spawn("ff", root, args.baseline_samples, args.warm)
            spawn = measure_spawn_runner(root, args.baseline_samples,
                                         {h: median(floor[h].warms) for h in HANDLERS})
            for table in (floor, ff, spawn):
                rows += table.values()
        targets: dict[int, float] = {}
        for title, env in configs:
            print(f"... {title}", flush=True)
            ember_rows, level = measure_ember(env, title, args.samples, args.warm, args.settle)
            for handler, row in ember_rows.items():
                if (title, handler) in TARGETS:
                    targets[id(row)] = TARGETS[(title, handler)]
                rows.append(row)
        noise = foreign.summary(start)

    for row in rows:
        for error in row.errors:
            print(f"error: {row.target}, {row.handler}: {error}")

    table = []
    for row in sorted(rows, key=lambda r: HANDLERS.index(r.handler)):
        limit = targets.get(id(row))
        o50 = median(row.overheads)
        table.append([row.target, HANDLER_TITLES[row.handler], len(row.firsts), len(row.errors),
                      ms(median(row.firsts), 1), ms(median(row.warms)), ms(o50, 1),
                      ms(pct(row.overheads, 90), 1), ms(pct(row.overheads, 100), 1),
                      ms(median(row.inits), 1) if row.inits else "-",
                      f"<= {limit * 1000:.0f}" if limit else "",
                      verdict(o50 * 1000, limit * 1000, "ms") if limit else ""])
    print_table(
        f"Cold start (ms) — Ember sandbox level: {level}",
        ["target", "function", "n", "failed", "first p50", "warm p50", "overhead p50", "p90", "max",
         "Init Duration p50", "target p50", "verdict"],
        table,
        ["overhead = client-observed first invoke minus the median warm invoke of the same environment (same "
         "connection; for Ember measured after all the cold starts, for the baselines right after the first)",
         "floor / functions-framework: first = spawning the server process until its first answer",
         "process per invoke: every invoke is cold; first = its invoke latency, overhead = that minus the floor's "
         "warm invoke",
         "Init Duration: Ember's REPORT line (server-side, from specialising or starting the environment to the "
         "runtime's first /next)",
         "boto3 function: `import boto3; client = boto3.client('s3', region_name='us-east-1')` at module level",
         noise])


if __name__ == "__main__":
    sys.exit(main())
