"""A private /tmp of a given size that is not charged to the function's memory.

tmpfs pages count against the writer's memory cgroup (a 128 MB function writing 110 MB
to a tmpfs /tmp was OOM-killed), while Lambda's /tmp is disk. So as root each
environment gets an ext4 image, loop-mounted: writing past its size is ENOSPC. The image's
space is allocated up front, so an environment the data disk cannot hold is refused at
its start (DataDiskFull) instead of failing Ember's own writes later.

The host's mount is only needed until the environment's mount namespace has bound it
as /tmp; after that it is detached, so a server killed without cleaning up (SIGKILL)
leaves no mount or loop device behind: both go with the namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
from pathlib import Path

from ember.disk_health import DataDiskFull, is_full_error

MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def create(image: Path, mount_point: Path, size_mb: int, owner_uid: int) -> None:
    """Make and mount a `size_mb` ext4 file system at `mount_point`, writable by `owner_uid`."""
    mount_point.mkdir(parents=True, exist_ok=True)
    fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        # Allocated, not sparse: a sparse image let a function fill the data disk by writing to
        # its /tmp. fallocate marks the blocks unwritten without zeroing them (milliseconds).
        os.posix_fallocate(fd, 0, size_mb * 1024 * 1024)
    except OSError as exc:
        image.unlink(missing_ok=True)
        if is_full_error(exc):
            raise DataDiskFull(image.parent.parent.parent,
                               f": there is no room for the {size_mb} MB /tmp (EphemeralStorage) "
                               "of a new execution environment") from exc
        raise
    finally:
        os.close(fd)
    # No journal, no reserved blocks: the function gets the size it paid for. nodiscard: the
    # blocks were just allocated, there is nothing to trim (and trimming would free them).
    subprocess.run(["mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-m", "0", "-E",
                    f"root_owner={owner_uid}:{owner_uid},nodiscard", str(image)],
                   check=True, capture_output=True, timeout=30)
    subprocess.run(["mount", "-o", "loop,nosuid,nodev", str(image), str(mount_point)],
                   check=True, capture_output=True, timeout=30)
    os.chmod(mount_point, 0o1777)


def detach(mount_point: Path) -> None:
    """Lazily unmount the host's view of a /tmp the environment now holds by its own mount.

    The file system stays alive while the namespace does; mount's loop devices clear
    themselves once their last mount is gone. Best effort: destroy() unmounts otherwise.
    """
    _libc.umount2(os.fsencode(mount_point), MNT_DETACH)


def destroy(image: Path, mount_point: Path) -> None:
    """Unmount (lazily, should anything still hold it) and delete the image. Idempotent."""
    if os.path.ismount(mount_point):
        subprocess.run(["umount", "-l", str(mount_point)], check=False, capture_output=True, timeout=30)
    with contextlib.suppress(FileNotFoundError):
        image.unlink()
