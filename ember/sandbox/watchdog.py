"""A memory and process watchdog for levels without cgroups (rootless, plain).

One task serves every watched environment: each tick it reads /proc once, sums the
resident memory of each environment's process tree, and kills a tree over its memory
or process limit. It is a sampler, so a fast allocation can overshoot between ticks;
the kernel's cgroup accounting (the isolated level) is the exact version of this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

TICK_S = 0.05
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(eq=False)  # watched by identity, kept in a set
class Watch:
    """One environment's tree under watch: its limits and what was seen."""

    root_pid: int
    memory_limit_bytes: int
    max_processes: int
    peak_bytes: int = 0
    is_over_memory: bool = False
    is_over_processes: bool = False
    pids: set[int] = field(default_factory=set)


class TreeWatchdog:
    def __init__(self) -> None:
        self._watches: set[Watch] = set()
        self._task: asyncio.Task[None] | None = None

    def watch(self, root_pid: int, memory_mb: int, max_processes: int) -> Watch:
        watch = Watch(root_pid, memory_mb * 1024 * 1024, max_processes)
        self._watches.add(watch)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        return watch

    def unwatch(self, watch: Watch) -> None:
        self._watches.discard(watch)

    async def _run(self) -> None:
        while self._watches:
            await asyncio.sleep(TICK_S)
            if not self._watches:
                break
            try:
                snapshot = await asyncio.to_thread(_read_processes)
            except OSError:
                continue
            for watch in list(self._watches):
                self._check(watch, snapshot)

    def _check(self, watch: Watch, snapshot: dict[int, tuple[int, int]]) -> None:
        tree = _descendants(watch.root_pid, snapshot)
        watch.pids = tree
        rss = sum(snapshot[pid][1] for pid in tree) * PAGE_BYTES
        watch.peak_bytes = max(watch.peak_bytes, rss)
        if rss > watch.memory_limit_bytes:
            watch.is_over_memory = True
        elif len(tree) > watch.max_processes:
            watch.is_over_processes = True
        else:
            return
        log.info("environment process %d over its %s limit: killing its tree", watch.root_pid,
                 "memory" if watch.is_over_memory else "process")
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self._watches.discard(watch)


def _read_processes() -> dict[int, tuple[int, int]]:
    """pid → (parent pid, resident pages) for every live process."""
    processes: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat_file:
                fields = stat_file.read().rsplit(b")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if fields[0] in (b"Z", b"X"):
            continue
        # After the command name: state, ppid, ... rss is the 24th field of stat (index 21 here).
        processes[int(entry)] = (int(fields[1]), int(fields[21]))
    return processes


def _descendants(root: int, snapshot: dict[int, tuple[int, int]]) -> set[int]:
    if root not in snapshot:
        return set()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in snapshot.items():
        children.setdefault(parent, []).append(pid)
    found = {root}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found
