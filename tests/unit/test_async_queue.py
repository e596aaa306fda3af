"""The AsyncQueue contract, run against every backend on a FakeClock (visibility, event age and
leases move only when a test advances it); and SQLite group commit."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from ember.clock import FakeClock
from ember.invoke.async_queue import ASYNC_QUEUES, AsyncQueue, Deferral, LastRun, NewEvent, open_async_queue
from ember.store.group_commit import GroupCommitWriter, connect


def event(function_name: str = "f", n: int = 0, qualifier: str | None = None) -> NewEvent:
    return NewEvent(f"request-{function_name}-{n}", function_name, qualifier, f'{{"n": {n}}}'.encode(), "Root=1-x")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(ASYNC_QUEUES))
def open_queue(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock):
    """Opens the backend on the same storage and clock each time (a restart)."""
    opened: list[AsyncQueue] = []

    def open_() -> AsyncQueue:
        queue = open_async_queue(request.param, path=tmp_path / "queue.db", clock=clock)
        opened.append(queue)
        return queue

    return open_


class TestAsyncQueueContract:
    def test_put_then_claim_hands_out_each_event_once_oldest_first(self, open_queue, clock: FakeClock) -> None:
        async def scenario() -> None:
            queue = open_queue()
            for n in range(3):
                await queue.put(event(n=n))
            first = await queue.claim(2, lease_s=60)
            assert [e.request_id for e in first.events] == ["request-f-0", "request-f-1"]
            assert first.events[0].payload == b'{"n": 0}' and first.events[0].trace_id == "Root=1-x"
            assert first.events[0].attempts == 0 and first.events[0].last_run is None
            assert first.events[0].enqueued_at_ms == clock.time_ms()
            second = await queue.claim(10, lease_s=60)
            assert [e.request_id for e in second.events] == ["request-f-2"]
            assert (await queue.claim(10, lease_s=60)).events == []
            await queue.close()

        asyncio.run(scenario())

    def test_claims_spread_across_functions_and_honour_room(self, open_queue) -> None:
        async def scenario() -> None:
            queue = open_queue()
            for n in range(5):
                await queue.put(event("busy", n))
            await queue.put(event("quiet", 0))
            claim = await queue.claim(2, lease_s=60)
            assert sorted(e.function_name for e in claim.events) == ["busy", "quiet"]
            assert (await queue.claim(10, lease_s=60, room={"busy": 0})).events == []
            limited = await queue.claim(10, lease_s=60, room={"busy": 2})
            assert [e.request_id for e in limited.events] == ["request-busy-1", "request-busy-2"]
            await queue.close()

        asyncio.run(scenario())

    def test_finish_removes_the_event_and_enqueues_follow_ups_together(self, open_queue) -> None:
        async def scenario() -> None:
            queue = open_queue()
            await queue.put(event("source"))
            [claimed] = (await queue.claim(10, lease_s=60)).events
            await queue.finish(claimed.event_id, [event("destination", qualifier="live")])
            depths = {d.function_name: d for d in await queue.depths()}
            assert set(depths) == {"destination"} and depths["destination"].depth == 1
            [follow_up] = (await queue.claim(10, lease_s=60)).events
            assert (follow_up.function_name, follow_up.qualifier) == ("destination", "live")
            await queue.close()

        asyncio.run(scenario())

    def test_defer_hides_an_event_until_its_time_and_keeps_what_it_learned(self, open_queue,
                                                                             clock: FakeClock) -> None:
        async def scenario() -> None:
            queue = open_queue()
            await queue.put(event())
            [claimed] = (await queue.claim(10, lease_s=60)).events
            visible_at_ms = clock.time_ms() + 300
            last_run = LastRun(b'{"errorMessage": "boom"}', "Unhandled", "$LATEST")
            await queue.defer(claimed.event_id, Deferral(visible_at_ms, 1, 0, None, last_run))
            hidden = await queue.claim(10, lease_s=60)
            assert hidden.events == [] and hidden.next_visible_at_ms == visible_at_ms
            [depth] = await queue.depths()
            assert (depth.depth, depth.running, depth.delayed) == (1, 0, 1)
            clock.advance(0.299)
            assert (await queue.claim(10, lease_s=60)).events == []  # a millisecond early
            clock.advance(0.001)
            [again] = (await queue.claim(10, lease_s=60)).events
            assert (again.attempts, again.last_run) == (1, last_run)
            await queue.close()

        asyncio.run(scenario())

    def test_an_expired_event_is_handed_out_even_for_a_function_without_room(self, open_queue,
                                                                             clock: FakeClock) -> None:
        async def scenario() -> None:
            queue = open_queue()
            await queue.put(event("throttled"))
            [claimed] = (await queue.claim(10, lease_s=60)).events
            now_ms = clock.time_ms()
            await queue.defer(claimed.event_id, Deferral(now_ms + 60_000, 0, 1, expires_at_ms=now_ms + 200))
            hidden = await queue.claim(10, lease_s=60, room={"throttled": 0})
            # nothing now, and the claimer is told to look again when it comes of age, not at its retry time
            assert hidden.events == [] and hidden.next_visible_at_ms == now_ms + 200
            clock.advance(0.2)
            [expired] = (await queue.claim(10, lease_s=60, room={"throttled": 0})).events
            assert expired.request_id == claimed.request_id and expired.throttles == 1
            await queue.close()

        asyncio.run(scenario())

    def test_an_event_past_the_age_it_was_accepted_with_is_handed_out_without_room(self, open_queue) -> None:
        async def scenario() -> None:
            queue = open_queue()
            await queue.put(event("busy", 1))  # no age given: waits for room
            await queue.put(NewEvent("request-old", "busy", None, b"{}", max_age_s=0))
            [expired] = (await queue.claim(10, lease_s=60, room={"busy": 0})).events
            assert expired.request_id == "request-old"
            await queue.close()

        asyncio.run(scenario())

    def test_an_event_comes_of_age_its_max_age_after_it_was_put(self, open_queue, clock: FakeClock) -> None:
        async def scenario() -> None:
            queue = open_queue()
            put_ms = clock.time_ms()
            await queue.put(NewEvent("request-aging", "busy", None, b"{}", max_age_s=60))
            clock.advance(59.999)
            hidden = await queue.claim(10, lease_s=60, room={"busy": 0})
            # no room and not yet too old: the claimer is told when it will be
            assert hidden.events == [] and hidden.next_visible_at_ms == put_ms + 60_000
            clock.advance(0.001)
            [expired] = (await queue.claim(10, lease_s=60, room={"busy": 0})).events
            assert (expired.request_id, expired.enqueued_at_ms) == ("request-aging", put_ms)
            await queue.close()

        asyncio.run(scenario())

    def test_a_claim_whose_lease_ran_out_is_claimable_again_while_the_queue_runs(self, open_queue,
                                                                                 clock: FakeClock) -> None:
        async def scenario() -> None:
            queue = open_queue()
            await queue.put(event(n=1))
            [claimed] = (await queue.claim(10, lease_s=900)).events
            assert (await queue.claim(10, lease_s=60)).events == []  # leased: invisible to other claims
            [depth] = await queue.depths()
            assert (depth.depth, depth.running) == (1, 1)
            clock.advance(899.999)
            assert (await queue.claim(10, lease_s=60)).events == []  # the lease has a millisecond left
            clock.advance(0.001)  # its claimant went quiet (it died, or hung)
            [again] = (await queue.claim(10, lease_s=60)).events
            assert (again.event_id, again.request_id) == (claimed.event_id, claimed.request_id)
            assert (await queue.claim(10, lease_s=60)).events == []  # leased afresh
            await queue.finish(again.event_id)
            assert await queue.depths() == []
            await queue.close()

        asyncio.run(scenario())

    def test_an_expired_lease_of_a_discarded_function_is_removed_not_handed_out(self, open_queue,
                                                                                 clock: FakeClock) -> None:
        async def scenario() -> None:
            queue = open_queue()
            await queue.put(event("deleted"))
            await queue.claim(10, lease_s=900)
            assert await queue.discard_function("deleted") == 0  # running: removed when its run ends
            clock.advance(900)  # the run never ends
            assert (await queue.claim(10, lease_s=60)).events == []
            assert await queue.depths() == []
            await queue.close()

        asyncio.run(scenario())

    def test_reopening_puts_claimed_events_back_in_line(self, open_queue) -> None:
        async def scenario() -> None:
            queue = open_queue()
            await queue.put(event(n=1))
            await queue.put(event(n=2))
            [claimed] = (await queue.claim(1, lease_s=3600)).events
            await queue.release([])  # nothing to release: a no-op
            await queue.close()  # as if the server died with the event claimed
            reopened = open_queue()
            again = await reopened.claim(10, lease_s=60)
            assert sorted(e.request_id for e in again.events) == ["request-f-1", "request-f-2"]
            assert claimed.request_id in {e.request_id for e in again.events}
            await reopened.release([e.event_id for e in again.events])
            assert len((await reopened.claim(10, lease_s=60)).events) == 2
            await reopened.close()

        asyncio.run(scenario())

    def test_discard_function_removes_its_waiting_events_only(self, open_queue) -> None:
        async def scenario() -> None:
            queue = open_queue()
            for n in range(3):
                await queue.put(event("deleted", n))
            await queue.put(event("kept"))
            running = (await queue.claim(2, lease_s=60, room={"kept": 0})).events
            assert await queue.discard_function("deleted") == 1
            depths = {d.function_name: (d.depth, d.running) for d in await queue.depths()}
            assert depths == {"deleted": (2, 2), "kept": (1, 0)}
            # Its runs end: deferred or released, they are removed rather than put back in line.
            await queue.defer(running[0].event_id, Deferral(0, 1, 0))
            await queue.release([running[1].event_id])
            assert [d.function_name for d in await queue.depths()] == ["kept"]
            await queue.close()

        asyncio.run(scenario())

    def test_wait_for_put_wakes_on_a_put_and_times_out_otherwise(self, open_queue) -> None:
        async def scenario() -> None:
            queue = open_queue()
            started = time.monotonic()
            await queue.wait_for_put(0.2)
            assert time.monotonic() - started >= 0.19
            waiter = asyncio.ensure_future(queue.wait_for_put(10))
            await asyncio.sleep(0.05)
            await queue.put(event())
            await asyncio.wait_for(waiter, 2)
            await queue.close()

        asyncio.run(scenario())


class TestGroupCommit:
    def test_concurrent_units_share_commits_and_are_durable(self, tmp_path: Path) -> None:
        commits: list[int] = []

        class CountingWriter(GroupCommitWriter):
            def _finish(self, batch, outcomes):  # type: ignore[no-untyped-def]
                commits.append(len(batch))
                return super()._finish(batch, outcomes)

        async def scenario() -> None:
            db = connect(tmp_path / "g.db")
            db.execute("CREATE TABLE t (n INTEGER)")
            writer = CountingWriter(db)

            def insert(n: int):
                return lambda conn: conn.execute("INSERT INTO t VALUES (?)", (n,)).lastrowid

            results = await asyncio.gather(*(writer.run(insert(n)) for n in range(200)))
            assert len(set(results)) == 200
            await asyncio.to_thread(writer.close)

        asyncio.run(scenario())
        assert sum(commits) == 200 and len(commits) < 200  # grouped: fewer commits than units
        check = sqlite3.connect(tmp_path / "g.db")
        assert check.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 200

    def test_a_failing_unit_rolls_back_alone(self, tmp_path: Path) -> None:
        redone: list[int] = []

        class CountingWriter(GroupCommitWriter):
            def _commit_each_isolated(self, batch):  # type: ignore[no-untyped-def]
                redone.append(len(batch))
                return super()._commit_each_isolated(batch)

        async def scenario() -> None:
            db = connect(tmp_path / "g.db")
            db.execute("CREATE TABLE t (n INTEGER)")
            writer = CountingWriter(db)

            def slow(conn: sqlite3.Connection) -> None:
                time.sleep(0.2)  # the next three pile up meanwhile and are committed as one group
                conn.execute("INSERT INTO t VALUES (0)")

            def failing(conn: sqlite3.Connection) -> None:
                conn.execute("INSERT INTO t VALUES (-1)")  # written, then rolled back with its unit
                raise ValueError("refused")

            first = asyncio.ensure_future(writer.run(slow))
            await asyncio.sleep(0.05)
            outcomes = await asyncio.gather(
                writer.run(lambda conn: conn.execute("INSERT INTO t VALUES (1)")),
                writer.run(failing),
                writer.run(lambda conn: conn.execute("INSERT INTO t VALUES (2)")),
                return_exceptions=True,
            )
            await first
            assert isinstance(outcomes[1], ValueError) and not isinstance(outcomes[0], Exception)
            rows = await writer.run(lambda conn: sorted(r[0] for r in conn.execute("SELECT n FROM t")))
            assert rows == [0, 1, 2]
            await asyncio.to_thread(writer.close)

        asyncio.run(scenario())
        assert redone == [3]  # the group with the failing unit was redone unit by unit
