"""Policy variables: `${aws:username}` in a `Resource` or a string/ARN condition value, filled in
from the request's context when a statement is evaluated.

What the IAM User Guide ("Variables and tags") says, and this module does:
- `${key}` takes the value of context key `key` (case-insensitive, like every condition key);
- `${key, 'default'}` takes `default` when the key has no value;
- `${*}`, `${?}` and `${$}` stand for a literal `*`, `?` and `$`;
- a policy whose `Version` is not 2012-10-17 has no variables: `${aws:username}` is literal text;
- a variable with no value and no default cannot be resolved: the value it sits in matches
  nothing (the caller decides what that means for the statement).

A template is parsed once with its policy. Its pieces keep the wildcards of the policy's own text
and make whatever a variable brings literal.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ember.iam.wildcards import Piece

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_NAME_AND_DEFAULT = re.compile(r"^\s*([^\s,']+)\s*(?:,\s*'([^']*)'\s*)?$")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}

#: looks a context key up (lower-cased): its single value, or None when the request has none
Lookup = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class _Variable:
    key: str  # lower-cased
    default: str | None


class Template:
    """A string from a policy that may hold variables."""

    __slots__ = ("text", "_parts", "has_variables")

    def __init__(self, text: str, *, variables: bool = True) -> None:
        self.text = text
        parts: list[Piece | _Variable] = []
        position = 0
        if variables:
            for match in _VARIABLE.finditer(text):
                inner = match.group(1)
                escaped = _ESCAPES.get(inner)
                name = _NAME_AND_DEFAULT.match(inner)
                if escaped is None and name is None:
                    continue  # not a variable IAM knows: literal text
                if match.start() > position:
                    parts.append(Piece(text[position:match.start()]))
                if escaped is not None:
                    parts.append(Piece(escaped, is_pattern=False))
                else:
                    assert name is not None
                    parts.append(_Variable(name.group(1).lower(), name.group(2)))
                position = match.end()
        if position < len(text) or not parts:
            parts.append(Piece(text[position:]))
        self._parts = tuple(parts)
        self.has_variables = any(not isinstance(part, Piece) or not part.is_pattern for part in parts)

    def resolve(self, lookup: Lookup) -> tuple[Piece, ...] | None:
        """The template's pieces with every variable filled in; None when one has no value."""
        pieces: list[Piece] = []
        for part in self._parts:
            if isinstance(part, Piece):
                pieces.append(part)
                continue
            value = lookup(part.key)
            if value is None:
                value = part.default
            if value is None:
                return None
            pieces.append(Piece(value, is_pattern=False))
        return tuple(pieces)

    def resolve_text(self, lookup: Lookup) -> str | None:
        """The template as plain text (for exact comparisons); None when a variable has no value."""
        pieces = self.resolve(lookup)
        return None if pieces is None else "".join(piece.text for piece in pieces)

    def __repr__(self) -> str:
        return f"Template({self.text!r})"
