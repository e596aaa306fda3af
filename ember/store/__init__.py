"""Metadata stores: one contract (base.py), one module per backend, chosen by name."""

from __future__ import annotations

import importlib
from typing import Any

from ember.store.base import Store

# Import strings, so an optional driver is imported only when chosen.
STORES = {"sqlite": "ember.store.sqlite:SQLiteStore"}


def open_store(kind: str, **options: Any) -> Store:
    module_name, _, class_name = STORES[kind].partition(":")
    store_class = getattr(importlib.import_module(module_name), class_name)
    return store_class(**options)
