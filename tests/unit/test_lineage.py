"""The lineage field of a trace header: counted per function, other fields and functions kept."""

from __future__ import annotations

from ember.invoke import lineage

ROOT = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"


def test_a_chains_first_invocation_counts_zero_and_each_later_one_more() -> None:
    first = lineage.invoked(ROOT, "a")
    assert first == f"{ROOT};Lineage={lineage.function_hash('a')}:0"
    assert lineage.count(first, "a") == 0
    again = lineage.invoked(first, "a")
    assert lineage.count(again, "a") == 1
    assert again.startswith(ROOT + ";") and again.count("Lineage=") == 1


def test_each_function_has_its_own_count() -> None:
    trace = lineage.invoked(lineage.invoked(lineage.invoked(ROOT, "a"), "b"), "a")
    assert (lineage.count(trace, "a"), lineage.count(trace, "b"), lineage.count(trace, "c")) == (1, 0, 0)
    assert f"{lineage.function_hash('a')}:1|{lineage.function_hash('b')}:0" in trace


def test_a_loop_is_too_deep_once_it_passes_16() -> None:
    trace = lineage.invoked(ROOT, "a")
    depth = 0
    while not lineage.is_too_deep(trace, "a"):
        trace = lineage.invoked(trace, "a")
        depth += 1
    assert depth == lineage.MAX_RECURSIVE_INVOCATIONS + 1 == 17


def test_a_header_lambda_wrote_is_read() -> None:
    # The shape Lambda puts in _X_AMZN_TRACE_ID (a hash of 8 hex digits and a count).
    assert lineage.count("Root=1-46105bdf-04c13a9504458ebc539f5fba;Parent=240a548a42a88af4;Sampled=0;"
                         f"Lineage={lineage.function_hash('f')}:5", "f") == 5
    assert lineage.count("Root=1-x;Lineage=garbage", "f") == 0
