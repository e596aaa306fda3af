"""File descriptors: how many the server may spend on Runtime API connections.

Every Runtime API connection a function opens is a descriptor of Ember's own. A function
that opens thousands (from many child processes) must not leave the server none for its
API, its stores or its new environments. So, at start-up, the soft RLIMIT_NOFILE is raised to
the hard limit, a reserve is kept back from it, and all environments' Runtime API
connections together share what is left (`ConnectionBudget`); each environment also has a
small budget of its own (a runtime and its extensions need a handful).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import resource

log = logging.getLogger(__name__)

#: descriptors kept back for the server's API, stores, pipes and new environments: a quarter
#: of the limit, and never fewer than this
MIN_RESERVED_DESCRIPTORS = 256


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (as far as the kernel allows); the soft
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError) as exc:  # e.g. above fs.nr_open: keep what we have
            log.warning("could not raise the open files limit from %d to %d: %s", soft, wanted, exc)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def runtime_api_connection_budget() -> ConnectionBudget:
    """The budget all environments' Runtime API connections share: the open files limit
    (raised first) minus a reserve for everything else the server opens."""
    limit = raise_open_files_limit()
    reserve = max(MIN_RESERVED_DESCRIPTORS, limit // 4)
    return ConnectionBudget(max(16, limit - reserve))


class ConnectionBudget:
    """A count of connections that may be open at once; `take` waits for room."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_use = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def try_take(self) -> bool:
        if self.in_use >= self.capacity:
            return False
        self.in_use += 1
        return True

    async def take(self) -> None:
        """Take one unit, waiting until one is given back if none is free."""
        while not self.try_take():
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def give_back(self) -> None:
        self.in_use -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
