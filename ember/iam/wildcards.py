"""IAM's wildcards: `*` stands for any run of characters, `?` for exactly one.

In an `Action`, `Resource` or `String...Like` value a `*` spans everything, `:` and `/` included
(`arn:aws:lambda:*` matches every Lambda ARN). The ARN operators (`ArnLike`, `ArnEquals`...) are
the exception: each of the six colon-delimited parts of an ARN is matched on its own, so a `*`
stops at the next `:` ("Each of the six colon-delimited components of the ARN is checked
separately", IAM User Guide, Condition operators).

A pattern is compiled once, when its policy is parsed; matching a request is then a set lookup
or one regular-expression match. Pieces that came from a policy variable or an escape (`${*}`)
are literal text: a `*` in a user's name is not a wildcard.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

#: the parts of an ARN the ARN operators match separately: arn, partition, service, region,
#: account and the resource (which may itself hold colons)
ARN_PARTS = 6


def has_wildcard(text: str) -> bool:
    return "*" in text or "?" in text


@dataclass(frozen=True, slots=True)
class Piece:
    """A run of a pattern: `is_pattern` text treats `*` and `?` as wildcards, the rest is literal."""

    text: str
    is_pattern: bool = True


@lru_cache(maxsize=8192)
def _compile(pieces: tuple[Piece, ...], ignore_case: bool) -> re.Pattern[str]:
    parts: list[str] = []
    for piece in pieces:
        if not piece.is_pattern:
            parts.append(re.escape(piece.text))
            continue
        for char in piece.text:
            if char == "*":
                parts.append(".*")
            elif char == "?":
                parts.append(".")
            else:
                parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


class Glob:
    """One compiled pattern; `matches` answers for a whole value."""

    __slots__ = ("pattern", "ignore_case", "_literal", "_regex", "_any")

    def __init__(self, pieces: str | Sequence[Piece], *, ignore_case: bool = False) -> None:
        parts = (Piece(pieces),) if isinstance(pieces, str) else tuple(pieces)
        self.pattern = "".join(piece.text for piece in parts)
        self.ignore_case = ignore_case
        self._any = len(parts) == 1 and parts[0].is_pattern and parts[0].text == "*"
        is_literal = not any(piece.is_pattern and has_wildcard(piece.text) for piece in parts)
        self._literal: str | None = None
        self._regex: re.Pattern[str] | None = None
        if is_literal:
            self._literal = self.pattern.casefold() if ignore_case else self.pattern
        else:
            self._regex = _compile(parts, ignore_case)

    def matches(self, value: str) -> bool:
        if self._any:
            return True
        if self._literal is not None:
            return (value.casefold() if self.ignore_case else value) == self._literal
        assert self._regex is not None
        return self._regex.fullmatch(value) is not None

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r}, ignore_case={self.ignore_case})"


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """Does `value` match `pattern` (`*` any run of characters, `?` one character)?"""
    return Glob(pattern, ignore_case=ignore_case).matches(value)


def split_arn(text: str) -> list[str]:
    """An ARN's six parts; the resource part keeps any further colons."""
    return text.split(":", ARN_PARTS - 1)


class ArnGlob:
    """An ARN pattern for the ARN condition operators: each of the six parts matched on its own.

    A pattern of fewer parts (`*` alone) lets its last part stand for the rest of the ARN.
    """

    __slots__ = ("pattern", "_parts")

    def __init__(self, pieces: str | Sequence[Piece]) -> None:
        parts = (Piece(pieces),) if isinstance(pieces, str) else tuple(pieces)
        self.pattern = "".join(piece.text for piece in parts)
        self._parts = [Glob(segment) for segment in _split_pieces(parts)]

    def matches(self, value: str) -> bool:
        values = split_arn(value)
        if len(values) < len(self._parts):
            return False
        if len(values) > len(self._parts):
            # the pattern's last part stands for the rest of the value
            keep = len(self._parts) - 1
            values = values[:keep] + [":".join(values[keep:])]
        return all(part.matches(text) for part, text in zip(self._parts, values, strict=True))

    def __repr__(self) -> str:
        return f"ArnGlob({self.pattern!r})"


def _split_pieces(pieces: tuple[Piece, ...]) -> list[list[Piece]]:
    """Split pattern pieces at the first five colons of their pattern text (a literal colon from a
    policy variable splits too: the value's colons are what the ARN's parts are made of)."""
    segments: list[list[Piece]] = [[]]
    for piece in pieces:
        text = piece.text
        while ":" in text and len(segments) < ARN_PARTS:
            head, text = text.split(":", 1)
            segments[-1].append(Piece(head, piece.is_pattern))
            segments.append([])
        segments[-1].append(Piece(text, piece.is_pattern))
    return segments
