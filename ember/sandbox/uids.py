"""A pool of unprivileged uids, one per live environment, so environments cannot signal
or read each other even where a namespace were missing."""

from __future__ import annotations

FIRST_UID = 20000
POOL_SIZE = 2000


class UidPool:
    def __init__(self, first_uid: int = FIRST_UID, size: int = POOL_SIZE) -> None:
        self._free = list(range(first_uid + size - 1, first_uid - 1, -1))
        self._all = range(first_uid, first_uid + size)

    def all_uids(self) -> range:
        return self._all

    def take(self) -> int:
        if not self._free:
            raise RuntimeError("every sandbox uid is in use")
        return self._free.pop()

    def give_back(self, uid: int) -> None:
        if uid in self._all and uid not in self._free:
            self._free.append(uid)
