"""Ember's data disk: is it full, and the AWS-shaped error for when it is.

A full data disk must not break Ember: writes that would add data are refused with
`DataDiskFull` (AWS's ServiceException, 500, saying what to do), writes that free space
(deleting functions, versions, layer versions) keep working, and /_ember/health reports
"degraded" with the reason. So that a delete can still commit on a disk filled to the last
block, a small reserve file is kept in the data dir while there is room, and given up to
the first delete that finds the disk full (`SQLiteThread.run(frees_space=True)`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from pathlib import Path

from ember.errors import ServiceException

#: below this much free space the data disk counts as full: adding data is refused
MIN_FREE_BYTES = 32 * 1024 * 1024
#: kept allocated in the data dir for deletes to commit on a full disk
RESERVE_BYTES = 8 * 1024 * 1024
RESERVE_NAME = ".disk-reserve"
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class DataDiskFull(ServiceException):
    """ServiceException (500): Ember's data disk has no room for what was asked."""

    def __init__(self, data_dir: Path, what: str = "") -> None:
        free_mb = free_bytes(data_dir) // (1024 * 1024)
        super().__init__(
            f"Ember's data disk is full ({free_mb} MB free in {data_dir}){what}. Delete unused functions, "
            "versions or layer versions, or free space on that disk, then try again."
        )


def free_bytes(path: Path) -> int:
    """Space an unprivileged writer may still use on the file system holding `path`."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return 0
    return stats.f_bavail * stats.f_frsize


def is_full_error(exc: BaseException) -> bool:
    """Did this OS or SQLite error come from a full disk (or a spent quota)?"""
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    return isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def release_reserve(data_dir: Path) -> bool:
    """Give the reserve's space back to the disk (for a delete); False if there was none."""
    try:
        (data_dir / RESERVE_NAME).unlink()
    except FileNotFoundError:
        return False
    return True


class DiskHealth:
    """Watches one data dir's disk; `check_room` before adding data, `reason` for health."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.reserve_path = data_dir / RESERVE_NAME

    def reason(self) -> str | None:
        """Why the data disk is degraded, or None while it has room. Keeps the reserve."""
        free = free_bytes(self.data_dir)
        if free < MIN_FREE_BYTES:
            return (f"Ember's data disk is full: {free // (1024 * 1024)} MB free in {self.data_dir} (needs "
                    f"{MIN_FREE_BYTES // (1024 * 1024)} MB). Delete unused functions, versions or layer versions, "
                    "or free space on that disk.")
        if not self.reserve_path.exists() and free >= MIN_FREE_BYTES + RESERVE_BYTES:
            self._make_reserve()
        return None

    def check_room(self, what: str = "") -> None:
        """Raise DataDiskFull when the data disk is too full to add data."""
        if self.reason() is not None:
            raise DataDiskFull(self.data_dir, what)

    def _make_reserve(self) -> None:
        # Allocated (not sparse): its blocks are really free for a delete once it is removed.
        try:
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        except OSError:
            with contextlib.suppress(OSError):
                self.reserve_path.unlink()  # no room after all: no half reserve
        finally:
            os.close(fd)
