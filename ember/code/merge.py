"""A function's layers merged into one folder, mounted as its /opt.

Lambda extracts a function's layers into /opt in order, a later layer's files replacing an
earlier one's. Ember builds that merge once per list of layers, from their unpacked trees, with
hard links rather than copies, and keys the folder by the list so functions sharing their
layers share it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path


def merged_layers_dir(unpacked_root: Path, digests: list[str]) -> Path:
    """Where the merge of these layers (in this order) lives; see `merge_layers`."""
    key = hashlib.sha256("\n".join(digests).encode()).hexdigest()[:32]
    return unpacked_root / f"opt-{key}"


def merge_layers(unpacked_root: Path, digests: list[str]) -> Path:
    """One folder holding the unpacked layers `digests` merged in order, later ones overriding
    earlier ones, as Lambda extracts them into /opt. Built once (hard links, not copies)."""
    destination = merged_layers_dir(unpacked_root, digests)
    if destination.is_dir():
        return destination
    staging = Path(tempfile.mkdtemp(dir=unpacked_root, prefix=".merging-"))
    try:
        for digest in digests:
            _overlay(unpacked_root / digest, staging)
        os.chmod(staging, 0o755)
        os.replace(staging, destination)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not destination.is_dir():  # else a concurrent merge of the same layers won the rename
            raise
    return destination


def _overlay(source: Path, target: Path) -> None:
    for folder, dirs, files in os.walk(source):
        relative = os.path.relpath(folder, source)
        into = target / relative if relative != "." else target
        for name in dirs:
            path = into / name
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                path.unlink()
            if os.path.islink(os.path.join(folder, name)):
                os.symlink(os.readlink(os.path.join(folder, name)), path)
            else:
                path.mkdir(exist_ok=True)
        for name in files:
            origin = os.path.join(folder, name)
            path = into / name
            if path.is_symlink() or path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
            if os.path.islink(origin):
                os.symlink(os.readlink(origin), path)
            else:
                try:
                    os.link(origin, path)
                except OSError:
                    shutil.copy2(origin, path)
