"""Giving back the disk that code no longer in use holds: stored zips (data/code), their
unpacked trees and layers' merged /opt folders (the code cache, data/unpacked).

The Store is the source of truth for what is in use (`Store.code_references`). Two users it
cannot see are guarded here:

- a package being stored now and not yet committed (or refused): `pin` it before its blob is
  written and `release` it once the handler is done. A digest being collected cannot be pinned
  until its collection is over (the blob is then written afresh), and a pinned digest is never
  collected.
- a tree a live environment reads (`in_use`): kept until the environment retires; waiting
  trees are tried again every RETRY_INTERVAL_S, and whatever is left over is collected at the
  next start.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from ember.blobs.base import BlobStore
from ember.code.cache import CodeCache
from ember.code.merge import merged_layers_dir
from ember.models import FunctionConfig
from ember.store.base import Store

log = logging.getLogger(__name__)

#: how often trees kept for a live environment are tried again
RETRY_INTERVAL_S = 30.0


def code_names(function: FunctionConfig, unpacked_dir: Path) -> set[str]:
    """What a function (or version) uses on disk: its zip, its layers' zips, their merged /opt."""
    digests = [layer.code.sha256_hex for layer in function.layers]
    names = {function.code.sha256_hex, *digests}
    if digests:
        names.add(merged_layers_dir(unpacked_dir, digests).name)
    return names


class CodeCollector:
    """Deletes blobs and unpacked trees once nothing uses them (see the module docstring)."""

    def __init__(self, store: Store, blobs: BlobStore, cache: CodeCache,
                 in_use: Callable[[], set[Path]]) -> None:
        self.store = store
        self.blobs = blobs
        self.cache = cache
        self.unpacked_dir = cache.root
        self.in_use = in_use
        self._lock = threading.Condition()  # pins come from worker threads (storing a package)
        self._pins: Counter[str] = Counter()
        self._collecting: set[str] = set()
        self._one_at_a_time = asyncio.Lock()  # passes never overlap: each unmarks what it marked
        self._candidates: set[str] = set()  # digests and opt-* names to look at
        self._waiting: set[str] = set()  # unused, but a live environment reads them
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pass: asyncio.Task[None] | None = None
        self._retry: asyncio.TimerHandle | None = None

    # Pins: any thread -------------------------------------------------------------------

    def pin(self, digest: str) -> None:
        """Keep `digest` from being collected until `release`; waits while it is being collected."""
        with self._lock:
            while digest in self._collecting:
                self._lock.wait()
            self._pins[digest] += 1

    def release(self, digest: str) -> None:
        """Undo one `pin`; the digest is collected if no record came to use it (a refused package)."""
        with self._lock:
            self._pins[digest] -= 1
            if self._pins[digest] <= 0:
                del self._pins[digest]
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.consider, [digest])

    # Collection: on the event loop ---------------------------------------------------------

    def consider(self, names: Iterable[str]) -> None:
        """Look at these digests and opt-* names soon, and delete those nothing uses."""
        self._loop = asyncio.get_running_loop()
        self._candidates.update(names)
        if self._candidates and (self._pass is None or self._pass.done()):
            self._pass = asyncio.create_task(self._run())

    def forget_function(self, function: FunctionConfig) -> None:
        """`function` (a $LATEST or a version record) is gone or changed: its code may be unused now."""
        self.consider(code_names(function, self.unpacked_dir))

    async def collect_everything(self) -> None:
        """At start-up: every blob and tree on disk nothing uses, and what a crash left half made."""
        self._loop = asyncio.get_running_loop()
        names = await asyncio.to_thread(self._remove_leftovers_and_list)
        self._candidates.update(names)
        await self._run()

    async def _run(self) -> None:
        while self._candidates:
            names, self._candidates = self._candidates, set()
            try:
                await self._collect(names)
            except Exception:  # e.g. the store closed under a late pass at shutdown: next start collects
                log.warning("collecting unused code failed; the next start tries again", exc_info=True)
                return
        if self._waiting and self._retry is None:
            self._retry = asyncio.get_running_loop().call_later(RETRY_INTERVAL_S, self._try_waiting)

    def _try_waiting(self) -> None:
        self._retry = None
        waiting, self._waiting = self._waiting, set()
        self.consider(waiting)

    async def _collect(self, names: set[str]) -> None:
        async with self._one_at_a_time:
            await self._collect_unused(names)

    async def _collect_unused(self, names: set[str]) -> None:
        with self._lock:
            taken = {name for name in names if name not in self._pins}
            self._collecting |= taken
        try:
            references = await self.store.code_references()
            merged = {merged_layers_dir(self.unpacked_dir, list(layers)).name for layers in references.layer_lists}
            unused = {name for name in taken if name not in references.digests and name not in merged}
            read_now = {path.name for path in self.in_use() if path.parent == self.unpacked_dir}
            self._waiting |= unused & read_now
            if unused - read_now:
                await asyncio.to_thread(self._delete, unused - read_now)
        finally:
            with self._lock:
                self._collecting -= taken
                self._lock.notify_all()

    # Files: in a worker thread --------------------------------------------------------------

    def _delete(self, names: set[str]) -> None:
        freed = 0
        for name in names:
            self.cache.remove(name)
            if not name.startswith("opt-"):
                freed += self.blobs.delete(name)
        log.info("deleted %d unused package(s) and tree(s), %d bytes of zips", len(names), freed)

    def _remove_leftovers_and_list(self) -> set[str]:
        self.blobs.remove_incomplete()
        return set(self.blobs.digests()) | self.cache.remove_leftovers_and_list()
