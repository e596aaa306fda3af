"""Patch operations (UpdateRestApi, UpdateStage, UpdateAuthorizer...): reading them, and the
refusals API Gateway answers a path or an op it does not take with.

A patch path is a JSON pointer: `/variables/NAME`, with `~1` standing for "/" and `~0` for "~"
inside a segment (`/binaryMediaTypes/image~1png`). Values are always strings on the wire; the
conversions here turn them into what the record holds or refuse them saying what to send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ember.errors import BadRequestException

V = TypeVar("V")


@dataclass(frozen=True)
class Patch:
    op: str  #: add, remove, replace, move, copy, test
    path: str
    value: str | None = None

    @property
    def segments(self) -> list[str]:
        """The path's segments, JSON-pointer escapes undone."""
        return [unescape(part) for part in self.path.split("/")[1:]]


def unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def patches_of(params: dict[str, Any]) -> list[Patch]:
    found: list[Patch] = []
    for operation in params.get("patchOperations", []):
        op, path = operation.get("op"), operation.get("path")
        if not op:
            raise BadRequestException("Invalid patch operation: each patch operation needs an op "
                                      "(add, remove, replace, move, copy or test)")
        if not path or not path.startswith("/"):
            raise BadRequestException(f"Invalid patch path '{path or ''}' specified for op '{op}': a path starts "
                                      "with / (/description, /variables/NAME)")
        found.append(Patch(op, path, operation.get("value")))
    return found


def invalid_path(patch: Patch, allowed: Iterable[str]) -> BadRequestException:
    return BadRequestException(f"Invalid patch path '{patch.path}' specified for op '{patch.op}'. "
                               f"Must be one of: [{', '.join(allowed)}]")


def require_op(patch: Patch, *ops: str) -> None:
    if patch.op not in ops:
        raise BadRequestException(f"Invalid patch operation '{patch.op}' specified for path '{patch.path}'. "
                                  f"Must be one of: [{', '.join(ops)}]")


def text(patch: Patch) -> str | None:
    """The value as text; None (the member cleared) when it is absent or empty."""
    return patch.value or None


def required_text(patch: Patch) -> str:
    if not patch.value:
        raise BadRequestException(f"Invalid null or empty value in patch operation '{patch.op}' for path "
                                  f"'{patch.path}'")
    return patch.value


def boolean(patch: Patch) -> bool:
    if patch.value not in ("true", "false"):
        raise BadRequestException(f"Invalid value '{patch.value}' for path '{patch.path}': it must be true or false")
    return patch.value == "true"


def integer(patch: Patch, low: int, high: int) -> int:
    value = patch.value or ""
    if not value.lstrip("-").isdigit() or not low <= int(value) <= high:
        raise BadRequestException(f"Invalid value '{patch.value}' for path '{patch.path}': it must be a whole "
                                  f"number from {low} to {high}")
    return int(value)


def patched_entry(patch: Patch, current: Mapping[str, V], value: Callable[[Patch], V]) -> dict[str, V]:
    """A copy of the map `current` with one entry (the patch path's second segment) added,
    replaced (`value(patch)`) or removed, as the patch's op says."""
    require_op(patch, "add", "replace", "remove")
    key = patch.segments[1]
    kept = {k: v for k, v in current.items() if k != key}
    if patch.op != "remove":
        kept[key] = value(patch)
    return kept
