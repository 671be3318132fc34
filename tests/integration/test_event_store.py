"""The event store on real PostgreSQL (docs/architecture.md §3: append, order, append-only)."""

from __future__ import annotations

import asyncio
import random
from uuid import UUID

import psycopg
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from libs.events.envelope import EventMetadata
from libs.events.store import ConcurrencyError, EventStore
from tests.support.events import Probe

pytestmark = pytest.mark.backbone
ALICE = EventMetadata(actor="alice")


async def test_append_and_read_a_stream_with_full_envelope(store: EventStore) -> None:
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("command") as span:
        recorded = await store.append("s-1", 0, [Probe(n=1), Probe(n=2)], ALICE)
    assert [e.stream_version for e in recorded] == [1, 2]
    read = await store.read_stream("s-1")
    assert [e.event_id for e in read] == [e.event_id for e in recorded]
    assert read[0].global_position < read[1].global_position
    assert [await store.decode(e) for e in read] == [Probe(n=1), Probe(n=2)]
    first = read[0]
    assert first.actor == "alice"
    assert first.correlation_id == ALICE.correlation_id
    assert first.event_type == "BackboneProbe"
    assert first.schema_version == 1
    assert first.event_id < read[1].event_id, "event ids are time-ordered (UUIDv7)"
    trace_id = format(span.get_span_context().trace_id, "032x")
    assert trace_id in first.trace_context["traceparent"]
    assert trace.get_current_span() is trace.INVALID_SPAN


async def test_several_streams_are_read_at_once_each_after_its_own_version(
    store: EventStore,
) -> None:
    await store.append("a", 0, [Probe(n=1), Probe(n=2), Probe(n=3)], ALICE)
    await store.append("b", 0, [Probe(n=4), Probe(n=5)], ALICE)
    await store.append("c", 0, [Probe(n=6)], ALICE)
    read = await store.read_streams({"a": 1, "b": 0, "nothing-yet": 0})
    decoded = {stream: [await store.decode(e) for e in found] for stream, found in read.items()}
    assert decoded == {
        "a": [Probe(n=2), Probe(n=3)],
        "b": [Probe(n=4), Probe(n=5)],
        "nothing-yet": [],
    }
    assert [e.stream_version for e in read["a"]] == [2, 3]
    assert read["b"] == await store.read_stream("b"), "the same envelopes as read one by one"


async def test_an_append_on_a_connection_outside_a_transaction_is_refused(
    store: EventStore,
) -> None:
    async with store.pool.connection() as conn:
        with pytest.raises(RuntimeError, match="transaction"):
            await store.append("s-1", 0, [Probe(n=1)], ALICE, conn=conn)
    assert await store.read_stream("s-1") == []


async def test_same_expected_version_exactly_one_append_succeeds(store: EventStore) -> None:
    await store.append("s-1", 0, [Probe(n=0)], ALICE)
    results = await asyncio.gather(
        *(store.append("s-1", 1, [Probe(n=i)], ALICE) for i in (1, 2)), return_exceptions=True
    )
    assert sum(isinstance(r, ConcurrencyError) for r in results) == 1
    assert sum(isinstance(r, list) for r in results) == 1
    assert await store.stream_version("s-1") == 2


async def test_wrong_expected_version_is_typed_and_writes_nothing(store: EventStore) -> None:
    await store.append("s-1", 0, [Probe(n=0)], ALICE)
    with pytest.raises(ConcurrencyError, match="expected version 0 but it is at version 1"):
        await store.append("s-1", 0, [Probe(n=1), Probe(n=2)], ALICE)
    with pytest.raises(ConcurrencyError):
        await store.append("s-1", 5, [Probe(n=3)], ALICE)
    assert [await store.decode(e) for e in await store.read_stream("s-1")] == [Probe(n=0)]


async def test_appends_in_one_transaction_are_atomic_and_ordered(store: EventStore) -> None:
    async def conflicting_transaction() -> None:
        async with store.transaction() as conn:
            await store.append("a", 0, [Probe(n=1)], ALICE, conn=conn)
            await store.append("b", 0, [Probe(n=2)], ALICE, conn=conn)
            await store.append("a", 0, [Probe(n=3)], ALICE, conn=conn)

    with pytest.raises(ConcurrencyError):
        await conflicting_transaction()
    assert await store.read_log() == [], "a failed transaction leaves nothing behind"
    async with store.transaction() as conn:
        await store.append("a", 0, [Probe(n=1)], ALICE, conn=conn)
        await store.append("b", 0, [Probe(n=2), Probe(n=3)], ALICE, conn=conn)
    log = await store.read_log()
    assert [await store.decode(e) for e in log] == [Probe(n=1), Probe(n=2), Probe(n=3)]
    assert log[0].global_position + 2 == log[2].global_position


@pytest.mark.parametrize(
    "statement",
    ["UPDATE svc.events SET actor = 'mallory'", "DELETE FROM svc.events", "TRUNCATE svc.events"],
)
async def test_database_refuses_to_change_events(
    store: EventStore, database_url: str, statement: str
) -> None:
    await store.append("s-1", 0, [Probe(n=1)], ALICE)
    with (
        psycopg.connect(database_url) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(statement)
    assert [e.actor for e in await store.read_log()] == ["alice"]


async def test_every_committed_append_is_announced_and_nothing_else(
    store: EventStore, database_url: str
) -> None:
    """The relay wakes on the log's channel (libs/events/store.py, CommitNotifier): an append
    in its own transaction and one in a caller's transaction are each announced once they
    have committed; a transaction that appended nothing, or rolled back, is not."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as listener:
        await listener.execute(f'LISTEN "{store.notify_channel}"')

        async def announced() -> bool:
            # A missing announcement is waited for up to 30 s, far beyond the few
            # milliseconds a delivered one takes, so a slow machine cannot fail the test.
            async for _ in listener.notifies(timeout=30, stop_after=1):
                return True
            return False

        async def quiet() -> bool:
            async for _ in listener.notifies(timeout=0.5, stop_after=1):
                return False
            return True

        await store.append("announced-1", 0, [Probe(n=1)], ALICE)
        assert await announced(), "an append in its own transaction was not announced"
        async with store.transaction() as conn:
            await store.append("announced-2", 0, [Probe(n=2)], ALICE, conn=conn)
        assert await announced(), "an append in the caller's transaction was not announced"
        async with store.transaction() as conn:
            await store.read_stream("announced-1", conn=conn)

        async def fail_after_appending() -> None:
            async with store.transaction() as conn:
                await store.append("announced-3", 0, [Probe(n=3)], ALICE, conn=conn)
                raise RuntimeError("the caller's work failed")

        with pytest.raises(RuntimeError):
            await fail_after_appending()
        assert await quiet(), "a transaction that committed no event was announced"


async def test_tailing_reader_never_skips_while_writers_commit_out_of_order(
    store: EventStore,
) -> None:
    """8 writers append 4,000 events, each in its own transaction held open for a random
    moment so that transactions commit in a different order than they took positions.
    A reader tailing the log by position sees every event exactly once, in position order."""
    writers, per_writer = 8, 500
    rng = random.Random(7)
    commit_order: list[UUID] = []

    async def writer(w: int) -> None:
        for i in range(per_writer):
            stream = f"w{w}-{i % 25}"
            async with store.transaction() as conn:
                version = await store.stream_version(stream, conn=conn)
                [recorded] = await store.append(
                    stream, version, [Probe(n=i, writer=w)], ALICE, conn=conn
                )
                if rng.random() < 0.3:
                    await asyncio.sleep(rng.random() * 0.004)
            commit_order.append(recorded.event_id)

    seen: list[tuple[int, int, int]] = []
    done = asyncio.Event()

    async def reader() -> None:
        position = 0
        while len(seen) < writers * per_writer:
            batch = await store.read_log(after=position, limit=300)
            for envelope in batch:
                event = await store.decode(envelope)
                assert isinstance(event, Probe)
                seen.append((envelope.global_position, event.writer, event.n))
                position = envelope.global_position
            if not batch:
                if done.is_set() and not await store.read_log(after=position, limit=1):
                    break
                await asyncio.sleep(0.001)

    tail = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    await asyncio.wait_for(tail, 60)

    everything = await store.read_log(limit=10_000)
    position_of = {e.event_id: e.global_position for e in everything}
    committed = [position_of[event_id] for event_id in commit_order]
    assert committed != sorted(committed), "the scenario needs out-of-order commits"
    positions = [p for p, _, _ in seen]
    assert positions == sorted(positions)
    assert len(set(positions)) == len(positions)
    assert sorted((w, n) for _, w, n in seen) == [
        (w, n) for w in range(writers) for n in range(per_writer)
    ]
    assert [e.global_position for e in everything] == positions


async def test_one_transaction_cannot_overflow_into_the_next_ones_positions(
    store: EventStore,
) -> None:
    """The low 16 bits of a position number a transaction's events: 65,535 at most."""
    many = [Probe(n=i) for i in range(40_000)]

    async def too_many_in_one_transaction() -> None:
        async with store.transaction() as conn:
            await store.append("a", 0, many, ALICE, conn=conn)
            await store.append("b", 0, many, ALICE, conn=conn)

    with pytest.raises(psycopg.errors.CheckViolation, match="events_ordinal_in_range"):
        await too_many_in_one_transaction()
    assert await store.read_log(limit=1) == []


async def test_an_event_too_large_to_publish_is_refused_at_append(store: EventStore) -> None:
    from libs.events.store import MAX_PAYLOAD_BYTES, EventTooLarge

    huge = Probe(n=1, note="x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(EventTooLarge, match="split it or store the bulk elsewhere"):
        await store.append("huge", 0, [huge], ALICE)
    assert await store.read_log() == []
