"""Deployment packages: checking a zip as Lambda does, and unpacking it safely.

Lambda refuses a zip over 50 MB, or one that unpacks to over 250 MB. Ember also refuses
entries that would land outside the package root (zip-slip, absolute paths) and
symlinks that point outside it, since an unpacked package is read from the host.
"""

from __future__ import annotations

import io
import os
import posixpath
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ember.errors import InvalidParameterValueException, RequestEntityTooLargeException

MAX_ZIPPED_BYTES = 52_428_800
MAX_UNZIPPED_BYTES = 262_144_000


@dataclass(frozen=True)
class PackageInfo:
    unzipped_bytes: int
    entry_count: int


def check_zip(data: bytes) -> PackageInfo:
    """Validate a deployment package without unpacking it; raise AWS's errors."""
    if len(data) > MAX_ZIPPED_BYTES:
        raise RequestEntityTooLargeException(f"Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise InvalidParameterValueException(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from None
    total = 0
    for entry in entries:
        _check_entry_path(entry.filename)
        total += entry.file_size
        if _is_symlink(entry):
            _check_symlink(entry.filename, archive.read(entry).decode("utf-8", errors="replace"))
    if total > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValueException(f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")
    return PackageInfo(unzipped_bytes=total, entry_count=len(entries))


def _is_symlink(entry: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(entry.external_attr >> 16)


def _check_entry_path(name: str) -> None:
    normalised = posixpath.normpath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or normalised.startswith("../") \
            or normalised == "..":
        raise InvalidParameterValueException(
            f"Could not unzip uploaded file: the entry '{name}' would be written outside the package root. "
            "Use paths relative to the root of the zip."
        )


def _check_symlink(name: str, target: str) -> None:
    if target.startswith("/"):
        resolved = ".."
    else:
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise InvalidParameterValueException(
            f"Could not unzip uploaded file: the symlink '{name}' points to '{target}', outside the package. "
            "Symlinks may only point inside the package."
        )


def unpack(data: bytes, destination: Path) -> None:
    """Unpack a checked zip into `destination` (created atomically; no-op if it exists)."""
    if destination.is_dir():
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=".unpacking-"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for entry in archive.infolist():
                _unpack_entry(archive, entry, staging)
        os.chmod(staging, 0o755)
        os.replace(staging, destination)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not destination.is_dir():
            raise


def _unpack_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, root: Path) -> None:
    target = root / posixpath.normpath(entry.filename.replace("\\", "/"))
    if entry.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if _is_symlink(entry):
        os.symlink(archive.read(entry).decode(), target)
        return
    with archive.open(entry) as source, open(target, "wb") as sink:
        shutil.copyfileobj(source, sink, 1 << 20)
    mode = (entry.external_attr >> 16) & 0o777
    # Zips made on Windows carry no mode: make files readable (and keep exec bits).
    os.chmod(target, (mode | 0o444) if mode else 0o644)
