"""IAM stores: the account's identities and policies. One contract (base.py), one module per
backend, chosen by name."""

from __future__ import annotations

from typing import Any

from ember.backends import backend_class
from ember.iam_store.base import IamStore

# Import strings, so an optional driver is imported only when chosen.
IAM_STORES = {"sqlite": "ember.iam_store.sqlite:SQLiteIamStore"}


def open_iam_store(kind: str, **options: Any) -> IamStore:
    store_class = backend_class(IAM_STORES[kind], IamStore)
    return store_class(**options)
