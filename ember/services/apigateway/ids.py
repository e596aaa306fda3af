"""Identifiers in API Gateway's forms: lowercase letters and digits, 10 long for a REST API and
its root resource, 6 for the resources, deployments and authorizers made inside it."""

from __future__ import annotations

import secrets
import string
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ember.apigateway_store.base import IdTaken

T = TypeVar("T")

ALPHABET = string.ascii_lowercase + string.digits
API_ID_LENGTH = 10
CHILD_ID_LENGTH = 6
#: draws before giving up: at 36^6 ids per API a second collision in a row means something is wrong
MAX_DRAWS = 8


def new_id(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


async def with_new_id(create: Callable[[str], Awaitable[T]], length: int = CHILD_ID_LENGTH) -> T:
    """`create(id)` with a fresh id, drawn again while the store says it is taken."""
    for _ in range(MAX_DRAWS - 1):
        try:
            return await create(new_id(length))
        except IdTaken:
            continue
    return await create(new_id(length))
