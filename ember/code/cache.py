"""The code cache: function code and merged layers as folders on this host, made from the blob
store when first asked for.

Environments read code from unpacked folders (`task_dir(digest)`, shown as /var/task) and a
function's layers from one merged folder (`opt_dir(digests)`, shown as /opt). The blob store is
the source of truth; the folders are a cache of it: deleting one (or starting a worker on an
empty disk) only means the next cold start unpacks it again.

Guarantees:

- once: concurrent callers for the same folder wait for one unpack (or merge) and share it;
- atomic: a folder is built under a staging name (`.unpacking-*`, `.merging-*`) and renamed
  into place, so a half-made folder is never returned; what a crash leaves behind carries a
  staging name, which `remove_leftovers_and_list` (at start-up) deletes;
- cheap: a folder on disk is trusted by its name (content-addressed, made atomically), so a
  cold start costs one stat per folder and no hashing; warm invocations never ask. A folder
  deleted by hand, even while the server runs, is made again at the next cold start.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from pathlib import Path

from ember.blobs.base import BlobStore
from ember.code import package
from ember.code.merge import merge_layers, merged_layers_dir

#: names of half-made or half-deleted things in the cache's folder (staging, renames)
STAGING_PREFIXES = (".unpacking-", ".merging-", ".deleting-")


class CodeCache:
    """Unpacked code and merged layers under `root`, made on demand from `blobs` (see the module
    docstring). The blocking methods run in a worker thread; `prepare` is for the event loop."""

    def __init__(self, blobs: BlobStore, root: Path) -> None:
        self.blobs = blobs
        self.root = root
        self._guard = threading.Lock()
        self._building: dict[str, threading.Lock] = {}  # one lock per folder name: makes and removes wait their turn

    # On the event loop ---------------------------------------------------------------------

    async def prepare(self, digest: str, layer_digests: list[str]) -> tuple[Path, Path | None]:
        """The function's code folder and its layers' merged /opt folder (None without layers),
        made in a worker thread only when not there already."""
        task = self.root / digest
        opt = merged_layers_dir(self.root, layer_digests) if layer_digests else None
        if os.path.isdir(task) and (opt is None or os.path.isdir(opt)):
            return task, opt  # the usual case: a stat per folder, no thread
        return await asyncio.to_thread(self._prepare, digest, layer_digests)

    def _prepare(self, digest: str, layer_digests: list[str]) -> tuple[Path, Path | None]:
        return self.task_dir(digest), self.opt_dir(layer_digests)

    # Blocking: in a worker thread -------------------------------------------------------------

    def task_dir(self, digest: str) -> Path:
        """The folder holding the zip `digest` unpacked, unpacking it from the blob store the
        first time. BlobNotFoundError if no such blob is stored."""
        path = self.root / digest
        if not path.is_dir():
            with self._lock_for(digest):
                if not path.is_dir():  # else another caller made it while this one waited
                    package.unpack(self.blobs.read(digest), path)
        return path

    def opt_dir(self, digests: list[str]) -> Path | None:
        """The folder holding the layers `digests` merged in order (a later one's files replacing
        an earlier one's, as Lambda fills /opt), made the first time; None for no layers."""
        if not digests:
            return None
        path = merged_layers_dir(self.root, digests)
        if not path.is_dir():
            with self._lock_for(path.name):
                if not path.is_dir():
                    for digest in digests:
                        self.task_dir(digest)
                    merge_layers(self.root, digests)
        return path

    def warm(self, digest: str, data: bytes) -> Path:
        """Unpack `data` (the blob `digest`, already in hand) now rather than at its first cold
        start. Raises the package's errors (a damaged stream, a symlink leading outside) as
        `package.unpack` does."""
        path = self.root / digest
        with self._lock_for(digest):
            package.unpack(data, path)  # a no-op when the folder is there
        return path

    def remove(self, name: str) -> None:
        """Delete the folder `name` (a digest or a merged opt-* name) if it is there; callers make
        sure nothing reads it. Renamed away first: a crash half-way leaves a staging name, never a
        partial folder under the name a cold start would trust."""
        with self._lock_for(name):
            tree = self.root / name
            if tree.is_dir():
                doomed = tempfile.mkdtemp(dir=self.root, prefix=".deleting-")
                os.replace(tree, os.path.join(doomed, name))
                shutil.rmtree(doomed, ignore_errors=True)

    def remove_leftovers_and_list(self) -> set[str]:
        """At start-up, before any folder is asked for: delete what a crash left half made or half
        deleted, and return the names of the complete folders."""
        names: set[str] = set()
        if not self.root.is_dir():
            return names
        for entry in self.root.iterdir():
            if entry.name.startswith(STAGING_PREFIXES):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            else:
                names.add(entry.name)
        return names

    def _lock_for(self, name: str) -> threading.Lock:
        # One lock per name ever asked for: a few bytes per package this host has run.
        with self._guard:
            return self._building.setdefault(name, threading.Lock())
