"""What an Ember server at the isolated level claims on its host, so several share it safely.

Each server holds, for as long as its process lives, an flock on two files in `/run/ember`:

- `instance-<id>.lock` (its data dir's instance id, the name of its cgroups): while it is held,
  the server is alive. A server killed with `kill -9` leaves its environments' cgroups, mounts
  and loop devices behind; the kernel drops its locks, so the next Ember to start on this host,
  whatever its data dir, finds the lock free and cleans up after it.
- `uids-<n>.lock`: block n of sandbox uids, so two servers never run environments as one uid.

Claims and collections happen under `registry.lock`, so two servers starting together never
mistake each other for dead ones. `/run` is emptied at boot, as cgroups and mounts are.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

REGISTRY_DIR = Path("/run/ember")
#: how many servers one host can run at the isolated level at once (one uid block each)
UID_BLOCKS = 32


#: cleans up after a dead server: (its instance, its data dir)
Cleaner = Callable[[str, Path], None]


class ClaimRefused(Exception):
    """The host cannot give this server what it needs; the message says why."""


def _record_path(registry_dir: Path, instance: str) -> Path:
    return registry_dir / f"instance-{instance}.lock"


def _instance_of(record_path: Path) -> str:
    return record_path.name.removeprefix("instance-").removesuffix(".lock")


def _open(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


@contextlib.contextmanager
def _registry_locked(registry_dir: Path) -> Iterator[None]:
    fd = _open(registry_dir / "registry.lock")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _clean_if_free(path: Path, clean: Cleaner) -> bool:
    """With the registry locked: clean up after the server of instance lock `path` if its lock
    is free (it is dead), then forget it; whether it did."""
    fd = _open(path)
    try:
        if not _try_lock(fd):
            return False  # alive
        instance = _instance_of(path)
        try:
            record = json.loads(path.read_text() or "{}")
        except ValueError:
            record = {}
        try:
            clean(instance, Path(record.get("state_dir", "/nonexistent")))
        except Exception:
            log.exception("could not clean up after the Ember server of instance %s", instance)
            return False
        path.unlink(missing_ok=True)
        return True
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class HostClaims:
    """This server's claims (see the module doc), held until `release` or the process ends."""

    def __init__(self, instance: str, state_dir: Path, registry_dir: Path = REGISTRY_DIR,
                 uid_blocks: int = UID_BLOCKS) -> None:
        self.registry_dir = registry_dir
        self.instance = instance
        registry_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fds: list[int] = []
        with _registry_locked(registry_dir):
            self._instance_path = _record_path(registry_dir, instance)
            fd = _open(self._instance_path)
            if not _try_lock(fd):
                os.close(fd)
                raise ClaimRefused(f"another Ember server is running on the data dir {state_dir.resolve()}; "
                                   "stop it first, or give this one another --data-dir")
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"state_dir": str(state_dir.resolve()), "pid": os.getpid()}).encode())
            self._fds.append(fd)
            self.uid_block = self._claim_uid_block(uid_blocks)

    def _claim_uid_block(self, uid_blocks: int) -> int:
        for block in range(uid_blocks):
            fd = _open(self.registry_dir / f"uids-{block}.lock")
            if _try_lock(fd):
                self._fds.append(fd)
                return block
            os.close(fd)
        raise ClaimRefused(f"{uid_blocks} Ember servers already run at the isolated level on this host; "
                           "stop one, or use --sandbox rootless")

    def collect_dead(self, clean: Cleaner) -> list[str]:
        """Call `clean(instance, state_dir)` for each server that died without cleaning up (its
        lock is free), then forget it; the instances cleaned."""
        with _registry_locked(self.registry_dir):
            return [_instance_of(path) for path in sorted(self.registry_dir.glob("instance-*.lock"))
                    if path != self._instance_path and _clean_if_free(path, clean)]

    @staticmethod
    def clean_if_dead(instance: str, clean: Cleaner, registry_dir: Path = REGISTRY_DIR) -> bool:
        """For a server's reaper: clean up after `instance` if its server is dead and no new one
        has taken its data dir (which then cleans up by itself); whether it cleaned."""
        path = _record_path(registry_dir, instance)
        if not path.exists():
            return False
        with _registry_locked(registry_dir):
            return _clean_if_free(path, clean)

    def live_instances(self) -> set[str]:
        """The instances whose servers are alive now (this one included)."""
        alive = {self.instance}
        with _registry_locked(self.registry_dir):
            for path in self.registry_dir.glob("instance-*.lock"):
                fd = _open(path)
                try:
                    if not _try_lock(fd):
                        alive.add(_instance_of(path))
                finally:
                    os.close(fd)
        return alive

    def release(self) -> None:
        """Give the claims up (a clean shutdown); the instance's record goes too."""
        with _registry_locked(self.registry_dir):
            self._instance_path.unlink(missing_ok=True)
            for fd in self._fds:
                os.close(fd)
            self._fds.clear()
