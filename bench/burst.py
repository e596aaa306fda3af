"""A burst from zero: 100 concurrent invokes of a function that sleeps 0.5 s, sent at once to a
function with no execution environment; the time until all have answered, and how many were
throttled (429) or failed.

Ember: a fresh `ember serve` per repeat (so nothing of an earlier burst is left), whose
parking lot is first filled by one invoke of another function of the same runtime and a
pause (a server that has been running a while is in that state); then the burst hits a
new function. Once with parking on (default) and once off (and once more on another
interpreter with --runtime-python). For scale, the same number of bare bubblewrap sandboxes
(Ember's namespaces, no Ember) each starting the interpreter, all at once.
Baselines (already started, idle): the floor runs each call in a thread pool (256 threads;
a blocking handler would otherwise run them one after another), functions-framework with
its defaults (gunicorn, 1 worker, 4 threads per CPU), and a new process per invoke.

The client: 100 threads, each with its own connection opened first, released together.

Usage: .venv/bin/python bench/burst.py [--concurrency 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import (
    BASELINE_TITLES,
    Ember,
    ForeignCpu,
    Outcome,
    baseline,
    concurrent_invokes,
    machine_line,
    ms,
    pct,
    print_table,
    verdict,
)

TARGET_S = 1.5
REFERENCE_TITLE = "for scale: bare bwrap sandboxes + interpreter start, no Ember, no sleep"
EMBER_CONFIGS = [("Ember, parking on (default: 2 per runtime)", {}),
                 ("Ember, parking off", {"EMBER_PARKED_PER_RUNTIME": "0"})]


def summarise(released: float, outcomes: list[Outcome]) -> dict:
    latencies = [o.ended - o.started for o in outcomes]
    ok = [o for o in outcomes if o.status == 200 and b"errorType" not in o.body]
    failed = [o for o in outcomes if o not in ok and o.status != 429]
    return {
        "total": max(o.ended for o in outcomes) - released,
        "ok": len(ok),
        "throttled": sum(1 for o in outcomes if o.status == 429),
        "failed": len(failed),
        "p50": statistics.median(latencies),
        "max": max(latencies),
        "first_failure": failed[0].body[:200] if failed else b"",
    }


def burst_ember(env: dict[str, str], concurrency: int, settle_s: float) -> tuple[dict, str]:
    with Ember(env) as ember:
        ember.start()
        ember.create_function("warmup", "noop")
        ember.create_function("burst", "sleep", timeout_s=30)
        ember.client.invoke("warmup")
        time.sleep(settle_s)
        released, outcomes = concurrent_invokes(ember.port, "burst", concurrency)
        return summarise(released, outcomes), ember.sandbox_level


def bwrap_reference(concurrency: int) -> dict | None:
    """For scale, no Ember: `concurrency` bare bubblewrap sandboxes at once, with the namespaces
    of Ember's isolated level, each starting the runtime's interpreter and importing what Ember's
    bootstrap imports, then exiting. No cgroup, /tmp disk, uid, seccomp or Runtime API."""
    if shutil.which("bwrap") is None:
        return None
    lang = Path(os.path.realpath(sys.executable)).parent.parent
    argv = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--die-with-parent",
            "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "sbin", "lib", "lib64"):
        target = Path("/") / link
        if target.is_symlink():
            argv += ["--symlink", str(target.readlink()), f"/{link}"]
        elif target.is_dir():
            argv += ["--ro-bind", str(target), f"/{link}"]
    argv += ["--ro-bind", str(lang), "/var/lang", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
             f"/var/lang/bin/{Path(os.path.realpath(sys.executable)).name}", "-s", "-u", "-c",
             "import decimal, http.client, importlib, json, logging, math, os, re, site, socket, sys, time, traceback"]
    env = {"PATH": "/usr/bin:/bin", "LD_LIBRARY_PATH": "/var/lang/lib"}

    async def one() -> tuple[int, float]:
        process = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                       stderr=asyncio.subprocess.DEVNULL)
        return await process.wait(), time.perf_counter()

    async def burst() -> tuple[float, list[tuple[int, float]]]:
        started = time.perf_counter()
        return started, await asyncio.gather(*(one() for _ in range(concurrency)))

    started, results = asyncio.run(burst())
    failed = sum(1 for code, _ in results if code != 0)
    ends = [end - started for _, end in results]
    return {"total": max(ends), "ok": concurrency - failed, "throttled": 0, "failed": failed,
            "p50": statistics.median(ends), "max": max(ends), "first_failure": b""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds for Ember's parking lot to fill")
    parser.add_argument("--runtime-python", metavar="PATH",
                        help="also run Ember (parking on) with EMBER_PYTHON3_11=PATH, e.g. /usr/bin/python3.11")
    parser.add_argument("--quiet-timeout", type=float, default=120.0)
    args = parser.parse_args()
    configs = EMBER_CONFIGS + ([(f"Ember, parking on, runtime {args.runtime_python}",
                                 {"EMBER_PYTHON3_11": args.runtime_python})] if args.runtime_python else [])

    print(machine_line())
    print(f"burst: {args.concurrency} concurrent invokes of a 0.5 s sleep, from zero environments, {args.repeats} "
          "repeats per target; client: one thread and connection per invoke, released together", flush=True)
    results: dict[str, list[dict]] = {}
    level = "?"
    with ForeignCpu() as foreign, tempfile.TemporaryDirectory(prefix="bench-burst-") as tmp:
        foreign.wait_quiet(timeout_s=args.quiet_timeout)
        start = len(foreign.samples)
        servers = {kind: baseline(kind, "sleep", Path(tmp), threaded=kind == "floor").start()
                   for kind in ("floor", "ff", "spawn")}
        try:
            for server in servers.values():
                server.wait_ready()
            for _ in range(args.repeats):
                for title, env in configs:
                    result, level = burst_ember(env, args.concurrency, args.settle)
                    results.setdefault(title, []).append(result)
                for kind, server in servers.items():
                    released, outcomes = concurrent_invokes(server.port, "bench", args.concurrency)
                    results.setdefault(BASELINE_TITLES[kind], []).append(summarise(released, outcomes))
                    time.sleep(1)
                reference = bwrap_reference(args.concurrency)
                if reference is not None:
                    results.setdefault(REFERENCE_TITLE, []).append(reference)
        finally:
            for server in servers.values():
                server.stop()
        noise = foreign.summary(start)

    rows = []
    for title, runs in results.items():
        total = statistics.median(r["total"] for r in runs)
        throttled = sum(r["throttled"] for r in runs)
        is_target = title == EMBER_CONFIGS[0][0]
        meets = total <= TARGET_S and throttled == 0 and all(r["failed"] == 0 for r in runs)
        rows.append([title, ms(total, 0), " / ".join(ms(r["total"], 0) for r in runs),
                     " / ".join(str(r["ok"]) for r in runs), " / ".join(str(r["throttled"]) for r in runs),
                     " / ".join(str(r["failed"]) for r in runs), ms(statistics.median(r["p50"] for r in runs), 0),
                     ms(pct([r["max"] for r in runs], 100), 0),
                     f"<= {TARGET_S * 1000:.0f}, 0 throttled" if is_target else "",
                     ("met" if meets else verdict(total * 1000, TARGET_S * 1000, "ms")
                      + (f"; {throttled} throttled" if throttled else "")) if is_target else ""])
        for r in runs:
            if r["first_failure"]:
                print(f"{title}: first failure: {r['first_failure']!r}")
    print_table(f"Burst of {args.concurrency} concurrent invokes × 0.5 s sleep from zero environments "
                f"(ms; Ember sandbox level: {level})",
                ["target", "all done p50", "per repeat", "ok", "throttled (429)", "failed", "invoke p50", "invoke max",
                 "target", "verdict"],
                rows,
                ["all done = from releasing the 100 requests together to the last answer",
                 "for scale: as many bubblewrap sandboxes (Ember's namespaces) started at once, each running the "
                 "interpreter to import what Ember's bootstrap imports and exit; no server, cgroup, /tmp disk or "
                 "0.5 s sleep: a floor for any design that starts one sandboxed interpreter per environment",
                 "ok / throttled / failed: per repeat, out of the burst's invokes",
                 noise])


if __name__ == "__main__":
    sys.exit(main())
