"""What the HTTP front door costs: a no-op function called through its function URL (Host form and
path form) against a direct Invoke of the same function, in the same run, on one server.

One client, one keep-alive connection per target, warm environment; the targets alternate in
rounds so a drift in the machine's speed hits them all alike. Besides the client-observed latency,
each round reads the CPU time the server process and its environment used, so the table gives
CPU per request: the figure the front door's target is set in (at most 1.2x a direct Invoke's).

Usage: .venv/bin/python bench/http_front_door.py [--requests 3000] [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import time

from _common import Client, Ember, ForeignCpu, invoke_path, machine_line, median, ms, pct, print_table, tree_cpu_s

FUNCTION = "noop"
TARGET_CPU_RATIO = 1.2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000, help="timed requests per target")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--quiet-timeout", type=float, default=120.0)
    args = parser.parse_args()
    print(machine_line())
    print(f"HTTP front door: 1 client (keep-alive), {args.requests} warm requests to a no-op per target in "
          f"{args.rounds} alternating rounds after {args.warmup} warm-up requests", flush=True)
    ember = Ember().start()
    try:
        ember.create_function(FUNCTION, "noop")
        status, _, body = ember.client.request("POST", f"/2021-10-31/functions/{FUNCTION}/url",
                                               json.dumps({"AuthType": "NONE"}).encode())
        if status != 201:
            raise RuntimeError(f"CreateFunctionUrlConfig answered {status}: {body[:300]!r}")
        url = json.loads(body)["FunctionUrl"]
        host = url.split("//", 1)[1].split("/", 1)[0]
        url_id = host.split(".", 1)[0]
        # (title, method, path, body, headers)
        targets = [
            ("Invoke (direct)", "POST", invoke_path(FUNCTION), b"{}", {}),
            ("function URL, Host form", "GET", "/", None, {"Host": host}),
            ("function URL, path form", "GET", f"/lambda-url/{url_id}/", None, {}),
        ]
        with ForeignCpu() as foreign:
            foreign.wait_quiet(timeout_s=args.quiet_timeout)
            start = len(foreign.samples)
            clients = [Client(ember.port) for _ in targets]
            latencies: list[list[float]] = [[] for _ in targets]
            cpu_s = [0.0 for _ in targets]
            for client, (_, method, path, payload, headers) in zip(clients, targets, strict=True):
                for _ in range(args.warmup):
                    _send(client, method, path, payload, headers)
            per_round = args.requests // args.rounds
            for _ in range(args.rounds):
                for index, (client, (_, method, path, payload, headers)) in enumerate(
                        zip(clients, targets, strict=True)):
                    before = sum(tree_cpu_s(ember.pid))
                    latencies[index] += [_send(client, method, path, payload, headers) for _ in range(per_round)]
                    cpu_s[index] += sum(tree_cpu_s(ember.pid)) - before
            for client in clients:
                client.close()
            noise = foreign.summary(start)
        level = ember.sandbox_level
    finally:
        ember.stop()
    count = per_round * args.rounds
    base_cpu = cpu_s[0] / count
    rows = []
    for index, ((title, *_), xs) in enumerate(zip(targets, latencies, strict=True)):
        cpu_per_request = cpu_s[index] / count
        ratio = cpu_per_request / base_cpu if base_cpu else float("nan")
        verdict = "" if index == 0 else ("met" if ratio <= TARGET_CPU_RATIO else "missed")
        rows.append([title, count, ms(median(xs), 3), ms(pct(xs, 90), 3), f"{cpu_per_request * 1e6:.0f}",
                     f"{ratio:.2f}x", f"<= {TARGET_CPU_RATIO}x" if index else "", verdict])
    print_table(f"warm request through the front door — sandbox level {level}",
                ["target", "requests", "p50 ms", "p90 ms", "server+environment CPU us/request", "CPU vs Invoke",
                 "target", "verdict"], rows,
                [f"foreign CPU during the run: {noise}",
                 "CPU: the server process and its live descendants (the environment), read around each round"])


def _send(client: Client, method: str, path: str, payload: bytes | None, headers: dict[str, str]) -> float:
    started = time.perf_counter()
    status, _, body = client.request(method, path, payload, headers)
    elapsed = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"{method} {path} answered {status}: {body[:300]!r}")
    return elapsed


if __name__ == "__main__":
    main()
