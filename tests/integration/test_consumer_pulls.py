"""How consumers pull (libs/events/consumer.py, `pull_batches`): an idle consumer waits in one
long pull instead of polling, an event that arrives is applied at once whatever is left of
that wait, a backlog is taken in batches without waiting for them to fill, stopping a
consumer does not wait for its pull to end, and a consumer pulls again as soon as its
connection is back. On real PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from faststream.nats import NatsBroker
from nats.errors import Error as NatsError

from libs.events.broker import ensure_streams, make_broker
from libs.events.consumer import BATCH_SIZE
from libs.events.envelope import EventMetadata
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from libs.events.subjects import EVENT_STREAM
from talentledger.stack.servers import EmbeddedNats
from tests.support.backbone import (
    HANDLER,
    create_effects_table,
    effect_counts,
    eventually,
    start_consumer,
    wait_until,
)
from tests.support.events import Probe
from tests.support.servers import Nats

pytestmark = pytest.mark.backbone
ACTOR = EventMetadata(actor="tests")
# Far longer than any wait below may take: a consumer that sat out its pull before applying
# an event, or before stopping, fails these tests.
LONG = 120.0


@pytest.fixture(autouse=True)
def effects_table(database_url: str, schema: str) -> None:
    create_effects_table(database_url)


@pytest.fixture
async def relaying(store: EventStore, broker: NatsBroker) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(OutboxRelay(store, broker, poll_interval=0.2).run(stop))
    yield
    stop.set()
    await asyncio.wait_for(task, 20)


@pytest.fixture
async def consumer_broker(nats: Nats) -> AsyncIterator[NatsBroker]:
    """A connection of the consumer's own, so that what it sends is all the consumer's."""
    broker = make_broker(nats.url, client_name="consumer", credentials=nats.credentials())
    yield broker
    await broker.stop()


async def pulls_waiting(broker: NatsBroker) -> bool:
    """Whether each of the consumer's durables (events and replays) has a pull waiting on
    the server."""
    js = broker.connection.jetstream()
    infos = [await js.consumer_info(EVENT_STREAM, durable) for durable in HANDLER.durables]
    return all(info.num_waiting >= 1 for info in infos)


async def start_waiting(consumer: NatsBroker, store: EventStore, broker: NatsBroker) -> None:
    """Start the consumer, pulling with a long wait, and return once its pulls wait."""
    start_consumer(consumer, store, idle_wait=LONG)
    await consumer.start()
    await eventually(lambda: pulls_waiting(broker), 30, "the consumer's pulls to wait")


async def test_an_idle_consumer_waits_in_one_pull_and_applies_an_event_at_once(
    store: EventStore,
    broker: NatsBroker,
    consumer_broker: NatsBroker,
    database_url: str,
    relaying: None,
) -> None:
    await start_waiting(consumer_broker, store, broker)

    # Idle: a consumer polling every 50 ms would send some 120 pull requests in 3 s.
    sent = consumer_broker.connection.stats["out_msgs"]
    await asyncio.sleep(3)
    assert consumer_broker.connection.stats["out_msgs"] - sent == 0, "no request while idle"
    assert await pulls_waiting(broker), "its pulls still wait"

    appended = time.monotonic()
    await store.append("probe-1", 0, [Probe(n=1)], ACTOR)
    await wait_until(lambda: effect_counts(database_url) == {1: 1}, 30, "the effect")
    took = time.monotonic() - appended
    assert took < LONG / 4, f"applied {took:.1f}s after its append: the pull sat out its wait"


async def test_a_backlog_is_applied_in_full_batches_without_waiting_for_more(
    store: EventStore,
    broker: NatsBroker,
    consumer_broker: NatsBroker,
    database_url: str,
    relaying: None,
) -> None:
    count = 3 * BATCH_SIZE
    for n in range(count):
        await store.append(f"probe-{n}", 0, [Probe(n=n)], ACTOR)
    js = broker.connection.jetstream()

    async def published() -> bool:
        return bool((await js.stream_info(EVENT_STREAM)).state.messages == count)

    await eventually(published, 30, "the backlog on the stream")

    started = time.monotonic()
    start_consumer(consumer_broker, store, idle_wait=LONG)
    await consumer_broker.start()
    await wait_until(
        lambda: len(effect_counts(database_url)) == count,
        30,
        f"{count} effects",
        progress=lambda: len(effect_counts(database_url)),
    )
    took = time.monotonic() - started
    assert took < LONG / 4, f"{count} events took {took:.1f}s: a batch waited out the pull"
    assert set(effect_counts(database_url).values()) == {1}
    # Rows written by one transaction share its id (xmin): one per batch applied.
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(DISTINCT xmin::text) FROM svc.effects").fetchone()
    assert row is not None
    transactions = row[0]
    # The first pull brings one event, each top-up the rest of a batch of BATCH_SIZE.
    assert transactions <= count // BATCH_SIZE + 2, f"{transactions} transactions for {count}"


async def test_stopping_a_consumer_mid_pull_is_prompt(
    store: EventStore, broker: NatsBroker, consumer_broker: NatsBroker
) -> None:
    await start_waiting(consumer_broker, store, broker)

    started = time.monotonic()
    await asyncio.wait_for(consumer_broker.stop(), LONG / 4)
    took = time.monotonic() - started
    assert took < 5, f"stopping took {took:.1f}s"


@pytest.mark.own_servers
async def test_a_consumer_pulls_again_as_soon_as_its_connection_is_back(
    store: EventStore, database_url: str, tmp_path: Path
) -> None:
    """NATS restarts while the consumer waits in its pulls, which are lost with the server's
    memory: the consumer pulls again once it has reconnected, not at the end of its wait."""
    server = EmbeddedNats(tmp_path / "nats")
    url = server.start()
    operator = make_broker(url, client_name="operator")
    consumer = make_broker(url, client_name="consumer")
    try:
        await operator.connect()
        await ensure_streams(operator)
        await start_waiting(consumer, store, operator)
        server.stop()
        server.start(port=int(url.rsplit(":", 1)[1]))

        async def waiting_again() -> bool:
            try:
                return await pulls_waiting(operator)
            except (NatsError, TimeoutError):  # the operator's connection is not back yet
                return False

        await eventually(waiting_again, 30, "the consumer's pulls to wait again")
        await store.append("probe-1", 0, [Probe(n=1)], ACTOR)
        assert await OutboxRelay(store, operator).relay_once() == 1
        await wait_until(lambda: effect_counts(database_url) == {1: 1}, 30, "the effect")
    finally:
        await consumer.stop()
        await operator.stop()
        server.stop()
