"""Validation of parsed input against a botocore shape's constraints, worded as AWS words it.

AWS collects every constraint failure of a request into one ValidationException:
``2 validation errors detected: Value '0' at 'timeout' failed to satisfy constraint:
Member must have value greater than or equal to 1; Value ...``. Member paths use the
member name with its first letter lower-cased (``memorySize``, ``environment.variables``).

Beyond the model's own constraints, two things every shape refuses: `null` inside a list or as
a map's value (unless the model marks the collection sparse), and strings holding a lone UTF-16
surrogate (``"\\ud800"`` in the JSON), which no UTF-8 store or response can carry.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from botocore.model import Shape, StringShape, StructureShape

from ember.errors import EmberError, ValidationException

#: a service's own check for one model shape, replacing the generic one (it raises to refuse)
ShapeCheck = Callable[[Shape, Any], None]
_NO_CHECKS: Mapping[str, ShapeCheck] = {}
#: a UTF-16 surrogate code point: in a Python str only when JSON escaped one that had no partner
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def validate(shape: StructureShape, params: dict[str, Any],
             shape_checks: Mapping[str, ShapeCheck] = _NO_CHECKS,
             error: type[EmberError] = ValidationException) -> None:
    """Raise `error` (ValidationException unless the service names another) listing every
    constraint `params` breaks.

    `shape_checks` lets a service answer some shapes its own way: Lambda, for one, refuses
    an unknown Runtime with InvalidParameterValueException rather than a ValidationException.
    CloudWatch Logs words the same message as an InvalidParameterException, hence `error`.
    """
    problems: list[str] = []
    _check_structure(shape, params, "", problems, shape_checks)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise error(f"{count} validation {noun} detected: " + "; ".join(problems))


def _member_path(parent: str, name: str) -> str:
    local = name[:1].lower() + name[1:]
    return f"{parent}.{local}" if parent else local


def _render(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "'true'" if value else "'false'"
    if isinstance(value, bytes):
        return "'java.nio.HeapByteBuffer'"
    if isinstance(value, list):
        text = "[" + ", ".join("null" if item is None else str(item) for item in value) + "]"
    else:
        text = str(value)
    # Lone surrogates are shown escaped (\ud800): the message itself must be valid Unicode.
    return "'" + text.encode("utf-8", "backslashreplace").decode() + "'"


def _fail(problems: list[str], path: str, value: Any, constraint: str) -> None:
    problems.append(f"Value {_render(value)} at '{path}' failed to satisfy constraint: {constraint}")


def _check_structure(shape: StructureShape, value: dict[str, Any], path: str, problems: list[str],
                     checks: Mapping[str, ShapeCheck]) -> None:
    for name in shape.required_members:
        if value.get(name) is None:
            _fail(problems, _member_path(path, name), None, "Member must not be null")
    for name, member_value in value.items():
        member_shape = shape.members.get(name)
        if member_shape is not None and member_value is not None:
            _check(member_shape, member_value, _member_path(path, name), problems, checks)


def _check(shape: Shape, value: Any, path: str, problems: list[str], checks: Mapping[str, ShapeCheck]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    own_check = checks.get(shape.name)
    if own_check is not None:
        own_check(shape, value)
    elif kind == "structure" and isinstance(value, dict):
        _check_structure(shape, value, path, problems, checks)  # type: ignore[arg-type]
    elif kind == "list" and isinstance(value, list):
        _check_length(meta, value, len(value), path, problems)
        if None in value and not meta.get("sparse"):
            _fail(problems, path, value, "Member must satisfy constraint: [Member must not be null]")
        for item in value:
            if item is not None:
                _check(shape.member, item, path, problems, checks)  # type: ignore[attr-defined]
    elif kind == "map" and isinstance(value, dict):
        _check_length(meta, value, len(value), path, problems)
        key_problems: list[str] = []
        for key, item in value.items():
            _check(shape.key, key, path, key_problems, checks)  # type: ignore[attr-defined]
            if item is not None:
                _check(shape.value, item, path, problems, checks)  # type: ignore[attr-defined]
        if None in value.values() and not meta.get("sparse"):
            problems.append(f"Value at '{path}' failed to satisfy constraint: Map values must satisfy constraint: "
                            "[Member must not be null]")
        if key_problems:
            # AWS words bad map keys as one problem for the whole map.
            constraints = sorted({problem.split("constraint: ", 1)[1] for problem in key_problems})
            problems.append(f"Value at '{path}' failed to satisfy constraint: Map keys must satisfy constraint: "
                            f"[{', '.join(constraints)}]")
    elif kind == "string" and isinstance(value, str):
        if _SURROGATE.search(value):
            _fail(problems, path, value, "Member must be valid Unicode: it holds a lone UTF-16 surrogate")
            return
        enum = shape.enum if isinstance(shape, StringShape) else []
        if enum and value not in enum:
            _fail(problems, path, value, f"Member must satisfy enum value set: [{', '.join(enum)}]")
            return
        _check_length(meta, value, len(value), path, problems)
        pattern = meta.get("pattern")
        if pattern and not _matches(pattern, value):
            _fail(problems, path, value, f"Member must satisfy regular expression pattern: {pattern}")
    elif kind == "blob" and isinstance(value, bytes):
        _check_length(meta, value, len(value), path, problems)
    elif kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)):
        if "min" in meta and value < meta["min"]:
            _fail(problems, path, value, f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            _fail(problems, path, value, f"Member must have value less than or equal to {meta['max']}")


def _check_length(meta: dict[str, Any], value: Any, length: int, path: str, problems: list[str]) -> None:
    shown = value if isinstance(value, (str, bytes)) else None
    if "min" in meta and length < meta["min"]:
        _fail(problems, path, shown, f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and length > meta["max"]:
        _fail(problems, path, shown, f"Member must have length less than or equal to {meta['max']}")


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    # The models' patterns are Java regexes; the few Python cannot compile are not enforced.
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:
        return None


def _matches(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    return compiled is None or compiled.fullmatch(value) is not None
