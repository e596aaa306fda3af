"""Deployment packages: checking a zip as Lambda does, and unpacking it safely.

Lambda refuses a zip over 50 MB, or one that unpacks to over 250 MB. Ember also refuses
entries that would land outside the package root (zip-slip, absolute paths) and
symlinks that point outside it, since an unpacked package is read from the host.
"""

from __future__ import annotations

import errno
import io
import lzma
import os
import posixpath
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ember.errors import InvalidParameterValueException, RequestEntityTooLargeException

MAX_ZIPPED_BYTES = 52_428_800
MAX_UNZIPPED_BYTES = 262_144_000

UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."
#: what zipfile and its decompressors raise on damaged data (a bad CRC, a truncated stream...)
_CORRUPT_DATA = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, ValueError)
#: errors writing an entry that come from the package itself (clashing names, symlink loops...)
_PACKAGE_FAULTS = frozenset({errno.EEXIST, errno.EISDIR, errno.ENOTDIR, errno.ENOENT, errno.ELOOP,
                             errno.ENAMETOOLONG})
_COMPRESSIONS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


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
        total = 0
        for entry in entries:
            _check_entry_name(entry)
            _check_entry_path(entry.filename)
            _check_readable(entry)
            total += entry.file_size
            if _is_symlink(entry):
                _check_symlink(entry.filename, _link_target(archive, entry))
    except _CORRUPT_DATA:
        raise InvalidParameterValueException(UNZIP_FAILED) from None
    if total > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValueException(f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes")
    return PackageInfo(unzipped_bytes=total, entry_count=len(entries))


def _is_symlink(entry: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(entry.external_attr >> 16)


def _link_target(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> str:
    # surrogateescape: the check and os.symlink see the same text, whatever bytes it holds.
    return archive.read(entry).decode("utf-8", errors="surrogateescape")


def _check_readable(entry: zipfile.ZipInfo) -> None:
    # zipfile would raise RuntimeError/NotImplementedError for these only once unpacking started.
    if entry.flag_bits & 0x1:
        raise InvalidParameterValueException(
            f"Could not unzip uploaded file: the entry '{entry.filename}' is encrypted. "
            "Upload a zip without a password."
        )
    if entry.compress_type not in _COMPRESSIONS:
        raise InvalidParameterValueException(
            f"Could not unzip uploaded file: the entry '{entry.filename}' uses an unsupported compression "
            f"method ({entry.compress_type}). Use deflate, the zip tool's default."
        )


def _check_entry_name(entry: zipfile.ZipInfo) -> None:
    # An entry must name a file or folder inside the package: not nothing, and not the root itself.
    if not entry.filename:
        raise InvalidParameterValueException(
            "Could not unzip uploaded file: an entry of the zip has an empty name. "
            "Please check your file, then try to upload again."
        )
    if not entry.is_dir() and posixpath.normpath(entry.filename.replace("\\", "/")) == ".":
        raise InvalidParameterValueException(
            f"Could not unzip uploaded file: the entry '{entry.filename}' names the package root, not a file. "
            "Please check your file, then try to upload again."
        )


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
        raise _symlink_outside(name, target)


def _symlink_outside(name: str, target: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"Could not unzip uploaded file: the symlink '{name}' points to '{target}', outside the package. "
        "Symlinks may only point inside the package."
    )


def unpack(data: bytes, destination: Path) -> None:
    """Unpack a checked zip into `destination` (created atomically; no-op if it exists).

    check_zip judges paths as text; symlinks can still make text lie (`a/up` → `..`, then
    `a/up/l` → `../..` reads as inside but is not), so in a package with symlinks every write
    is checked against the real, resolved path, and every symlink once all are in place. A
    package without symlinks (nearly all) cannot make text lie: only plain folders and files
    land in a fresh staging folder, so those checks (an lstat per path component, twice per
    entry: most of the time a 100k-file package took) are skipped.
    """
    if destination.is_dir():
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=".unpacking-"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            has_symlinks = any(_is_symlink(entry) for entry in entries)
            made: set[str] = {str(staging)}  # folders known to exist: one mkdir per folder, not per file
            for entry in entries:
                _unpack_entry(archive, entry, str(staging), made, has_symlinks)
        if has_symlinks:
            _check_symlinks_resolve_inside(staging)
        os.chmod(staging, 0o755)
        os.replace(staging, destination)
    except _CORRUPT_DATA:
        # check_zip reads only the directory: a bad CRC or a broken stream shows up here.
        shutil.rmtree(staging, ignore_errors=True)
        raise InvalidParameterValueException(UNZIP_FAILED) from None
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not destination.is_dir():  # else a concurrent upload of the same zip won the rename
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # whatever failed, no half-unpacked folder stays
        raise


def _unpack_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, root: str, made: set[str],
                  has_symlinks: bool) -> None:
    _check_entry_name(entry)  # cheap, and unpack must never trust its caller to have run check_zip
    _check_entry_path(entry.filename)
    target = os.path.join(root, posixpath.normpath(entry.filename.replace("\\", "/")))
    try:
        if entry.is_dir():
            if has_symlinks:
                _check_inside(root, target, entry.filename)
            _make_folder(target, made, has_symlinks)
        else:
            parent = os.path.dirname(target)
            if has_symlinks:
                _check_inside(root, parent, entry.filename)
            _make_folder(parent, made, has_symlinks)
            if has_symlinks and os.path.islink(target):
                os.unlink(target)  # a later entry of the same name replaces it; never write through it
            if _is_symlink(entry):
                os.symlink(_link_target(archive, entry), target)
                return
            with archive.open(entry) as source:
                _copy_out(source, target)
    except OSError as exc:
        if exc.errno not in _PACKAGE_FAULTS:
            raise  # the host's fault (a full disk...), not the package's
        raise InvalidParameterValueException(
            f"Could not unzip uploaded file: the entry '{entry.filename}' cannot be written ({exc.strerror}). "
            "Check the zip for a file and a folder of the same name, or a name that is too long."
        ) from None
    mode = (entry.external_attr >> 16) & 0o777
    # Zips made on Windows carry no mode: make files readable (and keep exec bits).
    os.chmod(target, (mode | 0o444) if mode else 0o644)


def _make_folder(path: str, made: set[str], has_symlinks: bool) -> None:
    if path in made:
        return
    os.makedirs(path, exist_ok=True)
    if not has_symlinks:  # with symlinks a folder's path may come to mean another place: check each time
        made.add(path)


def _copy_out(source: IO[bytes], target: str) -> None:
    # os.open/os.write, not open(): a package may hold 100k small files, and Python's buffered
    # file objects cost as much again as creating the file.
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        while True:
            try:
                chunk = source.read(1 << 20)
            except OSError:  # bz2 reports a damaged stream as OSError: the package's fault, not the disk's
                raise zipfile.BadZipFile("damaged compressed data") from None
            if not chunk:
                return
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _check_inside(root: str, path: str, name: str) -> None:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise InvalidParameterValueException(
            f"Could not unzip uploaded file: the entry '{name}' would be written outside the package root "
            "through a symlink. Symlinks may only point inside the package."
        )


def _check_symlinks_resolve_inside(root: Path) -> None:
    real_root = os.path.realpath(root)
    for folder, dirs, files in os.walk(root):  # os.walk does not descend into symlinked folders
        for name in (*dirs, *files):
            path = os.path.join(folder, name)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if real != real_root and not real.startswith(real_root + os.sep):
                    relative = os.path.relpath(path, root)
                    raise _symlink_outside(relative, os.readlink(path))
