"""Pruning the consumers' inbox on real PostgreSQL and NATS JetStream (libs/events/pruning.py):
rows past the event retention and its margin go, younger ones stay and still drop repeats.

Row ages are set directly by the schema's owner: no test waits for a clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID, uuid4

import psycopg
import pytest
from faststream.nats import NatsBroker

from libs.events.broker import headers_of, subject_of_envelope
from libs.events.envelope import Envelope, EventMetadata
from libs.events.pruning import MARGIN, InboxPruning
from libs.events.store import EventStore
from libs.events.subjects import EVENT_STREAM
from tests.support.backbone import (
    HANDLER,
    create_effects_table,
    effect_counts,
    eventually,
    start_consumer,
    wait_until,
)
from tests.support.events import Probe

pytestmark = pytest.mark.backbone
RETENTION_DAYS = 30
KEPT_FOR = timedelta(days=RETENTION_DAYS) + MARGIN


def handled(database_url: str, rows: dict[tuple[str, UUID], timedelta]) -> None:
    """Record inbox rows (consumer, event id) as handled that long ago."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for (consumer, event_id), age in rows.items():
            conn.execute(
                "INSERT INTO svc.inbox (consumer, event_id, handled_at) "
                "VALUES (%s, %s, now() - %s) ON CONFLICT (consumer, event_id) "
                "DO UPDATE SET handled_at = excluded.handled_at",
                (consumer, event_id, age),
            )


def inbox(database_url: str) -> set[tuple[str, UUID]]:
    with psycopg.connect(database_url) as conn:
        return {(c, e) for c, e in conn.execute("SELECT consumer, event_id FROM svc.inbox")}


async def test_rows_past_the_retention_and_a_day_are_pruned_in_batches_and_younger_kept(
    store: EventStore, database_url: str
) -> None:
    minute = timedelta(minutes=1)
    old = {(f"svc-{n % 2}", uuid4()): KEPT_FOR + minute * (n + 1) for n in range(7)}
    young = {
        ("svc-0", uuid4()): KEPT_FOR - minute,  # inside the margin: a redelivery may still come
        ("svc-1", uuid4()): timedelta(days=RETENTION_DAYS) - minute,
        ("svc-2", uuid4()): timedelta(0),
    }
    handled(database_url, {**old, **young})
    pruning = InboxPruning(store, RETENTION_DAYS, batch_size=3)
    assert await pruning.prune() == 7
    assert inbox(database_url) == set(young)
    assert await pruning.prune() == 0, "running again finds nothing more"
    assert inbox(database_url) == set(young)


async def test_pruning_deletes_no_batch_once_asked_to_stop(
    store: EventStore, database_url: str
) -> None:
    handled(database_url, {("svc-0", uuid4()): KEPT_FOR * 2 for _ in range(5)})
    stop = asyncio.Event()
    stop.set()
    assert await InboxPruning(store, RETENTION_DAYS, batch_size=2).prune(stop) == 0
    assert len(inbox(database_url)) == 5


async def test_the_schedule_prunes_at_once_and_ends_when_stopped(
    store: EventStore, database_url: str
) -> None:
    young = {("svc-0", uuid4()): timedelta(0)}
    handled(database_url, {("svc-0", uuid4()): KEPT_FOR * 2, **young})
    stop = asyncio.Event()
    schedule = asyncio.create_task(InboxPruning(store, RETENTION_DAYS).run(stop, 3600))
    await wait_until(lambda: inbox(database_url) == set(young), 30, "the first pruning")
    stop.set()
    await asyncio.wait_for(schedule, 5)


async def test_a_repeat_inside_the_window_is_dropped_and_one_past_it_applies_again(
    store: EventStore, broker: NatsBroker, database_url: str
) -> None:
    """Two events are applied; then one's inbox row is aged past the window, the other's to
    just inside it, the inbox is pruned, and both are delivered again. The one inside the
    window is dropped as a repeat; the pruned one applying again shows the copies arrived."""
    create_effects_table(database_url)
    start_consumer(broker, store)
    await broker.start()
    for n in range(2):
        await store.append(f"probe-{n}", 0, [Probe(n=n)], EventMetadata(actor="tests"))
    past, inside = await store.read_log()
    for envelope in (past, inside):
        await publish(broker, envelope, str(envelope.event_id))
    await wait_until(lambda: effect_counts(database_url) == {0: 1, 1: 1}, 30, "2 effects")
    handled(
        database_url,
        {
            (HANDLER.consumer, past.event_id): KEPT_FOR + timedelta(minutes=1),
            (HANDLER.consumer, inside.event_id): KEPT_FOR - timedelta(minutes=1),
        },
    )
    assert await InboxPruning(store, RETENTION_DAYS).prune() == 1
    assert inbox(database_url) == {(HANDLER.consumer, inside.event_id)}
    for envelope in (inside, past):
        await publish(broker, envelope, f"again-{envelope.event_id}")
    await wait_until(lambda: effect_counts(database_url).get(0) == 2, 30, "the pruned one again")
    js = broker.connection.jetstream()

    async def settled() -> bool:
        info = await js.consumer_info(EVENT_STREAM, HANDLER.consumer)
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(settled, 30, "both copies acknowledged")
    assert effect_counts(database_url) == {0: 2, 1: 1}, "the repeat inside the window dropped"


async def publish(broker: NatsBroker, envelope: Envelope, message_id: str) -> None:
    """`envelope` in the stream as the relay publishes it, under `message_id`: another id
    stores another copy, as a republish after JetStream's de-duplication window does."""
    await broker.connection.jetstream().publish(
        subject_of_envelope(envelope),
        envelope.model_dump_json().encode(),
        headers={**headers_of(envelope), "Nats-Msg-Id": message_id},
        stream=EVENT_STREAM,
    )
