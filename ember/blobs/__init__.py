"""Blob stores: content-addressed bytes (code and layer zips). One contract (base.py), one
module per backend, chosen by name."""

from __future__ import annotations

import importlib
from typing import Any

from ember.blobs.base import BlobStore

# Import strings, so an optional driver is imported only when chosen.
BLOB_STORES = {"local": "ember.blobs.local:LocalBlobStore"}


def open_blob_store(kind: str, **options: Any) -> BlobStore:
    module_name, _, class_name = BLOB_STORES[kind].partition(":")
    store_class = getattr(importlib.import_module(module_name), class_name)
    return store_class(**options)
