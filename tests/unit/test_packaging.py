"""Tests for ember.cli.packaging: what goes into a deployment zip, and that it is reproducible."""

from __future__ import annotations

import io
import os
import stat
import sys
import zipfile
from pathlib import Path

import pytest

from ember.cli.packaging import PackagingError, zip_folder

needs_symlinks = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
needs_exec_bit = pytest.mark.skipif(sys.platform == "win32", reason="no POSIX permission bits on Windows")


def write(root: Path, relative_path: str, content: str = "x") -> Path:
    path = root / relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def names_in(zip_bytes: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return archive.namelist()


def read_entry(zip_bytes: bytes, name: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return archive.read(name)


def entry_mode(zip_bytes: bytes, name: str) -> int:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        return archive.getinfo(name).external_attr >> 16


def test_entries_are_sorted_files_with_contents(tmp_path: Path) -> None:
    write(tmp_path, "b.py", "b")
    write(tmp_path, "a/z.py", "z")
    write(tmp_path, "a.txt", "a")
    (tmp_path / "empty").mkdir()

    zip_bytes = zip_folder(tmp_path)

    # Plain code point order: "." sorts before "/".
    assert names_in(zip_bytes) == ["a.txt", "a/z.py", "b.py"]
    assert read_entry(zip_bytes, "a/z.py") == b"z"


def test_entries_are_deflated_with_fixed_timestamps(tmp_path: Path) -> None:
    write(tmp_path, "handler.py", "def handler(event, context):\n    return event\n" * 20)

    with zipfile.ZipFile(io.BytesIO(zip_folder(tmp_path))) as archive:
        info = archive.getinfo("handler.py")
        assert archive.testzip() is None

    assert info.compress_type == zipfile.ZIP_DEFLATED
    assert info.date_time == (1980, 1, 1, 0, 0, 0)


def test_same_folder_gives_same_bytes(tmp_path: Path) -> None:
    write(tmp_path, "app.py", "print('hi')")
    write(tmp_path, "lib/util.py", "X = 1")

    first = zip_folder(tmp_path)
    # Touching files must not change the archive: timestamps are not part of it.
    for path in tmp_path.rglob("*"):
        os.utime(path, (1_700_000_000, 1_700_000_000))
    second = zip_folder(tmp_path)

    assert first == second


def test_folders_with_files_created_in_different_orders_give_same_bytes(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for name in ("a.py", "m/b.py", "z.py"):
        write(one, name, name)
    for name in ("z.py", "m/b.py", "a.py"):
        write(two, name, name)

    assert zip_folder(one) == zip_folder(two)


@needs_exec_bit
def test_executable_bit_is_preserved(tmp_path: Path) -> None:
    script = write(tmp_path, "bootstrap", "#!/bin/sh\n")
    script.chmod(0o750)
    data = write(tmp_path, "data.txt")
    data.chmod(0o600)

    zip_bytes = zip_folder(tmp_path)

    assert entry_mode(zip_bytes, "bootstrap") == stat.S_IFREG | 0o755
    assert entry_mode(zip_bytes, "data.txt") == stat.S_IFREG | 0o644


def test_emberignore_rules_are_applied(tmp_path: Path) -> None:
    write(
        tmp_path,
        ".emberignore",
        "# comments and blank lines are allowed\n\n*.log\n!keep.log\nbuild/\n/secret.txt\n",
    )
    for name in (
        "app.py",
        "debug.log",
        "sub/trace.log",
        "keep.log",
        "build/out.bin",
        "sub/build/out.bin",
        "secret.txt",
        "sub/secret.txt",
    ):
        write(tmp_path, name)
    # A file named like a directory pattern is not a directory, so "build/" leaves it in.
    write(tmp_path, "lib/build")

    assert names_in(zip_folder(tmp_path)) == ["app.py", "keep.log", "lib/build", "sub/secret.txt"]


def test_files_in_an_excluded_folder_cannot_be_reincluded(tmp_path: Path) -> None:
    write(tmp_path, ".emberignore", "vendor/\n!vendor/keep.py\n")
    write(tmp_path, "vendor/keep.py")
    write(tmp_path, "app.py")

    assert names_in(zip_folder(tmp_path)) == ["app.py"]


def test_builtin_exclusions_apply_without_an_ignore_file(tmp_path: Path) -> None:
    for name in ("app.py", "__pycache__/app.cpython-311.pyc", "pkg/__pycache__/x.pyc", "stale.pyc"):
        write(tmp_path, name)
    write(tmp_path, ".git/HEAD", "ref: refs/heads/main\n")
    write(tmp_path, "pkg/.git/config")
    write(tmp_path, ".gitignore")

    assert names_in(zip_folder(tmp_path)) == [".gitignore", "app.py"]


def test_builtin_exclusions_cannot_be_negated(tmp_path: Path) -> None:
    write(tmp_path, ".emberignore", "!*.pyc\n!__pycache__/\n!.emberignore\n!.git/\n")
    write(tmp_path, "stale.pyc")
    write(tmp_path, "__pycache__/mod.pyc")
    write(tmp_path, ".git/HEAD")
    write(tmp_path, "app.py")

    assert names_in(zip_folder(tmp_path)) == ["app.py"]


def test_only_the_root_emberignore_is_special(tmp_path: Path) -> None:
    write(tmp_path, ".emberignore", "")
    write(tmp_path, "sub/.emberignore", "*\n")
    write(tmp_path, "sub/app.py")

    assert names_in(zip_folder(tmp_path)) == ["sub/.emberignore", "sub/app.py"]


def test_zip_file_is_passed_through_unchanged(tmp_path: Path) -> None:
    prebuilt = tmp_path / "function.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "print('prebuilt')")
    prebuilt.write_bytes(buffer.getvalue())

    assert zip_folder(prebuilt) == buffer.getvalue()


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="neither a folder nor a .zip"):
        zip_folder(write(tmp_path, "handler.py"))


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PackagingError, match="does not exist"):
        zip_folder(tmp_path / "nowhere")


@needs_symlinks
def test_symlink_inside_the_folder_is_stored_as_a_file(tmp_path: Path) -> None:
    write(tmp_path, "shared/config.json", '{"a": 1}')
    (tmp_path / "config.json").symlink_to("shared/config.json")
    (tmp_path / "alias").symlink_to("shared", target_is_directory=True)
    warnings: list[str] = []

    zip_bytes = zip_folder(tmp_path, on_warning=warnings.append)

    assert names_in(zip_bytes) == ["alias/config.json", "config.json", "shared/config.json"]
    assert read_entry(zip_bytes, "config.json") == b'{"a": 1}'
    assert entry_mode(zip_bytes, "config.json") == stat.S_IFREG | 0o644
    assert warnings == []


@needs_symlinks
def test_symlink_outside_the_folder_is_skipped_with_a_warning(tmp_path: Path) -> None:
    function_dir = tmp_path / "function"
    write(function_dir, "app.py")
    outside_file = write(tmp_path, "secret.txt")
    (function_dir / "leak.txt").symlink_to(outside_file)
    (function_dir / "leakdir").symlink_to(tmp_path, target_is_directory=True)
    warnings: list[str] = []

    zip_bytes = zip_folder(function_dir, on_warning=warnings.append)

    assert names_in(zip_bytes) == ["app.py"]
    assert len(warnings) == 2
    assert any("leak.txt" in warning and "outside" in warning for warning in warnings)
    assert any("leakdir" in warning and "outside" in warning for warning in warnings)


@needs_symlinks
def test_broken_and_looping_symlinks_are_skipped_with_a_warning(tmp_path: Path) -> None:
    write(tmp_path, "pkg/mod.py")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    (tmp_path / "pkg" / "parent").symlink_to(tmp_path / "pkg", target_is_directory=True)
    warnings: list[str] = []

    zip_bytes = zip_folder(tmp_path, on_warning=warnings.append)

    assert names_in(zip_bytes) == ["pkg/mod.py"]
    assert len(warnings) == 2
    assert any("dangling" in warning for warning in warnings)
    assert any("pkg/parent" in warning and "loop" in warning for warning in warnings)


@needs_symlinks
def test_ignored_symlinks_are_skipped_silently(tmp_path: Path) -> None:
    write(tmp_path, ".emberignore", ".venv/\n")
    write(tmp_path, "app.py")
    (tmp_path / ".venv").symlink_to(tmp_path.parent, target_is_directory=True)
    warnings: list[str] = []

    assert names_in(zip_folder(tmp_path, on_warning=warnings.append)) == ["app.py"]
    assert warnings == []
