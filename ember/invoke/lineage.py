"""Recursive loop detection: how many times one request chain has invoked a function, carried in the
`Lineage=` field of its X-Ray trace header as Lambda carries it.

The field lists `<hash>:<count>` entries, `|`-separated, one per function the chain has run: the hash is
the first 8 hex digits of the SHA-256 of the function's name, the count how many times before this one the
chain invoked it. botocore inside a function sends the trace id it runs under (_X_AMZN_TRACE_ID) as the
X-Amzn-Trace-Id of its requests, so an Invoke made from a function brings its chain's lineage along.
"""

from __future__ import annotations

import hashlib

#: the most times one chain may invoke a function again (RecursiveLoop=Terminate stops the next one)
MAX_RECURSIVE_INVOCATIONS = 16

RECURSIVE_INVOCATION_MESSAGE = (
    "Lambda has detected your function being invoked in a recursive loop with other Amazon Web Services "
    "resources and stopped your function's invocation."
)


def function_hash(function_name: str) -> str:
    return hashlib.sha256(function_name.encode()).hexdigest()[:8]


def _split(trace_id: str) -> tuple[list[str], dict[str, int]]:
    """The header's other fields, in order, and its lineage entries."""
    fields: list[str] = []
    lineage: dict[str, int] = {}
    for part in trace_id.split(";"):
        key, _, value = part.strip().partition("=")
        if key != "Lineage":
            if part.strip():
                fields.append(part.strip())
            continue
        for entry in value.split("|"):
            digest, _, count = entry.rpartition(":")
            if digest and count.isdigit():
                lineage[digest] = int(count)
    return fields, lineage


def count(trace_id: str, function_name: str) -> int:
    """How many times before this one the chain of `trace_id` invoked `function_name`."""
    return _split(trace_id)[1].get(function_hash(function_name), 0)


def is_too_deep(trace_id: str, function_name: str) -> bool:
    return count(trace_id, function_name) > MAX_RECURSIVE_INVOCATIONS


def invoked(trace_id: str, function_name: str) -> str:
    """The trace header of an invocation of `function_name` asked for under `trace_id`: its count for the
    function 0 on a chain's first invocation of it, one more than the caller's on each later one."""
    fields, lineage = _split(trace_id)
    digest = function_hash(function_name)
    lineage[digest] = lineage[digest] + 1 if digest in lineage else 0
    entries = "|".join(f"{key}:{value}" for key, value in lineage.items())
    return ";".join([*fields, f"Lineage={entries}"])
