"""Metadata stores: one contract (base.py), one module per backend, chosen by name."""

from __future__ import annotations

from typing import Any

from ember.backends import backend_class
from ember.store.base import Store

# Import strings, so an optional driver is imported only when chosen.
STORES = {"sqlite": "ember.store.sqlite:SQLiteStore"}


def open_store(kind: str, **options: Any) -> Store:
    store_class = backend_class(STORES[kind], Store)
    return store_class(**options)
