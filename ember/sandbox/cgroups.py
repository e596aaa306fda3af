"""cgroups for execution environments: memory, CPU, pids limits, peak memory, OOM and kill.

Two drivers behind one interface, chosen by what the host mounts:
- v2 (`/sys/fs/cgroup/cgroup.controllers` lists memory, cpu and pids): one group per
  environment under `/sys/fs/cgroup/ember/`; `memory.max`, `memory.peak`,
  `memory.events`, `cpu.max`, `pids.max`, `cgroup.kill`.
- v1 (`/sys/fs/cgroup/memory` etc. mounted): one group per controller; the freezer
  stops the tree so a kill catches processes that are forking.

Known kernel behaviour this module answers to:
- v1 `memory.failcnt` stays 0 on OOM: only `oom_kill` in `memory.oom_control` counts.
- A hybrid host may mount cgroup2 at /sys/fs/cgroup/unified with no controllers: v1 is used.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from abc import ABC, abstractmethod
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
GROUP_NAME = "ember"
CPU_PERIOD_US = 100_000
V1_CONTROLLERS = ("memory", "cpu", "pids", "freezer")


class Cgroup(ABC):
    """One environment's group."""

    @abstractmethod
    def attach(self, pid: int) -> None:
        """Move `pid` (and so its future children) into the group."""

    @abstractmethod
    def raise_memory_limit(self, memory_mb: int) -> None:
        """Allow the group `memory_mb` (no swap); only ever raised, for a parked environment."""

    @abstractmethod
    def set_cpu_limit(self, cpus: float | None) -> None:
        """Cap the group at `cpus` CPUs' worth of time per period; None lifts the cap."""

    @abstractmethod
    def peak_memory_bytes(self) -> int:
        """The most memory the group has been charged, as the kernel recorded it."""

    @abstractmethod
    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer has ended in this group."""

    @abstractmethod
    def pids(self) -> list[int]:
        """The processes in the group now."""

    @abstractmethod
    def set_frozen(self, is_frozen: bool) -> None:
        """Stop every process of the group where it stands (True), or let them run on (False)."""

    @abstractmethod
    def kill(self) -> None:
        """SIGKILL every process in the group, forkers included."""

    @abstractmethod
    def remove(self) -> None:
        """Delete the group (after kill). Idempotent."""


class CgroupDriver(ABC):
    version: int

    @abstractmethod
    def create(self, name: str, memory_mb: int, pids_max: int) -> Cgroup:
        """A new group limited to `memory_mb` (no swap) and `pids_max` processes/threads."""

    @abstractmethod
    def existing(self) -> list[Cgroup]:
        """Groups this Ember instance left behind (after a crash), to kill and remove."""

    @abstractmethod
    def parent_paths(self) -> list[Path]:
        """The instance's own folders, which hold its groups."""

    def remove_groups(self) -> None:
        """Kill and remove every group of the instance (what a server that died left)."""
        for group in self.existing():
            group.kill()
            group.remove()

    def remove_all(self) -> None:
        """remove_groups, then the instance's own folders (idempotent)."""
        self.remove_groups()
        for path in self.parent_paths():
            _rmdir(path)

    def remove_idle(self) -> None:
        """Remove the instance's groups that hold no process, and its folders if that empties them."""
        for group in self.existing():
            if not group.pids():
                group.remove()
        for path in self.parent_paths():
            with contextlib.suppress(OSError):  # not empty: a group there still runs something
                path.rmdir()


def instance_names() -> set[str]:
    """The instances that have folders under Ember's cgroup folder (live or left behind)."""
    for top in (ROOT / GROUP_NAME, ROOT / "memory" / GROUP_NAME):
        if top.is_dir() and (top.parent / "cgroup.procs").exists():
            return {path.name for path in top.iterdir() if path.is_dir()}
    return set()


def detect_driver(instance: str = "probe") -> tuple[CgroupDriver | None, str]:
    """The driver this host supports and a note on it, or None and why not.

    Groups live under `ember/<instance>/`, so Ember servers with different data dirs on one
    host never touch each other's environments.
    """
    if os.geteuid() != 0:
        return None, "cgroups are not writable without root"
    controllers_file = ROOT / "cgroup.controllers"
    if controllers_file.exists():
        controllers = controllers_file.read_text().split()
        missing = {"memory", "cpu", "pids"} - set(controllers)
        if missing:
            return None, f"cgroup v2 lacks the controllers: {', '.join(sorted(missing))}"
        try:
            return V2Driver(instance), "cgroup v2"
        except OSError as exc:
            return None, f"cannot create {ROOT / GROUP_NAME}: {exc}"
    if all((ROOT / controller).is_dir() for controller in V1_CONTROLLERS):
        try:
            return V1Driver(instance), "cgroup v1"
        except OSError as exc:
            return None, f"cannot create ember cgroups under {ROOT}: {exc}"
    return None, "no cgroup hierarchy with memory, cpu and pids controllers is mounted"


def _write(path: Path, value: str | int) -> None:
    with open(path, "w") as handle:
        handle.write(str(value))


def _read_keyed(path: Path) -> dict[str, int]:
    values = {}
    with contextlib.suppress(FileNotFoundError):
        for line in path.read_text().splitlines():
            key, _, number = line.partition(" ")
            if number.strip().isdigit():
                values[key] = int(number)
    return values


def _rmdir(path: Path) -> None:
    # A group whose last process just died can refuse rmdir (EBUSY) for a moment.
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class V1Driver(CgroupDriver):
    version = 1

    def __init__(self, instance: str) -> None:
        self.parents = {c: ROOT / c / GROUP_NAME / instance for c in V1_CONTROLLERS}
        for parent in self.parents.values():
            parent.mkdir(parents=True, exist_ok=True)

    def parent_paths(self) -> list[Path]:
        return list(self.parents.values())

    def existing(self) -> list[Cgroup]:
        if not self.parents["memory"].is_dir():
            return []
        names = [path.name for path in self.parents["memory"].iterdir() if path.is_dir()]
        return [V1Cgroup({c: parent / name for c, parent in self.parents.items()}) for name in names]

    def create(self, name: str, memory_mb: int, pids_max: int) -> Cgroup:
        group = V1Cgroup({c: parent / name for c, parent in self.parents.items()})
        for path in group.paths.values():
            path.mkdir(exist_ok=True)
        memory = group.paths["memory"]
        limit = memory_mb * 1024 * 1024
        _write(memory / "memory.limit_in_bytes", limit)
        if (memory / "memory.memsw.limit_in_bytes").exists():
            _write(memory / "memory.memsw.limit_in_bytes", limit)  # no swapping past the limit
        with contextlib.suppress(OSError):
            _write(memory / "memory.swappiness", 0)
        _write(group.paths["pids"] / "pids.max", pids_max)
        _write(group.paths["cpu"] / "cpu.cfs_period_us", CPU_PERIOD_US)
        return group


class V1Cgroup(Cgroup):
    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths

    def attach(self, pid: int) -> None:
        for path in self.paths.values():
            _write(path / "cgroup.procs", pid)

    def raise_memory_limit(self, memory_mb: int) -> None:
        memory = self.paths["memory"]
        limit = memory_mb * 1024 * 1024
        # The memory limit may never exceed memory+swap: raise that one first.
        if (memory / "memory.memsw.limit_in_bytes").exists():
            _write(memory / "memory.memsw.limit_in_bytes", limit)
        _write(memory / "memory.limit_in_bytes", limit)

    def set_cpu_limit(self, cpus: float | None) -> None:
        quota = -1 if cpus is None else max(1000, int(CPU_PERIOD_US * cpus))
        _write(self.paths["cpu"] / "cpu.cfs_quota_us", quota)

    def peak_memory_bytes(self) -> int:
        try:
            return int((self.paths["memory"] / "memory.max_usage_in_bytes").read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def oom_kills(self) -> int:
        return _read_keyed(self.paths["memory"] / "memory.oom_control").get("oom_kill", 0)

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.paths["pids"] / "cgroup.procs").read_text().split()]
        except FileNotFoundError:
            return []

    def set_frozen(self, is_frozen: bool) -> None:
        with contextlib.suppress(FileNotFoundError):
            _write(self.paths["freezer"] / "freezer.state", "FROZEN" if is_frozen else "THAWED")

    def kill(self) -> None:
        state = self.paths["freezer"] / "freezer.state"
        with contextlib.suppress(FileNotFoundError):
            _write(state, "FROZEN")  # nothing forks while we kill
            for _ in range(100):
                if state.read_text().strip() == "FROZEN":
                    break
                time.sleep(0.001)
        _kill_all(self.pids())
        with contextlib.suppress(FileNotFoundError):
            _write(state, "THAWED")  # SIGKILL is delivered once the tasks run again
        for _ in range(200):
            if not self.pids():
                return
            time.sleep(0.005)

    def remove(self) -> None:
        for path in self.paths.values():
            _rmdir(path)


class V2Driver(CgroupDriver):
    version = 2

    def __init__(self, instance: str) -> None:
        parent = ROOT / GROUP_NAME / instance
        parent.mkdir(parents=True, exist_ok=True)
        # Controllers must be enabled on every level above the environment groups.
        for level in (ROOT, ROOT / GROUP_NAME, parent):
            with contextlib.suppress(OSError):
                _write(level / "cgroup.subtree_control", "+memory +cpu +pids")
        self.parent = parent

    def parent_paths(self) -> list[Path]:
        return [self.parent]

    def existing(self) -> list[Cgroup]:
        if not self.parent.is_dir():
            return []
        return [V2Cgroup(path) for path in self.parent.iterdir() if path.is_dir()]

    def create(self, name: str, memory_mb: int, pids_max: int) -> Cgroup:
        path = self.parent / name
        path.mkdir(exist_ok=True)
        _write(path / "memory.max", memory_mb * 1024 * 1024)
        with contextlib.suppress(FileNotFoundError):
            _write(path / "memory.swap.max", 0)
        _write(path / "pids.max", pids_max)
        return V2Cgroup(path)


class V2Cgroup(Cgroup):
    def __init__(self, path: Path) -> None:
        self.path = path

    def attach(self, pid: int) -> None:
        _write(self.path / "cgroup.procs", pid)

    def raise_memory_limit(self, memory_mb: int) -> None:
        _write(self.path / "memory.max", memory_mb * 1024 * 1024)

    def set_cpu_limit(self, cpus: float | None) -> None:
        value = "max" if cpus is None else str(max(1000, int(CPU_PERIOD_US * cpus)))
        _write(self.path / "cpu.max", f"{value} {CPU_PERIOD_US}")

    def peak_memory_bytes(self) -> int:
        try:
            return int((self.path / "memory.peak").read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def oom_kills(self) -> int:
        return _read_keyed(self.path / "memory.events").get("oom_kill", 0)

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except FileNotFoundError:
            return []

    def set_frozen(self, is_frozen: bool) -> None:
        with contextlib.suppress(FileNotFoundError):
            _write(self.path / "cgroup.freeze", 1 if is_frozen else 0)

    def kill(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            _write(self.path / "cgroup.kill", 1)
        for _ in range(200):
            if not self.pids():
                return
            time.sleep(0.005)

    def remove(self) -> None:
        _rmdir(self.path)
