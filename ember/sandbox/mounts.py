"""mount(2) for handing code to parked environments, through shared-subtree propagation.

A parked environment binds an empty "slot" folder at /var/task (and /opt). The slot is a
shared mount on the host, so the sandbox's copy of it is its slave: a mount the host
later places on the slot appears inside the running sandbox. The code is bound read-only
on a private staging folder first and then moved onto the slot, because a read-only
remount does not propagate while a moved mount keeps its flags.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_PRIVATE = 1 << 18
MS_SHARED = 1 << 20
MNT_DETACH = 0x2

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, flags: int) -> None:
    if _libc.mount(source.encode() if source else None, target.encode(), None, flags, None) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"mount {source} on {target}: {os.strerror(error)}")


#: folders a slot shows until its code arrives: glibc's loader marks an LD_LIBRARY_PATH entry
#: it once found missing as missing for the life of the process, so /opt/lib and
#: /var/task/lib must exist from the start for libraries the code brings later to load
SLOT_SKELETON = ("lib", "bin")


def make_slot(path: Path) -> None:
    """A shared mount point at `path` (an empty folder), ready to receive code later."""
    for folder in SLOT_SKELETON:
        (path / folder).mkdir(parents=True, exist_ok=True)
    _mount(str(path), str(path), MS_BIND)
    _mount(None, str(path), MS_SHARED)


def fill_slot(source: Path, slot: Path, staging: Path) -> None:
    """Show `source` read-only at `slot`, and so in every sandbox that binds the slot."""
    staging.mkdir(parents=True, exist_ok=True)
    _mount(str(source), str(staging), MS_BIND)
    _mount(None, str(staging), MS_BIND | MS_REMOUNT | MS_RDONLY)
    _mount(None, str(staging), MS_PRIVATE)
    _mount(str(staging), str(slot), MS_MOVE)


def release(path: Path) -> None:
    """Detach every mount stacked on `path`. Idempotent."""
    # os.path.ismount cannot see a bind mount from the same file system: unmount until refused.
    for _ in range(4):
        if _libc.umount2(str(path).encode(), MNT_DETACH) != 0:
            return
