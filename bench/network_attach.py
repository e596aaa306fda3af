"""What giving one environment its network costs, apart from everything else a cold start does:
`FunctionNetwork.attach` (the user-mode stack and the firewall together) on fresh `unshare -n`
namespaces, and its parts: slirp4netns alone, the firewall through libnftables in a thread that
joined the namespace (the isolated level), and the same rules through `nsenter nft` (what the
rootless level must do). Run as root.

Usage: .venv/bin/python bench/network_attach.py [--samples 15]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _common import machine_line, print_table

from ember.egress import reach_of_mode
from ember.sandbox import firewall, slirp
from ember.sandbox.function_network import FunctionNetwork


async def timed(samples: int, step: Callable[[int, Path], Awaitable[Callable[[], Awaitable[None]]]]) -> list[float]:
    """Seconds `step` took on `samples` fresh namespaces; it returns how to undo itself."""
    seconds = []
    work = Path(tempfile.mkdtemp(prefix="bench-net-"))
    for _ in range(samples):
        namespace = subprocess.Popen(["unshare", "-n", "sleep", "60"])
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        undo = await step(namespace.pid, work)
        seconds.append(time.perf_counter() - started)
        await undo()
        namespace.kill()
        namespace.wait()
    return seconds


async def main(samples: int) -> None:
    network = FunctionNetwork("outbound")
    reach = reach_of_mode("outbound")
    script = network._ruleset(reach)

    async def nothing() -> None:
        pass

    async def attach(pid: int, work: Path) -> Callable[[], Awaitable[None]]:
        link = await network.attach(pid, reach, False, work)
        assert link is not None
        return link.close

    async def stack(pid: int, work: Path) -> Callable[[], Awaitable[None]]:
        started = await slirp.Slirp.start(pid, False, None, network.stack_open_files, work / "slirp.log")
        return started.stop

    async def in_process(pid: int, work: Path) -> Callable[[], Awaitable[None]]:
        await firewall.apply(pid, script, None, replaces=False)
        return nothing

    async def through_nsenter(pid: int, work: Path) -> Callable[[], Awaitable[None]]:
        error = await firewall._run_nft_in(pid, script, None)
        assert error is None, error
        return nothing

    rows = []
    for title, step in (("attach: stack and firewall together", attach), ("slirp4netns alone", stack),
                        ("firewall, libnftables in the namespace (isolated)", in_process),
                        ("firewall, nsenter nft (rootless)", through_nsenter)):
        seconds = await timed(samples, step)
        rows.append([title, samples, f"{statistics.median(seconds) * 1000:.2f}", f"{max(seconds) * 1000:.2f}"])
    print_table("network of one environment (ms)", ["step", "n", "median", "max"], rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=15)
    arguments = parser.parse_args()
    print(machine_line())
    asyncio.run(main(arguments.samples))
