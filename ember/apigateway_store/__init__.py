"""API Gateway stores: REST APIs (v1) with their resources, methods, deployments and stages. One
contract (base.py), one module per backend, chosen by name."""

from __future__ import annotations

from typing import Any

from ember.apigateway_store.base import ApiGatewayStore
from ember.backends import backend_class

# Import strings, so an optional driver is imported only when chosen.
APIGATEWAY_STORES = {"sqlite": "ember.apigateway_store.sqlite:SQLiteApiGatewayStore"}


def open_apigateway_store(kind: str, **options: Any) -> ApiGatewayStore:
    store_class = backend_class(APIGATEWAY_STORES[kind], ApiGatewayStore)
    return store_class(**options)
