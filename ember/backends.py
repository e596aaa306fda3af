"""Choosing a backend by name: each swappable part keeps a table of import strings, so an optional
driver (a PostgreSQL client, say) is imported only when a configuration chooses it."""

from __future__ import annotations

import importlib
from typing import TypeVar

T = TypeVar("T")


def backend_class(import_path: str, interface: type[T]) -> type[T]:
    """The class that `import_path` ("package.module:ClassName") names, checked to implement
    `interface`, so a wrong table entry fails at start with its name rather than at first use."""
    module_name, _, class_name = import_path.partition(":")
    found = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(found, type) and issubclass(found, interface)):
        raise TypeError(f"{import_path} is not a {interface.__name__}")
    return found
