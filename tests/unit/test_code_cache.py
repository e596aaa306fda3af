"""CodeCache on a temporary folder: code and merged layers made from the blob store when first
asked for, once for concurrent callers, never seen half made."""

from __future__ import annotations

import asyncio
import io
import shutil
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest

from ember.blobs.base import BlobNotFoundError
from ember.blobs.local import LocalBlobStore
from ember.code.cache import CodeCache
from ember.code.merge import merged_layers_dir
from ember.errors import InvalidParameterValueException

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="hard links and symlinks")


class CountingBlobStore(LocalBlobStore):
    """A local blob store that counts reads, and can be made slow to widen races."""

    def __init__(self, root: Path, read_delay_s: float = 0.0) -> None:
        super().__init__(root)
        self.reads: list[str] = []
        self.read_delay_s = read_delay_s

    def read(self, sha256_hex: str) -> bytes:
        self.reads.append(sha256_hex)
        time.sleep(self.read_delay_s)
        return super().read(sha256_hex)


def make_zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def cache_with(tmp_path: Path, read_delay_s: float = 0.0) -> tuple[CodeCache, CountingBlobStore]:
    blobs = CountingBlobStore(tmp_path / "code", read_delay_s)
    return CodeCache(blobs, tmp_path / "unpacked"), blobs


def test_code_is_unpacked_from_the_blob_store_the_first_time_only(tmp_path: Path) -> None:
    cache, blobs = cache_with(tmp_path)
    digest = blobs.put(make_zip({"index.py": "def handler(e, c): return 1\n", "lib/util.py": "X = 1\n"}))

    first = cache.task_dir(digest)
    again = cache.task_dir(digest)

    assert first == again == tmp_path / "unpacked" / digest
    assert (first / "lib/util.py").read_text() == "X = 1\n"
    assert blobs.reads == [digest]


def test_a_deleted_folder_is_unpacked_again_by_the_next_cache(tmp_path: Path) -> None:
    cache, blobs = cache_with(tmp_path)
    digest = blobs.put(make_zip({"index.py": "one"}))
    cache.task_dir(digest)

    cache.remove(digest)
    assert not (tmp_path / "unpacked" / digest).exists()
    assert (cache.task_dir(digest) / "index.py").read_text() == "one"

    # Removed by hand while no server ran: a new cache (a restart, another worker) makes it again.
    cache.remove(digest)
    fresh = CodeCache(blobs, tmp_path / "unpacked")
    assert (fresh.task_dir(digest) / "index.py").read_text() == "one"


def test_an_existing_folder_is_trusted_without_reading_the_blob(tmp_path: Path) -> None:
    cache, blobs = cache_with(tmp_path)
    digest = blobs.put(make_zip({"index.py": "one"}))
    CodeCache(blobs, tmp_path / "unpacked").task_dir(digest)  # a previous server's
    blobs.reads.clear()

    assert (cache.task_dir(digest) / "index.py").read_text() == "one"
    assert blobs.reads == []


def test_concurrent_callers_share_one_unpack_and_see_only_a_complete_tree(tmp_path: Path) -> None:
    cache, blobs = cache_with(tmp_path, read_delay_s=0.05)
    files = {f"pkg/mod{i}.py": f"N = {i}\n" for i in range(200)}
    digest = blobs.put(make_zip(files))
    start = threading.Barrier(8)
    seen: list[int] = []

    def caller() -> None:
        start.wait()
        seen.append(len(list((cache.task_dir(digest) / "pkg").iterdir())))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert seen == [200] * 8
    assert blobs.reads == [digest]


def test_a_failed_unpack_leaves_neither_the_folder_nor_a_staging_copy(tmp_path: Path) -> None:
    cache, blobs = cache_with(tmp_path)
    digest = blobs.put(b"not a zip at all")

    with pytest.raises(InvalidParameterValueException):
        cache.task_dir(digest)

    assert list((tmp_path / "unpacked").iterdir()) == []
    with pytest.raises(BlobNotFoundError):
        cache.task_dir("0" * 64)


def test_leftovers_of_a_crash_are_removed_at_start_and_complete_folders_listed(tmp_path: Path) -> None:
    cache, blobs = cache_with(tmp_path)
    digest = blobs.put(make_zip({"index.py": "one"}))
    cache.task_dir(digest)
    for leftover in (".unpacking-abc", ".merging-def", ".deleting-ghi"):
        (tmp_path / "unpacked" / leftover / "half").mkdir(parents=True)

    assert cache.remove_leftovers_and_list() == {digest}
    assert [path.name for path in (tmp_path / "unpacked").iterdir()] == [digest]


def test_layers_are_unpacked_and_merged_in_order(tmp_path: Path) -> None:
    cache, blobs = cache_with(tmp_path)
    first = blobs.put(make_zip({"python/shared.py": "first", "python/only_first.py": "1"}))
    second = blobs.put(make_zip({"python/shared.py": "second", "bin/tool": "2"}))

    opt = cache.opt_dir([first, second])

    assert opt == merged_layers_dir(tmp_path / "unpacked", [first, second])
    assert opt is not None and (opt / "python/shared.py").read_text() == "second"
    assert (opt / "python/only_first.py").read_text() == "1"
    assert cache.opt_dir([]) is None
    reads = list(blobs.reads)
    assert cache.opt_dir([first, second]) == opt and blobs.reads == reads

    # The merge does not depend on the layers' own folders staying.
    cache.remove(first)
    assert (opt / "python/only_first.py").read_text() == "1"


def test_warming_at_upload_spares_the_first_cold_start_the_unpack(tmp_path: Path) -> None:
    cache, blobs = cache_with(tmp_path)
    data = make_zip({"index.py": "one"})
    digest = blobs.put(data)

    cache.warm(digest, data)

    assert (cache.task_dir(digest) / "index.py").read_text() == "one"
    assert blobs.reads == []


def test_prepare_makes_what_is_missing_and_only_that(tmp_path: Path) -> None:
    cache, blobs = cache_with(tmp_path)
    code = blobs.put(make_zip({"index.py": "one"}))
    layer = blobs.put(make_zip({"python/lib.py": "two"}))

    async def main() -> None:
        task, opt = await cache.prepare(code, [layer])
        assert (task / "index.py").read_text() == "one"
        assert opt is not None and (opt / "python/lib.py").read_text() == "two"
        assert await cache.prepare(code, []) == (task, None)
        reads = list(blobs.reads)
        assert await cache.prepare(code, [layer]) == (task, opt)
        assert blobs.reads == reads
        # Deleted by hand while the server runs: made again at the next cold start.
        shutil.rmtree(tmp_path / "unpacked")
        task, opt = await cache.prepare(code, [layer])
        assert (task / "index.py").read_text() == "one"
        assert opt is not None and (opt / "python/lib.py").read_text() == "two"

    asyncio.run(main())
