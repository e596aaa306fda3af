"""The LogStore contract (ember/telemetry/log_store.py), run against every backend in LOG_STORES, each
on a FakeClock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ember.clock import FakeClock
from ember.errors import ResourceAlreadyExistsException, ResourceNotFoundException
from ember.telemetry.log_store import LOG_STORES, LogStore, PendingEvents, open_log_store
from tests.unit.contract import scenario_runner

#: how to open each backend on a test's temporary folder
BACKEND_OPTIONS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "sqlite": lambda tmp_path: {"path": tmp_path / "logs.db"},
}
_DAY_MS = 86_400_000
START = (0, 0)  #: the position before every event


def test_every_registered_log_store_runs_the_contract() -> None:
    assert set(BACKEND_OPTIONS) == set(LOG_STORES)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(LOG_STORES))
def run(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Callable[..., None]:
    """run(scenario): `scenario(store, reopen)` on a fresh backend reading `clock`, closed afterwards."""
    return scenario_runner(open_log_store, request.param, {**BACKEND_OPTIONS[request.param](tmp_path), "clock": clock})


def batch(stream: str, *events: tuple[int, str], group: str = "/aws/lambda/f") -> PendingEvents:
    return PendingEvents(group, stream, list(events))


async def messages(store: LogStore, stream: str, group: str = "/aws/lambda/f") -> list[str]:
    return [e.message for e in await store.stream_events(group, stream, None, None, START, True, 1000)]


class TestWriting:
    def test_append_creates_groups_and_streams_and_keeps_event_order(self, run, clock: FakeClock) -> None:
        async def scenario(store: LogStore, reopen) -> None:
            first_ms = clock.time_ms()
            await store.append([batch("s", (20, "b"), (10, "a"), (20, "c")), batch("t", (5, "é"))])
            clock.advance(2.5)
            await store.append([batch("s", (20, "d"), (15, "x"))])
            # By timestamp, then in the order written.
            assert await messages(store, "s") == ["a", "x", "b", "c", "d"]
            group = await store.get_group("/aws/lambda/f")
            assert group is not None and group.retention_days is None
            assert group.stored_bytes == len("abcdx") + len("é".encode())
            [s, t] = await store.list_streams("/aws/lambda/f", None, False, False, None, 10)
            assert (s.name, s.first_event_ms, s.last_event_ms, s.stored_bytes) == ("s", 10, 20, 5)
            assert (t.name, t.stored_bytes) == ("t", 2)
            assert (s.created_ms, s.last_ingestion_ms) == (first_ms, first_ms + 2500)
            assert group.created_ms == first_ms
            events = await store.stream_events("/aws/lambda/f", "s", None, None, START, True, 10)
            # each event's ingestion time is that of the append that stored it
            assert [(e.message, e.ingestion_ms) for e in events] == [
                ("a", first_ms), ("x", first_ms + 2500), ("b", first_ms), ("c", first_ms), ("d", first_ms + 2500)]
            assert all(e.stream_name == "s" for e in events)
            assert len({e.id for e in events}) == 5

        run(scenario)

    def test_an_empty_batch_creates_nothing(self, run) -> None:
        async def scenario(store: LogStore, reopen) -> None:
            await store.append([batch("s", group="/empty")])
            await store.append([])
            assert await store.get_group("/empty") is None

        run(scenario)

    def test_create_group_and_stream_and_their_conflicts(self, run, clock: FakeClock) -> None:
        async def scenario(store: LogStore, reopen) -> None:
            group_ms = clock.time_ms()
            await store.create_group("/g")
            clock.advance(1)
            with pytest.raises(ResourceAlreadyExistsException):
                await store.create_group("/g")
            with pytest.raises(ResourceNotFoundException):
                await store.create_stream("/missing", "s")
            await store.create_stream("/g", "s")
            with pytest.raises(ResourceAlreadyExistsException):
                await store.create_stream("/g", "s")
            assert await store.stream_exists("/g", "s")
            assert not await store.stream_exists("/g", "t")
            assert not await store.stream_exists("/missing", "s")
            [stream] = await store.list_streams("/g", None, False, False, None, 10)
            assert (stream.first_event_ms, stream.last_event_ms, stream.stored_bytes) == (None, None, 0)
            assert stream.created_ms == group_ms + 1000
            group = await store.get_group("/g")
            assert (group.stored_bytes, group.created_ms) == (0, group_ms)

        run(scenario)

    def test_deletes_take_their_events_along(self, run) -> None:
        async def scenario(store: LogStore, reopen) -> None:
            await store.append([batch("s", (1, "one")), batch("t", (2, "two")),
                                batch("s", (3, "other group"), group="/kept")])
            await store.delete_stream("/aws/lambda/f", "s")
            assert not await store.stream_exists("/aws/lambda/f", "s")
            assert await messages(store, "s") == []
            assert await messages(store, "t") == ["two"]
            with pytest.raises(ResourceNotFoundException):
                await store.delete_stream("/aws/lambda/f", "s")
            with pytest.raises(ResourceNotFoundException):
                await store.delete_stream("/missing", "s")
            await store.delete_group("/aws/lambda/f")
            assert await store.get_group("/aws/lambda/f") is None
            assert await messages(store, "t") == []
            with pytest.raises(ResourceNotFoundException):
                await store.delete_group("/aws/lambda/f")
            assert await messages(store, "s", group="/kept") == ["other group"]
            # A group created again starts empty.
            await store.append([batch("t", (9, "new"))])
            assert await messages(store, "t") == ["new"]

        run(scenario)

    def test_retention_deletes_only_what_is_older_and_refreshes_the_streams(self, run) -> None:
        async def scenario(store: LogStore, reopen) -> None:
            at_ms = 100 * _DAY_MS
            await store.append([batch("s", (at_ms - 3 * _DAY_MS, "old"), (at_ms - _DAY_MS, "new")),
                                batch("s", (at_ms - 3 * _DAY_MS, "forever"), group="/kept")])
            with pytest.raises(ResourceNotFoundException):
                await store.set_retention("/missing", 1)
            await store.set_retention("/aws/lambda/f", 2)
            assert (await store.get_group("/aws/lambda/f")).retention_days == 2
            assert await store.delete_expired(at_ms, "/kept") == 0
            assert await store.delete_expired(at_ms) == 1
            assert await messages(store, "s") == ["new"]
            [stream] = await store.list_streams("/aws/lambda/f", None, False, False, None, 10)
            assert (stream.first_event_ms, stream.stored_bytes) == (at_ms - _DAY_MS, 3)
            assert await messages(store, "s", group="/kept") == ["forever"]
            await store.set_retention("/aws/lambda/f", None)
            assert await store.delete_expired(at_ms + 10 * _DAY_MS) == 0

        run(scenario)


class TestReading:
    def test_list_groups_pages_by_name_with_prefix_or_pattern(self, run) -> None:
        async def scenario(store: LogStore, reopen) -> None:
            for name in ["/aws/lambda/b", "/aws/lambda/a", "/custom/Alpha", "/aws/lambda/c"]:
                await store.create_group(name)
            first = await store.list_groups(None, None, None, 2)
            assert [g.name for g in first] == ["/aws/lambda/a", "/aws/lambda/b"]
            rest = await store.list_groups(None, None, first[-1].name, 10)
            assert [g.name for g in rest] == ["/aws/lambda/c", "/custom/Alpha"]
            assert [g.name for g in await store.list_groups("/aws/lambda/", None, "/aws/lambda/a", 10)] == [
                "/aws/lambda/b", "/aws/lambda/c"]
            assert [g.name for g in await store.list_groups(None, "ALPHA", None, 10)] == ["/custom/Alpha"]
            assert await store.list_groups("/nothing", None, None, 10) == []
            assert await store.get_group("/missing") is None

        run(scenario)

    def test_list_streams_by_name_or_last_event_either_way_in_pages(self, run) -> None:
        async def scenario(store: LogStore, reopen) -> None:
            await store.append([batch("b", (30, "x")), batch("a", (10, "x")), batch("c", (20, "x")),
                                batch("other", (40, "x"))])
            await store.create_stream("/aws/lambda/f", "d")  # no events: its last event time counts as 0

            async def names(prefix: str | None, by_last_event: bool, descending: bool,
                            after: tuple | None = None, limit: int = 10) -> list[str]:
                streams = await store.list_streams("/aws/lambda/f", prefix, by_last_event, descending, after, limit)
                return [s.name for s in streams]

            assert await names(None, False, False) == ["a", "b", "c", "d", "other"]
            assert await names(None, False, True) == ["other", "d", "c", "b", "a"]
            assert await names(None, True, False) == ["d", "a", "c", "b", "other"]
            assert await names(None, True, True) == ["other", "b", "c", "a", "d"]
            assert await names(None, False, False, ("b",), 2) == ["c", "d"]
            assert await names(None, False, True, ("c",)) == ["b", "a"]
            assert await names(None, True, False, (10, "a")) == ["c", "b", "other"]
            assert await names(None, True, True, (20, "c"), 1) == ["a"]
            assert await names("o", False, False) == ["other"]
            with pytest.raises(ResourceNotFoundException):
                await store.list_streams("/missing", None, False, False, None, 10)

        run(scenario)

    def test_stream_events_page_forward_and_backward_within_a_time_range(self, run) -> None:
        async def scenario(store: LogStore, reopen) -> None:
            await store.append([batch("s", *((t, f"m{t}") for t in range(10, 80, 10))), batch("t", (35, "t"))])
            forward = await store.stream_events("/aws/lambda/f", "s", None, None, START, True, 3)
            assert [e.message for e in forward] == ["m10", "m20", "m30"]
            more = await store.stream_events("/aws/lambda/f", "s", None, None, forward[-1].position, True, 3)
            assert [e.message for e in more] == ["m40", "m50", "m60"]
            newest = await store.stream_events("/aws/lambda/f", "s", None, None, (2**62, 0), False, 2)
            assert [e.message for e in newest] == ["m60", "m70"]  # oldest first, either way
            older = await store.stream_events("/aws/lambda/f", "s", None, None, newest[0].position, False, 2)
            assert [e.message for e in older] == ["m40", "m50"]
            # An event at the start time is in, one at the end time is not.
            ranged = await store.stream_events("/aws/lambda/f", "s", 20, 50, START, True, 10)
            assert [e.message for e in ranged] == ["m20", "m30", "m40"]
            assert await store.stream_events("/aws/lambda/f", "missing", None, None, START, True, 10) == []
            assert await store.stream_events("/missing", "s", None, None, START, True, 10) == []

        run(scenario)

    def test_filter_events_matches_across_streams_and_says_where_to_go_on(self, run) -> None:
        async def scenario(store: LogStore, reopen) -> None:
            await store.append([batch("app-1", (10, "ERROR a"), (30, "ok"), (50, "ERROR c")),
                                batch("app-2", (20, "ERROR b"), (40, "ERROR d")),
                                batch("web", (25, "ERROR w"))])

            def is_error(message: str) -> bool:
                return message.startswith("ERROR")

            found, position = await store.filter_events("/aws/lambda/f", None, None, None, None, START, is_error, 3)
            assert [e.message for e in found] == ["ERROR a", "ERROR b", "ERROR w"]
            assert position is not None
            found, position = await store.filter_events("/aws/lambda/f", None, None, None, None, position,
                                                        is_error, 10)
            assert [e.message for e in found] == ["ERROR d", "ERROR c"] and position is None
            by_prefix, _ = await store.filter_events("/aws/lambda/f", None, "app-", 15, 50, START, is_error, 10)
            assert [e.message for e in by_prefix] == ["ERROR b", "ERROR d"]
            by_name, _ = await store.filter_events("/aws/lambda/f", ["web", "app-1"], None, None, None, START,
                                                   lambda m: True, 10)
            assert [e.message for e in by_name] == ["ERROR a", "ERROR w", "ok", "ERROR c"]
            assert await store.filter_events("/missing", None, None, None, None, START, is_error, 10) == ([], None)

        run(scenario)


class TestDurabilityAndConcurrency:
    def test_groups_streams_and_events_survive_a_reopen(self, run) -> None:
        async def scenario(store: LogStore, reopen) -> None:
            await store.append([batch("s", (1, "kept"))])
            await store.create_group("/empty")
            await store.set_retention("/empty", 7)
            await store.close()
            again = reopen()
            assert await messages(again, "s") == ["kept"]
            assert (await again.get_group("/empty")).retention_days == 7
            await again.append([batch("s", (1, "after"))])
            assert await messages(again, "s") == ["kept", "after"]  # ids keep growing across a reopen

        run(scenario)

    def test_concurrent_appends_all_land_in_order(self, run) -> None:
        async def scenario(store: LogStore, reopen) -> None:
            await asyncio.gather(*(store.append([batch(f"s{n % 4}", (n, f"m{n}"))]) for n in range(40)))
            for stream in range(4):
                assert await messages(store, f"s{stream}") == [f"m{n}" for n in range(stream, 40, 4)]
            assert (await store.get_group("/aws/lambda/f")).stored_bytes == sum(len(f"m{n}") for n in range(40))

        run(scenario)
