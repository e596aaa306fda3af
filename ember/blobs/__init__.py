"""Blob stores: content-addressed bytes (code and layer zips). One contract (base.py), one
module per backend, chosen by name."""

from __future__ import annotations

from typing import Any

from ember.backends import backend_class
from ember.blobs.base import BlobStore

# Import strings, so an optional driver is imported only when chosen.
BLOB_STORES = {"local": "ember.blobs.local:LocalBlobStore"}


def open_blob_store(kind: str, **options: Any) -> BlobStore:
    store_class = backend_class(BLOB_STORES[kind], BlobStore)
    return store_class(**options)
