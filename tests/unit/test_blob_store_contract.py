"""The BlobStore contract (ember/blobs/base.py), run against every backend in BLOB_STORES."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ember.blobs import BLOB_STORES, open_blob_store
from ember.blobs.base import BlobNotFoundError, BlobStore
from ember.blobs.local import LocalBlobStore


def _cut_off_local_put(store: BlobStore, data: bytes) -> None:
    """What a crash in the middle of a LocalBlobStore.put leaves: a staging file beside the blobs."""
    assert isinstance(store, LocalBlobStore)
    target = store.path(hashlib.sha256(data).hexdigest())
    target.parent.mkdir(parents=True, exist_ok=True)
    (target.parent / ".incoming-crashed").write_bytes(data[: len(data) // 2])


@dataclass(frozen=True)
class Backend:
    options: Callable[[Path], dict[str, Any]]  #: how to open it on a test's temporary folder
    cut_off_put: Callable[[BlobStore, bytes], None]  #: leaves what a put cut off by a crash leaves


BACKENDS = {"local": Backend(lambda tmp_path: {"root": tmp_path / "blobs"}, _cut_off_local_put)}


def test_every_registered_blob_store_runs_the_contract() -> None:
    assert set(BACKENDS) == set(BLOB_STORES)


@pytest.fixture(params=sorted(BLOB_STORES))
def backend(request: pytest.FixtureRequest) -> tuple[str, Backend]:
    return request.param, BACKENDS[request.param]


@pytest.fixture
def reopen(backend: tuple[str, Backend], tmp_path: Path) -> Callable[[], BlobStore]:
    """Opens the backend on the same storage each time (a restart)."""
    kind, spec = backend
    return lambda: open_blob_store(kind, **spec.options(tmp_path))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class TestBlobStoreContract:
    def test_put_is_named_by_content_and_reads_back(self, reopen) -> None:
        blobs = reopen()
        data = b"PK\x03\x04 a zip, say"
        digest = blobs.put(data)
        assert digest == sha256(data)
        assert blobs.exists(digest)
        assert blobs.read(digest) == data
        assert set(blobs.digests()) == {digest}
        assert blobs.put(b"other", sha256(b"other")) == sha256(b"other")  # a digest already computed
        assert blobs.put(b"") == sha256(b"") and blobs.read(sha256(b"")) == b""
        assert set(blobs.digests()) == {digest, sha256(b"other"), sha256(b"")}

    def test_putting_the_same_bytes_again_keeps_one_blob(self, reopen) -> None:
        blobs = reopen()
        first = blobs.put(b"same")
        assert blobs.put(b"same") == first
        assert blobs.put(b"same", first) == first
        assert list(blobs.digests()) == [first]
        assert blobs.delete(first) == len(b"same")
        assert not blobs.exists(first)  # one delete removes it: there was one copy

    def test_a_missing_blob(self, reopen) -> None:
        blobs = reopen()
        missing = sha256(b"never stored")
        assert not blobs.exists(missing)
        with pytest.raises(BlobNotFoundError):
            blobs.read(missing)
        with pytest.raises(FileNotFoundError):  # what callers written before the contract catch
            blobs.read(missing)
        assert blobs.delete(missing) == 0
        assert list(blobs.digests()) == []

    def test_delete_frees_the_blob_and_says_how_much(self, reopen) -> None:
        blobs = reopen()
        kept, doomed = blobs.put(b"kept"), blobs.put(b"x" * 1000)
        assert blobs.delete(doomed) == 1000
        assert not blobs.exists(doomed)
        with pytest.raises(BlobNotFoundError):
            blobs.read(doomed)
        assert blobs.delete(doomed) == 0
        assert set(blobs.digests()) == {kept}
        assert blobs.put(b"x" * 1000) == doomed and blobs.read(doomed) == b"x" * 1000  # stored afresh

    def test_blobs_survive_a_reopen(self, reopen) -> None:
        digest = reopen().put(b"durable")
        again = reopen()
        assert again.exists(digest) and again.read(digest) == b"durable"
        assert set(again.digests()) == {digest}

    def test_concurrent_puts_of_the_same_content_leave_one_whole_blob(self, reopen) -> None:
        blobs = reopen()
        data = bytes(range(256)) * 4096  # 1 MiB
        start = threading.Barrier(16)

        def put() -> str:
            start.wait()
            return blobs.put(data)

        with ThreadPoolExecutor(16) as pool:
            digests = list(pool.map(lambda _: put(), range(16)))
        assert set(digests) == {sha256(data)}
        assert blobs.read(sha256(data)) == data
        assert list(blobs.digests()) == [sha256(data)]

    def test_concurrent_puts_of_different_content_all_land(self, reopen) -> None:
        blobs = reopen()
        payloads = [f"blob {n}".encode() * 100 for n in range(64)]
        with ThreadPoolExecutor(8) as pool:
            digests = list(pool.map(blobs.put, payloads))
        assert digests == [sha256(data) for data in payloads]
        assert set(blobs.digests()) == set(digests)
        assert all(blobs.read(sha256(data)) == data for data in payloads)

    def test_a_reader_never_sees_part_of_a_blob(self, reopen) -> None:
        blobs = reopen()
        data = b"z" * (8 * 1024 * 1024)
        digest = sha256(data)
        seen: list[int] = []
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                try:
                    seen.append(len(blobs.read(digest)))
                except BlobNotFoundError:
                    pass

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            blobs.put(data)
        finally:
            done.set()
            watcher.join()
        assert set(seen) <= {len(data)}

    def test_a_put_cut_off_by_a_crash_is_no_blob_and_is_removed(self, reopen, backend) -> None:
        blobs = reopen()
        kept = blobs.put(b"kept")
        backend[1].cut_off_put(blobs, b"half written" * 100)
        again = reopen()
        assert set(again.digests()) == {kept}
        assert not again.exists(sha256(b"half written" * 100))
        again.remove_incomplete()
        assert set(again.digests()) == {kept} and again.read(kept) == b"kept"
        # Storing the same bytes after the crash gives the whole blob.
        assert again.read(again.put(b"half written" * 100)) == b"half written" * 100


def test_remove_incomplete_leaves_no_staging_file_in_the_local_folder(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    blobs.put(b"kept")
    _cut_off_local_put(blobs, b"half written")
    blobs.remove_incomplete()
    names = {entry.name for folder in (tmp_path / "blobs").iterdir() for entry in folder.iterdir()}
    assert names == {sha256(b"kept")}
