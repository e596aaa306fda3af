"""Unit tests for the output collector: lines streamed with their own timestamps, the secret
end marker, forged markers, and lines longer than a log event."""

from __future__ import annotations

import asyncio

from ember.invoke import output
from ember.invoke.output import LogTail, OutputCollector, end_marker


def collect(chunks: list[bytes], nonce: str | None) -> tuple[list[tuple[int, str]], list[tuple[int, str]], bool]:
    """Feed `chunks` to a collector attached to an invocation: (its events, the environment's, marker seen)."""

    async def scenario() -> tuple[list[tuple[int, str]], list[tuple[int, str]], bool]:
        stream = asyncio.StreamReader()
        environment: list[tuple[int, str]] = []
        invocation: list[tuple[int, str]] = []
        collector = OutputCollector(stream, environment.extend)
        collector.attach(invocation.extend, nonce)
        for chunk in chunks:
            stream.feed_data(chunk)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        seen = await collector.wait_marker(0.5) if nonce else False
        collector.detach()
        stream.feed_eof()
        await collector.settle(1.0)
        return invocation, environment, seen

    return asyncio.run(scenario())


def messages(events: list[tuple[int, str]]) -> list[str]:
    return [message for _, message in events]


def test_the_marker_ends_the_invocation_and_later_output_is_the_environments() -> None:
    invocation, environment, seen = collect([b"one\ntw", b"o\nno newline" + end_marker("s3cret") + b"later\n"],
                                            "s3cret")
    assert seen
    assert messages(invocation) == ["one\n", "two\n", "no newline\n", "later\n"]  # attached until detach
    assert environment == []


def test_forged_markers_are_only_text_and_keep_nothing_back() -> None:
    forged = b"".join(end_marker(f"guess-{i}") + b"payload\n" for i in range(1000))
    invocation, _, seen = collect([forged], "real-secret")
    assert not seen
    assert len(invocation) == 2000  # every forged marker and payload line is in the log, nothing held back


def test_a_line_longer_than_an_event_is_split_not_cut() -> None:
    long_line = b"a" * (output.MAX_LINE_BYTES * 2 + 10) + b"\n"
    invocation, _, _ = collect([long_line[i:i + 65536] for i in range(0, len(long_line), 65536)], None)
    assert "".join(message.rstrip("\n") for message in messages(invocation)) == "a" * (output.MAX_LINE_BYTES * 2 + 10)
    assert all(len(message.encode()) <= output.MAX_LINE_BYTES + 1 for message in messages(invocation))


def test_the_tail_keeps_the_last_4_kb() -> None:
    seen: list[tuple[int, str]] = []
    tail = LogTail(seen.extend)
    for number in range(2000):
        tail.write(f"line {number}\n")
    assert len(seen) == 2000
    assert tail.text().endswith("line 1999\n") and 4000 <= len(tail.text()) <= output.TAIL_BYTES
