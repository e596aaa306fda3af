"""Turning a function's source folder into a deployment zip."""

from __future__ import annotations

import io
import os
import shutil
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

from pathspec import GitIgnoreSpec

IGNORE_FILE_NAME = ".emberignore"

# Excluded whatever .emberignore says: they are never part of a function and a `!` rule in the
# ignore file cannot bring them back.
ALWAYS_EXCLUDED_PATTERNS = (f"/{IGNORE_FILE_NAME}", "__pycache__/", "*.pyc", ".git/")

# The earliest timestamp a zip entry can hold; a fixed value keeps the archive (and so the
# CodeSha256 the server reports) independent of when files were last touched.
FIXED_ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)

# Git only tracks whether a file is executable, so modes are reduced to the same two values: the
# zip of a checkout then does not depend on the umask, and every file stays readable by the
# unprivileged user a function runs as.
EXECUTABLE_FILE_MODE = 0o755
REGULAR_FILE_MODE = 0o644

_UNIX_CREATE_SYSTEM = 3
_COPY_CHUNK_BYTES = 1024 * 1024

WarningCallback = Callable[[str], None]


class PackagingError(Exception):
    """The given path cannot be turned into a deployment zip."""


def zip_folder(path: str | os.PathLike[str], on_warning: WarningCallback | None = None) -> bytes:
    """Return the deployment zip for ``path``.

    A folder is zipped deterministically: entries sorted by name, fixed timestamps, modes reduced
    to 0644/0755, deflate compression. Files matched by the folder's ``.emberignore`` (gitignore
    syntax) or by :data:`ALWAYS_EXCLUDED_PATTERNS` are left out. Symlinks that resolve inside the
    folder are stored as the files they point to; anything else they point at is skipped and
    reported through ``on_warning``. A ``.zip`` file is returned unchanged.
    """
    source = Path(path)
    try:
        return _package(source, on_warning or (lambda message: None))
    except OSError as error:
        raise PackagingError(f"cannot read {error.filename}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise PackagingError(f"{source / IGNORE_FILE_NAME} is not valid UTF-8") from error


def _package(source: Path, warn: WarningCallback) -> bytes:
    if source.is_file():
        if source.suffix.lower() == ".zip":
            return source.read_bytes()
        raise PackagingError(f"{source} is neither a folder nor a .zip file")
    if not source.is_dir():
        raise PackagingError(f"{source} does not exist")
    root = source.resolve()
    files = _collect_files(root, _load_ignore_rule(root), warn)
    return _write_zip(sorted(files.items()))


def _load_ignore_rule(root: Path) -> Callable[[str], bool]:
    """Return a predicate telling whether a root-relative path is excluded.

    Directory paths are passed with a trailing slash so that patterns like ``build/`` apply.
    """
    always_excluded = GitIgnoreSpec.from_lines(ALWAYS_EXCLUDED_PATTERNS)
    ignore_file = root / IGNORE_FILE_NAME
    user_lines = ignore_file.read_text(encoding="utf-8").splitlines() if ignore_file.is_file() else []
    user_excluded = GitIgnoreSpec.from_lines(user_lines)
    return lambda relative_path: (
        always_excluded.match_file(relative_path) or user_excluded.match_file(relative_path)
    )


def _collect_files(root: Path, is_excluded: Callable[[str], bool], warn: WarningCallback) -> dict[str, Path]:
    """Map each archive name under ``root`` to the file whose contents it should hold."""
    files: dict[str, Path] = {}

    def visit(directory: Path, prefix: str, directories_on_path: frozenset[Path]) -> None:
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                archive_name = prefix + entry.name
                location = Path(entry.path)
                if entry.is_symlink():
                    location = Path(os.path.realpath(entry.path))
                    problem = _unfollowable_symlink_problem(location, root)
                    if problem:
                        # Ignored paths are none of the user's concern, so they get no warning.
                        if not (is_excluded(archive_name) or is_excluded(archive_name + "/")):
                            warn(f"skipped {archive_name}: {problem}")
                        continue
                if location.is_dir():
                    # Like git, an excluded directory is never entered, so its files cannot be
                    # re-included by a later `!` rule.
                    if is_excluded(archive_name + "/"):
                        continue
                    if location in directories_on_path:
                        warn(f"skipped {archive_name}: symlink loops back to a parent folder")
                        continue
                    visit(location, archive_name + "/", directories_on_path | {location})
                elif is_excluded(archive_name):
                    continue
                elif location.is_file():
                    files[archive_name] = location
                else:
                    warn(f"skipped {archive_name}: not a regular file")

    visit(root, "", frozenset({root}))
    return files


def _unfollowable_symlink_problem(target: Path, root: Path) -> str | None:
    """Say why a symlink resolving to ``target`` cannot be packaged, or return None if it can."""
    if not target.is_relative_to(root):
        return f"symlink points outside {root}"
    if not target.exists():
        return "broken symlink"
    return None


def _write_zip(entries: list[tuple[str, Path]]) -> bytes:
    """Write ``(archive name, file)`` pairs, in the given order, into an in-memory zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for archive_name, location in entries:
            file_stat = location.stat()
            info = zipfile.ZipInfo(archive_name, date_time=FIXED_ZIP_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            # Pin the creator system so the mode bits mean the same thing whichever OS built the zip.
            info.create_system = _UNIX_CREATE_SYSTEM
            info.external_attr = (stat.S_IFREG | _archive_mode(file_stat.st_mode)) << 16
            force_zip64 = file_stat.st_size >= zipfile.ZIP64_LIMIT
            with location.open("rb") as source, archive.open(info, "w", force_zip64=force_zip64) as target:
                shutil.copyfileobj(source, target, _COPY_CHUNK_BYTES)
    return buffer.getvalue()


def _archive_mode(st_mode: int) -> int:
    """Reduce a file's permission bits to 0755 if anyone may execute it, else 0644."""
    return EXECUTABLE_FILE_MODE if st_mode & 0o111 else REGULAR_FILE_MODE
