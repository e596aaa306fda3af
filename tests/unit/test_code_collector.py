"""CodeCollector against a real SQLite store and blob folder: what the records use stays, what a
package being stored is about to use stays, everything else goes."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from dataclasses import replace
from pathlib import Path

from ember.blobs.local import LocalBlobStore
from ember.code.cache import CodeCache
from ember.code.collector import CodeCollector
from ember.code.merge import merged_layers_dir
from ember.models import FunctionCode, FunctionConfig, FunctionLayer, LayerVersion
from ember.store.sqlite import SQLiteStore


def stored(blobs: LocalBlobStore, unpacked: Path, content: bytes) -> FunctionCode:
    digest = blobs.put(content)
    (unpacked / digest).mkdir(parents=True)
    (unpacked / digest / "index.py").write_bytes(content)
    return FunctionCode(digest, "b64", len(content), len(content))


def function(name: str, code: FunctionCode, layers: tuple[FunctionLayer, ...] = ()) -> FunctionConfig:
    return FunctionConfig(name=name, runtime="python3.11", handler="index.handler", role="role", code=code,
                          layers=layers)


def run(tmp_path: Path, scenario) -> None:
    async def main() -> None:
        store = SQLiteStore(tmp_path / "ember.db")
        blobs = LocalBlobStore(tmp_path / "code")
        unpacked = tmp_path / "unpacked"
        unpacked.mkdir()
        in_use: set[Path] = set()
        collector = CodeCollector(store, blobs, CodeCache(blobs, unpacked), lambda: set(in_use))
        try:
            await scenario(store, blobs, unpacked, collector, in_use)
        finally:
            await store.close()

    asyncio.run(main())


def test_code_references_count_functions_versions_layers_and_the_layers_functions_keep(tmp_path: Path) -> None:
    async def scenario(store, blobs, unpacked, collector, in_use) -> None:
        own, versioned, layer = (stored(blobs, unpacked, text) for text in (b"own", b"versioned", b"layer"))
        uses_layer = function("f", own, (FunctionLayer("arn:layer:1", layer),))
        await store.create_function(uses_layer)
        await store.add_version(replace(function("f", versioned), version="1"))
        await store.add_layer_version("l", lambda n: LayerVersion("l", n, layer))
        await store.delete_layer_version("l", 1)  # f still runs with it

        references = await store.code_references()

        assert references.digests == {own.sha256_hex, versioned.sha256_hex, layer.sha256_hex}
        assert references.layer_lists == {(layer.sha256_hex,)}

    run(tmp_path, scenario)


def test_only_what_nothing_uses_is_deleted_and_a_tree_in_use_waits(tmp_path: Path) -> None:
    async def scenario(store, blobs, unpacked, collector, in_use) -> None:
        kept, gone, busy, layer = (stored(blobs, unpacked, text) for text in (b"kept", b"gone", b"busy", b"layer"))
        merged = merged_layers_dir(unpacked, [layer.sha256_hex])
        merged.mkdir()
        await store.create_function(function("kept", kept))
        in_use.add(unpacked / busy.sha256_hex)

        await collector.collect_everything()

        assert set(blobs.digests()) == {kept.sha256_hex, busy.sha256_hex}
        assert {p.name for p in unpacked.iterdir()} == {kept.sha256_hex, busy.sha256_hex}
        in_use.clear()
        collector.consider([busy.sha256_hex])
        await collector._run()
        assert set(blobs.digests()) == {kept.sha256_hex}

    run(tmp_path, scenario)


def test_a_pinned_package_is_kept_and_a_pin_waits_for_a_collection_in_progress(tmp_path: Path) -> None:
    async def scenario(store, blobs, unpacked, collector, in_use) -> None:
        code = stored(blobs, unpacked, b"new")
        collector.pin(code.sha256_hex)  # stored, about to be committed
        await collector.collect_everything()
        assert blobs.exists(code.sha256_hex)

        await store.create_function(function("f", code))
        collector.release(code.sha256_hex)
        await collector._run()
        assert blobs.exists(code.sha256_hex)  # now a record uses it

        # A pin that arrives while its digest is being collected waits for the collection to end,
        # so the package it then writes is never deleted under it.
        await store.delete_function("f")
        started, pinned = threading.Event(), threading.Event()
        original = store.code_references

        async def slow_references():
            started.set()
            await asyncio.sleep(0.3)
            return await original()

        store.code_references = slow_references
        collecting = asyncio.create_task(collector._collect({code.sha256_hex}))
        await asyncio.to_thread(started.wait, 10)
        pin = asyncio.create_task(asyncio.to_thread(lambda: (collector.pin(code.sha256_hex), pinned.set())))
        await asyncio.sleep(0.1)
        assert not pinned.is_set()
        await collecting
        await pin
        assert pinned.is_set() and not blobs.exists(code.sha256_hex)
        blobs.put(b"new")  # what the pinned CreateFunction writes afresh
        await collector._collect({code.sha256_hex})
        assert blobs.exists(code.sha256_hex)

    run(tmp_path, scenario)


def test_digest_helper_matches_the_blob_store(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    assert blobs.put(b"x") == hashlib.sha256(b"x").hexdigest()
    assert blobs.delete(hashlib.sha256(b"x").hexdigest()) == 1
    assert list(blobs.digests()) == []
