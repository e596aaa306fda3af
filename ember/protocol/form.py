"""Reading the query protocol's flat parameters (`Tags.member.1.Key=team`) into shaped values.

A member is addressed by its `locationName` (else its name), a nested member by `Parent.Child`; a
list's items are `Name.member.N` (the item's own `locationName` in place of `member`), or, when the
model says flattened, `Name.N` (with the item's `locationName`, if any, in place of `Name`); a list
given as `Name=` (nothing else) is empty; a map's entries are `Name.entry.N.key` and
`Name.entry.N.value` (`key`/`value` renamed by their `locationName`; `Name.N.key` when flattened).
Items come in the order of N. Parameters the input shape has no member for are ignored, as AWS
ignores them (a presigned URL's `X-Amz-Signature` among them).

Keys are split once and grouped one level at a time, only under names the shape knows, so no
request costs more than its size times the model's depth.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from typing import Any

from botocore.model import Shape

from ember.errors import InvalidParameterValue, InvalidQueryParameter, InvalidRequestContentException
from ember.protocol.values import from_text

#: far more than any query operation takes (SNS's PublishBatch with ten entries of ten message
#: attributes is about 500); past it a body is refused rather than split into that many pairs
MAX_PARAMETERS = 10_000
#: a `%` that does not start `%XX`: urllib would keep it as text; AWS refuses the request
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
#: deeper than any model nests (only a recursive shape could go on); past it the key is refused
#: rather than followed until Python's recursion limit
MAX_DEPTH = 64
#: a list item's or map entry's N: from 1, and short enough to be a number
_INDEX = re.compile(r"[1-9][0-9]{0,8}")

#: a parameter's key split at its dots, and its value
Entry = tuple[list[str], str]


def read_form(text: str, source: str) -> list[tuple[str, str]]:
    """The decoded pairs of `text` (application/x-www-form-urlencoded: `+` is a space), in order.

    Raises InvalidQueryParameter for a `%` not followed by two hex digits, percent-encoded bytes
    that are not UTF-8, or more than MAX_PARAMETERS pairs. `source` names the text in the message.
    """
    if _BAD_PERCENT.search(text):
        raise InvalidQueryParameter(f"The {source} has a '%' that does not begin a percent-encoded byte (%XX)")
    try:
        return urllib.parse.parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                                      max_num_fields=MAX_PARAMETERS)
    except UnicodeDecodeError:
        raise InvalidQueryParameter(f"The {source} percent-encodes bytes that are not UTF-8") from None
    except ValueError:  # max_num_fields
        raise InvalidQueryParameter(f"The {source} has more than {MAX_PARAMETERS} parameters") from None


def read_structure(shape: Shape, params: dict[str, str]) -> dict[str, Any]:
    """The input `shape` describes, read from the request's parameters (Action and Version among them)."""
    entries = [(key.split("."), value) for key, value in params.items()]
    return _read_members(shape, _group(entries, 0)[1], 1)


def _group(entries: list[Entry], depth: int) -> tuple[str | None, dict[str, list[Entry]]]:
    """Entries whose keys share their first `depth` parts: the value of that key itself, if given,
    and the others grouped by their next part."""
    own: str | None = None
    groups: dict[str, list[Entry]] = {}
    for parts, value in entries:
        if len(parts) == depth:
            own = value
        else:
            groups.setdefault(parts[depth], []).append((parts, value))
    return own, groups


def _key(entries: list[Entry], depth: int) -> str:
    return ".".join(entries[0][0][:depth])


def _read_members(shape: Shape, groups: dict[str, list[Entry]], depth: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, member in shape.members.items():  # type: ignore[attr-defined]
        entries = groups.get(_wire_name(member, name))
        if not entries:
            # An empty flattened list whose items are renamed comes under the list's own name
            # (botocore sends SimpleDB's `Attributes=`, its items as `Attribute.N`).
            entries = groups.get(str(member.serialization.get("name", name)))
        if entries:
            value = _read(member, entries, depth)
            if value is not None:
                result[name] = value
    return result


def _wire_name(member: Shape, name: str) -> str:
    # botocore's serializer writes a flattened list's items under the item's locationName.
    if member.type_name == "list" and member.serialization.get("flattened"):
        item_name = member.member.serialization.get("name")  # type: ignore[attr-defined]
        if item_name:
            return str(item_name)
    return str(member.serialization.get("name", name))


def _read(shape: Shape, entries: list[Entry], depth: int) -> Any:
    """The value of the member whose key is the first `depth` parts of every entry."""
    if depth > MAX_DEPTH:
        raise InvalidQueryParameter(f"The parameter {_key(entries, depth)} nests more than {MAX_DEPTH} levels deep")
    own, groups = _group(entries, depth)
    kind = shape.type_name
    if kind in ("structure", "list", "map") and own not in (None, ""):
        raise InvalidParameterValue(f"Could not parse query value '{own}' as {kind} "
                                    f"(parameter {_key(entries, depth)})")
    if kind == "structure":
        return _read_members(shape, groups, depth + 1)
    if kind == "list":
        return _read_list(shape, own, groups, entries, depth)
    if kind == "map":
        return _read_map(shape, groups, entries, depth)
    if own is None:  # only deeper keys (UserName.x=1): nothing for this member
        return None
    try:
        value = from_text(shape, own, "query")
    except InvalidRequestContentException as exc:
        raise InvalidParameterValue(f"{exc.message} (parameter {_key(entries, depth)})") from None
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # ISO 8601 without an offset: AWS reads it as UTC
    return value


def _read_list(shape: Shape, own: str | None, groups: dict[str, list[Entry]], entries: list[Entry],
               depth: int) -> list[Any] | None:
    item_shape: Shape = shape.member  # type: ignore[attr-defined]
    if shape.serialization.get("flattened"):
        items, item_depth = groups, depth + 1
    else:
        items = _group(groups.get(item_shape.serialization.get("name", "member"), []), depth + 1)[1]
        item_depth = depth + 2
    if not items:
        return [] if own == "" else None
    return [_read(item_shape, item_entries, item_depth) for item_entries in _in_order(items, entries, depth)]


def _read_map(shape: Shape, groups: dict[str, list[Entry]], entries: list[Entry], depth: int) -> dict[Any, Any]:
    key_shape: Shape = shape.key  # type: ignore[attr-defined]
    value_shape: Shape = shape.value  # type: ignore[attr-defined]
    if shape.serialization.get("flattened"):
        numbered, entry_depth = groups, depth + 1
    else:
        numbered = _group(groups.get("entry", []), depth + 1)[1]
        entry_depth = depth + 2
    key_name = key_shape.serialization.get("name", "key")
    value_name = value_shape.serialization.get("name", "value")
    result: dict[Any, Any] = {}
    for entry in _in_order(numbered, entries, depth):
        fields = _group(entry, entry_depth)[1]
        if key_name not in fields:
            raise InvalidParameterValue(f"The map entry {_key(entry, entry_depth)} has no {key_name}")
        key = _read(key_shape, fields[key_name], entry_depth + 1)
        if key is None:
            raise InvalidParameterValue(f"The map entry {_key(entry, entry_depth)} has no {key_name}")
        value_entries = fields.get(value_name)
        result[key] = _read(value_shape, value_entries, entry_depth + 1) if value_entries else None
    return result


def _in_order(numbered: dict[str, list[Entry]], entries: list[Entry], depth: int) -> list[list[Entry]]:
    """The groups of a list's items or a map's entries, by their number N."""
    for index in numbered:
        if not _INDEX.fullmatch(index):
            raise InvalidQueryParameter(f"'{index}' under {_key(entries, depth)} is not an item number: "
                                        "items are numbered from 1")
    return [numbered[index] for index in sorted(numbered, key=int)]
