"""Tests for ember.code.package: checking deployment zips as Lambda does, and unpacking them safely."""

from __future__ import annotations

import io
import os
import stat
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from ember.code.package import MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES, check_zip, unpack
from ember.errors import InvalidParameterValueException, RequestEntityTooLargeException

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes and symlinks")

UNZIP_FAILED = "Could not unzip uploaded file. Please check your file, then try to upload again."


def build_zip(entries: list[tuple[str, bytes | str, int]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of (name, content, mode) entries; mode carries the file type (S_IFREG, S_IFLNK, S_IFDIR)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = mode << 16
            if stat.S_ISDIR(mode):
                info.external_attr |= 0x10  # MS-DOS directory flag, as zip tools set it
            info.compress_type = compression
            archive.writestr(info, content)
    return buffer.getvalue()


def regular(name: str, content: bytes | str = "x", mode: int = 0o644) -> tuple[str, bytes | str, int]:
    return name, content, stat.S_IFREG | mode


def symlink(name: str, target: str) -> tuple[str, bytes | str, int]:
    return name, target, stat.S_IFLNK | 0o777


def refused(data: bytes) -> str:
    with pytest.raises(InvalidParameterValueException) as caught:
        check_zip(data)
    assert caught.value.status_code == 400
    return caught.value.message


def refused_on_unpack(data: bytes, destination: Path) -> str:
    check_zip(data)  # the text-only check lets it through...
    with pytest.raises(InvalidParameterValueException) as caught:
        unpack(data, destination)  # ...unpacking does not
    assert not destination.exists()
    assert [p.name for p in destination.parent.iterdir() if p.name.startswith(".unpacking-")] == []
    return caught.value.message


# ---- check_zip ----------------------------------------------------------------------------------------------

def test_a_good_zip_reports_its_unzipped_size_and_entry_count() -> None:
    data = build_zip([regular("index.py", "a" * 100), regular("lib/util.py", "b" * 50),
                      symlink("alias.py", "index.py")])

    info = check_zip(data)

    assert info.unzipped_bytes == 100 + 50 + len("index.py")
    assert info.entry_count == 3


def test_not_a_zip_is_refused_with_aws_wording() -> None:
    assert refused(b"this is not a zip file at all") == UNZIP_FAILED
    assert refused(b"") == UNZIP_FAILED
    assert refused(build_zip([regular("a.py")])[:40]) == UNZIP_FAILED  # truncated


@pytest.mark.parametrize("name", ["../evil.py", "a/../../evil.py", "..", "a/b/../../../evil.py", "..\\evil.py"])
def test_entries_escaping_the_root_are_refused(name: str) -> None:
    message = refused(build_zip([regular("index.py"), regular(name)]))
    assert f"the entry '{name}' would be written outside the package root" in message
    assert "Use paths relative to the root of the zip" in message


@pytest.mark.parametrize("name", ["/etc/evil", "\\windows\\evil", "C:/evil.py"])
def test_absolute_entries_are_refused(name: str) -> None:
    assert "would be written outside the package root" in refused(build_zip([regular(name)]))


@pytest.mark.parametrize("target", ["../../etc/passwd", "/etc/passwd", "..", "sub/../../x"])
def test_symlinks_pointing_outside_are_refused(target: str) -> None:
    message = refused(build_zip([regular("index.py"), symlink("link", target)]))
    assert f"the symlink 'link' points to '{target}', outside the package" in message


def test_a_nested_symlink_may_point_up_inside_the_package() -> None:
    info = check_zip(build_zip([regular("shared.py"), symlink("pkg/sub/shared.py", "../../shared.py")]))
    assert info.entry_count == 2
    assert "outside the package" in refused(build_zip([symlink("pkg/sub/x.py", "../../../shared.py")]))


def test_a_dotdot_inside_a_name_is_not_an_escape() -> None:
    data = build_zip([regular("a/../index.py"), regular("..hidden.py"), regular("x..y/z.py")])
    assert check_zip(data).entry_count == 3


def test_zipped_size_limit_is_checked_before_anything_else() -> None:
    with pytest.raises(RequestEntityTooLargeException) as caught:
        check_zip(b"\0" * (MAX_ZIPPED_BYTES + 1))
    assert caught.value.status_code == 413
    assert caught.value.message == "Zipped size must be smaller than 52428800 bytes"


def test_unzipped_size_limit_counts_every_entry() -> None:
    # Two entries of just over half the limit each: neither alone is too big, together they are.
    half = MAX_UNZIPPED_BYTES // 2 + 1
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ("a.bin", "b.bin"):
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w") as sink:
                chunk = bytes(1 << 20)
                written = 0
                while written < half:
                    piece = chunk[: min(len(chunk), half - written)]
                    sink.write(piece)
                    written += len(piece)
    data = buffer.getvalue()
    assert len(data) < 2 * 1024 * 1024  # zeros compress well: the zip itself is small

    assert refused(data) == "Unzipped size must be smaller than 262144000 bytes"


def test_just_under_the_unzipped_limit_is_accepted() -> None:
    # The directory's declared sizes are what is summed; a stored zip of one 1 MB entry is accepted.
    assert check_zip(build_zip([regular("a.bin", bytes(1 << 20))])).unzipped_bytes == 1 << 20


def test_encrypted_entries_are_refused_with_a_hint() -> None:
    data = bytearray(build_zip([regular("index.py", "x")], zipfile.ZIP_STORED))
    # Set the "encrypted" flag bit in the local header and the central directory.
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    data[local + 6] |= 0x1
    data[central + 8] |= 0x1
    message = refused(bytes(data))
    assert "the entry 'index.py' is encrypted" in message
    assert "without a password" in message


# ---- unpack --------------------------------------------------------------------------------------------------

def test_unpack_writes_files_dirs_and_keeps_exec_bits(tmp_path: Path) -> None:
    data = build_zip([
        ("bin/", b"", stat.S_IFDIR | 0o755),
        regular("bin/tool", "#!/bin/sh\necho hi\n", mode=0o755),
        regular("index.py", "print('x')\n", mode=0o600),
        regular("data/table.csv", "a,b\n", mode=0o640),
    ])
    destination = tmp_path / "unpacked" / "digest"

    unpack(data, destination)

    assert (destination / "bin" / "tool").read_text() == "#!/bin/sh\necho hi\n"
    assert os.access(destination / "bin" / "tool", os.X_OK)
    assert stat.S_IMODE((destination / "bin" / "tool").stat().st_mode) == 0o755
    # Owner-only files are made readable (the runtime may run as another user); no exec bit appears.
    assert stat.S_IMODE((destination / "index.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((destination / "data" / "table.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE(destination.stat().st_mode) == 0o755


def test_unpack_gives_modeless_entries_0644(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("index.py")
        info.create_system = 0  # made on Windows: no Unix mode
        info.external_attr = 0
        archive.writestr(info, "x")
    destination = tmp_path / "out"

    unpack(buffer.getvalue(), destination)

    assert stat.S_IMODE((destination / "index.py").stat().st_mode) == 0o644


def test_unpack_keeps_symlinks_inside_the_package(tmp_path: Path) -> None:
    data = build_zip([regular("lib/real.py", "VALUE = 1\n"), symlink("alias.py", "lib/real.py"),
                      symlink("lib/again.py", "../alias.py")])
    destination = tmp_path / "out"

    unpack(data, destination)

    assert os.readlink(destination / "alias.py") == "lib/real.py"
    assert (destination / "lib" / "again.py").read_text() == "VALUE = 1\n"


def test_unpack_is_a_no_op_when_the_destination_exists(tmp_path: Path) -> None:
    destination = tmp_path / "out"
    unpack(build_zip([regular("a.py", "first")]), destination)

    unpack(build_zip([regular("a.py", "second")]), destination)  # content-addressed: same digest, same bytes

    assert (destination / "a.py").read_text() == "first"


def test_unpack_refuses_writing_through_a_symlink_that_reads_as_inside(tmp_path: Path) -> None:
    # `a/up` → `..` is the root; `a/up/l` → `../..` reads as the root too but is two levels above it.
    data = build_zip([regular("index.py"), symlink("a/up", ".."), symlink("a/up/l", "../.."),
                      regular("a/up/l/PWNED.txt", "escaped")])
    destination = tmp_path / "deep" / "unpacked" / "digest"

    message = refused_on_unpack(data, destination)

    assert "the entry 'a/up/l/PWNED.txt' would be written outside the package root through a symlink" in message
    assert list(tmp_path.rglob("PWNED.txt")) == []


def test_unpack_refuses_a_symlink_that_resolves_outside_through_another(tmp_path: Path) -> None:
    # No file is written through it, but the link left behind would point two levels up.
    data = build_zip([regular("index.py"), symlink("a/up", ".."), symlink("a/up/l", "../..")])
    destination = tmp_path / "deep" / "unpacked" / "digest"

    message = refused_on_unpack(data, destination)

    assert "outside the package" in message


def test_unpack_refuses_a_link_made_dangerous_by_a_later_link(tmp_path: Path) -> None:
    # `l` → `d/x/..` is inside while d/x does not exist; once d/x → `..` it is above the root.
    data = build_zip([symlink("l", "d/x/.."), symlink("d/x", "..")])
    destination = tmp_path / "deep" / "unpacked" / "digest"

    assert "the symlink 'l' points to 'd/x/..', outside the package" in refused_on_unpack(data, destination)


def test_unpack_replaces_rather_than_follows_a_symlink_of_the_same_name(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate name: it is the point
        data = build_zip([regular("real.py", "original"), symlink("same.py", "real.py"), regular("same.py", "new")])
    destination = tmp_path / "out"

    unpack(data, destination)

    assert (destination / "real.py").read_text() == "original"
    assert not (destination / "same.py").is_symlink()
    assert (destination / "same.py").read_text() == "new"


def test_a_file_and_a_folder_of_the_same_name_are_refused(tmp_path: Path) -> None:
    data = build_zip([regular("pkg", "I am a file"), regular("pkg/module.py")])
    message = refused_on_unpack(data, tmp_path / "out")
    assert "the entry 'pkg/module.py' cannot be written" in message


def test_a_damaged_entry_is_refused_on_unpack_and_leaves_nothing(tmp_path: Path) -> None:
    data = build_zip([regular("index.py", "def handler(event, context):  # AAAA\n")], zipfile.ZIP_STORED)
    damaged = data.replace(b"AAAA", b"BBBB")  # the CRC no longer matches

    assert refused_on_unpack(damaged, tmp_path / "out") == UNZIP_FAILED


def test_a_damaged_deflate_stream_is_refused(tmp_path: Path) -> None:
    payload = os.urandom(4096)
    data = bytearray(build_zip([regular("blob.bin", payload)]))
    header = data.find(b"PK\x03\x04")
    start = header + 30 + len("blob.bin")
    data[start: start + 64] = b"\xff" * 64

    assert refused_on_unpack(bytes(data), tmp_path / "out") == UNZIP_FAILED


def test_a_symlink_in_a_damaged_zip_is_refused_by_check_zip() -> None:
    data = build_zip([symlink("link", "target-AAAA")], zipfile.ZIP_STORED)
    assert refused(data.replace(b"AAAA", b"BBBB")) == UNZIP_FAILED


def test_an_entry_with_an_empty_name_is_refused_and_unpack_leaves_nothing(tmp_path: Path) -> None:
    data = build_zip([regular("index.py"), regular("")])

    assert refused(data) == ("Could not unzip uploaded file: an entry of the zip has an empty name. "
                             "Please check your file, then try to upload again.")
    with pytest.raises(InvalidParameterValueException):  # unpack alone refuses it too, leaving no staging
        unpack(data, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_a_file_entry_naming_the_package_root_is_refused() -> None:
    for name in (".", "a/.."):
        assert refused(build_zip([regular(name)])).startswith(f"Could not unzip uploaded file: the entry '{name}'")


def test_a_package_without_symlinks_keeps_its_folders_files_and_modes(tmp_path: Path) -> None:
    data = build_zip([regular("index.py", "a", 0o644), regular("bin/tool", "b", 0o755),
                      ("lib/", b"", stat.S_IFDIR | 0o755), regular("lib/deep/x.py", "c"),
                      regular("win.txt", "d", 0)])
    check_zip(data)
    unpack(data, tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "lib" / "deep" / "x.py").read_text() == "c"
    assert stat.S_IMODE((out / "bin" / "tool").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "win.txt").stat().st_mode) == 0o644  # no mode in the zip: readable
