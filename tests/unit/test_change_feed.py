"""The ChangeFeed contract, run against every implementation; and the changes' wire form."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from ember.feed import CHANGE_FEEDS, open_change_feed
from ember.feed.base import (
    CHANGES,
    AliasChanged,
    Change,
    ChangeFeed,
    ConcurrencyChanged,
    FunctionChanged,
    FunctionDeleted,
    ProvisionedConcurrencyChanged,
    change_from_json,
    change_to_json,
)

#: how the suite opens each implementation (a server-backed one would skip when its server is down)
FEED_OPTIONS: dict[str, dict[str, Any]] = {"memory": {}}

EXAMPLES: list[Change] = [
    FunctionChanged("f"),
    FunctionChanged("f", "3"),
    FunctionDeleted("f"),
    FunctionDeleted("f", "2"),
    ConcurrencyChanged("f", 5),
    ConcurrencyChanged("f", 0),
    ConcurrencyChanged("f", None),
    ProvisionedConcurrencyChanged("f", "live", 3),
    ProvisionedConcurrencyChanged("f", "1", None),
    AliasChanged("f", "live"),
]


def test_every_implementation_runs_the_suite() -> None:
    assert set(FEED_OPTIONS) == set(CHANGE_FEEDS)


@pytest.fixture(params=sorted(CHANGE_FEEDS))
def feed_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def opened(kind: str) -> ChangeFeed:
    return open_change_feed(kind, **FEED_OPTIONS[kind])


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Change] = []

    async def __call__(self, change: Change) -> None:
        await asyncio.sleep(0)  # a subscriber may await: delivery still keeps the order
        self.seen.append(change)


class TestChangeFeedContract:
    def test_each_subscriber_gets_each_change_once_in_publish_order(self, feed_kind: str) -> None:
        async def scenario() -> None:
            feed = opened(feed_kind)
            first, second = Recorder(), Recorder()
            feed.subscribe(first)
            feed.subscribe(second)
            for change in EXAMPLES:
                await feed.publish(change)
            await feed.close()
            assert first.seen == EXAMPLES and second.seen == EXAMPLES

        asyncio.run(scenario())

    def test_a_subscriber_gets_only_what_is_published_after_it_subscribed(self, feed_kind: str) -> None:
        async def scenario() -> None:
            feed = opened(feed_kind)
            await feed.publish(FunctionChanged("before"))
            late = Recorder()
            feed.subscribe(late)
            await feed.publish(FunctionChanged("after"))
            await feed.close()
            assert late.seen == [FunctionChanged("after")]

        asyncio.run(scenario())

    def test_publishing_with_no_subscriber_is_fine(self, feed_kind: str) -> None:
        async def scenario() -> None:
            feed = opened(feed_kind)
            await feed.publish(FunctionDeleted("nobody-listens"))
            await feed.close()

        asyncio.run(scenario())

    def test_unsubscribe_stops_delivery_and_is_idempotent(self, feed_kind: str) -> None:
        async def scenario() -> None:
            feed = opened(feed_kind)
            recorder = Recorder()
            unsubscribe = feed.subscribe(recorder)
            await feed.publish(FunctionChanged("a"))
            unsubscribe()
            unsubscribe()
            await feed.publish(FunctionChanged("b"))
            await feed.close()
            assert recorder.seen == [FunctionChanged("a")]

        asyncio.run(scenario())

    def test_a_failing_subscriber_neither_stops_the_others_nor_fails_the_publisher(
            self, feed_kind: str, caplog: pytest.LogCaptureFixture) -> None:
        async def failing(change: Change) -> None:
            raise RuntimeError("cache broke")

        async def scenario() -> list[Change]:
            feed = opened(feed_kind)
            recorder = Recorder()
            feed.subscribe(failing)
            feed.subscribe(recorder)
            await feed.publish(ConcurrencyChanged("f", 2))
            await feed.publish(ConcurrencyChanged("f", 3))
            await feed.close()
            return recorder.seen

        assert asyncio.run(scenario()) == [ConcurrencyChanged("f", 2), ConcurrencyChanged("f", 3)]
        assert "cache broke" in caplog.text

    def test_concurrent_publishers_reach_every_subscriber_in_one_order(self, feed_kind: str) -> None:
        async def scenario() -> None:
            feed = opened(feed_kind)
            first, second = Recorder(), Recorder()
            feed.subscribe(first)
            feed.subscribe(second)

            async def publisher(name: str) -> None:
                for n in range(20):
                    await feed.publish(ConcurrencyChanged(name, n))

            await asyncio.gather(*(publisher(name) for name in ("a", "b", "c")))
            await feed.close()
            assert len(first.seen) == 60 and first.seen == second.seen
            for name in ("a", "b", "c"):  # each publisher's changes in the order it published them
                assert [c.reserved for c in first.seen if c.function_name == name] == list(range(20))  # type: ignore[attr-defined]

        asyncio.run(scenario())

    def test_a_subscriber_is_never_called_again_before_its_previous_call_returned(self, feed_kind: str) -> None:
        async def scenario() -> None:
            feed = opened(feed_kind)
            running = 0
            most = 0

            async def slow(change: Change) -> None:
                nonlocal running, most
                running += 1
                most = max(most, running)
                await asyncio.sleep(0.001)
                running -= 1

            feed.subscribe(slow)
            await asyncio.gather(*(feed.publish(FunctionChanged(f"f{n}")) for n in range(10)))
            await feed.close()
            assert most == 1

        asyncio.run(scenario())

    def test_after_close_nothing_is_delivered(self, feed_kind: str) -> None:
        async def scenario() -> None:
            feed = opened(feed_kind)
            recorder = Recorder()
            feed.subscribe(recorder)
            await feed.close()
            await feed.close()
            await feed.publish(FunctionChanged("late"))
            assert recorder.seen == []

        asyncio.run(scenario())


class TestChanges:
    def test_every_change_kind_is_readable_and_has_an_example(self) -> None:
        assert {type(c) for c in EXAMPLES} == set(CHANGES.values())
        assert all(cls.kind == kind for kind, cls in CHANGES.items())

    @pytest.mark.parametrize("change", EXAMPLES, ids=repr)
    def test_a_change_round_trips_through_json(self, change: Change) -> None:
        text = change_to_json(change)
        assert change_from_json(text) == change
        assert text.startswith('{"kind":"' + change.kind + '"')

    def test_changes_are_frozen_and_hashable(self) -> None:
        change = ConcurrencyChanged("f", 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            change.reserved = 2  # type: ignore[misc]
        assert len(set(EXAMPLES)) == len(EXAMPLES)

    @pytest.mark.parametrize("text", ['{"kind":"Nope","function_name":"f"}', '[1]', '{"function_name":"f"}',
                                      '{"kind":"FunctionChanged","function_name":"f","extra":1}'])
    def test_anything_else_is_a_value_error(self, text: str) -> None:
        with pytest.raises(ValueError):
            change_from_json(text)
