"""Outbox relay, inbox and dead letters on real PostgreSQL and NATS JetStream
(docs/architecture.md §3: committed once, published at least once, applied exactly once)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from faststream.nats import NatsBroker

from libs.events.broker import BODY_OBJECT, claimed_body, ensure_streams, make_broker, stash_body
from libs.events.consumer import replay_dead_letters
from libs.events.envelope import Envelope, EventMetadata
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from libs.events.subjects import DEAD_LETTER_STREAM, EVENT_STREAM, PAYLOAD_BUCKET
from talentledger.stack.servers import EmbeddedNats
from tests.support.backbone import (
    append_probes,
    create_effects_table,
    effect_counts,
    effect_counts_or_none,
    start_consumer,
    wait_until,
)
from tests.support.envelopes import envelope
from tests.support.events import Probe
from tests.support.servers import Nats

pytestmark = pytest.mark.backbone
ACTOR = EventMetadata(actor="tests")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def effects_table(database_url: str, schema: str) -> None:
    create_effects_table(database_url)


async def consume(broker: NatsBroker, store: EventStore, **options: Any) -> None:
    start_consumer(broker, store, **options)
    await broker.start()


@pytest.fixture
async def relays() -> AsyncIterator[list[tuple[asyncio.Event, asyncio.Task[None]]]]:
    """Relays started by a test, stopped after it whatever happens."""
    started: list[tuple[asyncio.Event, asyncio.Task[None]]] = []
    yield started
    for stop, task in started:
        stop.set()
        await asyncio.wait_for(task, 20)


@pytest.fixture
def start_relay(
    relays: list[tuple[asyncio.Event, asyncio.Task[None]]],
) -> Callable[[EventStore, NatsBroker], None]:
    def start(store: EventStore, broker: NatsBroker) -> None:
        stop = asyncio.Event()
        relay = OutboxRelay(store, broker, poll_interval=0.2)
        relays.append((stop, asyncio.create_task(relay.run(stop))))

    return start


async def test_appended_events_reach_a_consumer_once(
    store: EventStore,
    broker: NatsBroker,
    database_url: str,
    start_relay: Callable[[EventStore, NatsBroker], None],
) -> None:
    await consume(broker, store)
    start_relay(store, broker)
    await append_probes(store, range(50))
    await wait_until(lambda: len(effect_counts(database_url)) == 50, 30, "50 effects")
    assert set(effect_counts(database_url).values()) == {1}


@pytest.mark.own_servers
async def test_nats_outage_during_appends_delays_but_loses_nothing(
    store: EventStore,
    database_url: str,
    tmp_path: Path,
    start_relay: Callable[[EventStore, NatsBroker], None],
) -> None:
    """NATS is stopped while 1,000 events are appended and restarted later: every event
    reaches the consumer and is applied exactly once."""
    nats = EmbeddedNats(tmp_path / "nats")
    url = nats.start()
    port = int(url.rsplit(":", 1)[1])
    relay_broker = make_broker(url, client_name="relay")
    consumer_broker = make_broker(url, client_name="consumer")
    await relay_broker.connect()
    await ensure_streams(relay_broker)
    start_consumer(consumer_broker, store)
    await consumer_broker.start()
    start_relay(store, relay_broker)
    try:
        appends = asyncio.create_task(append_probes(store, range(1000), delay=0.002))
        await wait_until(lambda: len(effect_counts(database_url)) > 50, 30, "some effects")
        nats.stop()
        await asyncio.sleep(2)
        nats.start(port=port)
        await appends
        await wait_until(
            lambda: len(effect_counts(database_url)) == 1000,
            90,
            "all 1,000 effects",
            progress=lambda: len(effect_counts(database_url)),
        )
        assert set(effect_counts(database_url).values()) == {1}
    finally:
        await consumer_broker.stop()
        await relay_broker.stop()
        nats.stop()


async def test_relay_killed_mid_batch_resumes_without_loss_or_duplicates(
    store: EventStore, broker: NatsBroker, database_url: str, nats: Nats, tmp_path: Path
) -> None:
    await consume(broker, store)
    await append_probes(store, range(3000))
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        **nats.env(),
        "TALENTLEDGER_TRACE_DIR": str(tmp_path),
    }
    relay = ("-m", "tests.support.probe_cli", "events", "relay", "--schema", "svc")
    relay = (*relay, "--batch-size", "100")
    first = await asyncio.create_subprocess_exec(sys.executable, *relay, env=env, cwd=ROOT)
    try:
        await wait_until(
            lambda: len(effect_counts(database_url)) >= 300,
            60,
            "relay progress",
            progress=lambda: len(effect_counts(database_url)),
        )
    finally:
        first.kill()
        await first.wait()
    assert len(effect_counts(database_url)) < 3000, "killed mid-way, or the test means nothing"
    second = await asyncio.create_subprocess_exec(sys.executable, *relay, env=env, cwd=ROOT)
    try:
        await wait_until(
            lambda: len(effect_counts(database_url)) == 3000,
            60,
            "all effects",
            progress=lambda: len(effect_counts(database_url)),
        )
    finally:
        second.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(second.wait(), 20) == 0, "SIGTERM stops the relay cleanly"
    assert set(effect_counts(database_url).values()) == {1}
    stream = await broker.connection.jetstream().stream_info(EVENT_STREAM)
    assert stream.state.messages == 3000, "JetStream de-duplicated republished events by id"


async def test_consumer_crash_after_effect_before_ack_has_no_second_effect(
    store: EventStore,
    broker: NatsBroker,
    database_url: str,
    nats: Nats,
    start_relay: Callable[[EventStore, NatsBroker], None],
) -> None:
    await append_probes(store, range(1))
    start_relay(store, broker)
    env = {**os.environ, "DATABASE_URL": database_url, **nats.env()}
    crashing = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.crashing_consumer", env=env, cwd=ROOT
    )
    await asyncio.wait_for(crashing.wait(), 60)
    assert crashing.returncode == 17, "the consumer died between its commit and its ack"
    assert effect_counts(database_url) == {0: 1}
    await consume(broker, store, ack_wait=2.0)
    info = None
    for _ in range(100):
        info = await broker.connection.jetstream().consumer_info(EVENT_STREAM, "svc-effects")
        if info.num_ack_pending == 0 and info.num_pending == 0 and info.delivered.consumer_seq >= 2:
            break
        await asyncio.sleep(0.1)
    assert info is not None
    assert info.delivered.consumer_seq >= 2, "the event was redelivered"
    assert info.num_ack_pending == 0, "and acknowledged this time"
    assert effect_counts(database_url) == {0: 1}, "without a second effect"


async def test_malformed_message_is_dead_lettered_and_the_consumer_keeps_serving(
    store: EventStore,
    broker: NatsBroker,
    database_url: str,
    start_relay: Callable[[EventStore, NatsBroker], None],
) -> None:
    await consume(broker, store)
    js = broker.connection.jetstream()
    subject = "talentledger.svc.backbone_probe.v1"
    garbage = {
        b"{not json": {},
        # claims to be JSON: a decoder trusting the header would fail before the handler
        b"\xff{also not json": {"content-type": "application/json"},
        b'{"event_type": "BackboneProbe"}': {},
    }
    for n, (body, headers) in enumerate(garbage.items()):
        await js.publish(subject, body, headers={"Nats-Msg-Id": f"garbage-{n}", **headers})
    start_relay(store, broker)
    await append_probes(store, range(3))
    await wait_until(lambda: len(effect_counts(database_url)) == 3, 30, "the good events")
    dead = await js.pull_subscribe("deadletter.>", stream=DEAD_LETTER_STREAM)
    letters = await dead.fetch(len(garbage), timeout=5)
    assert sorted(m.data for m in letters) == sorted(garbage)
    for letter in letters:
        assert letter.subject == "deadletter.svc-effects.talentledger.svc.backbone_probe.v1"
        assert letter.headers["tl-dead-letter-reason"].startswith("malformed: not an event")
        assert letter.headers["tl-consumer"] == "svc-effects"


async def test_failing_event_is_retried_then_dead_lettered_and_replayed_once(
    store: EventStore,
    broker: NatsBroker,
    database_url: str,
    start_relay: Callable[[EventStore, NatsBroker], None],
) -> None:
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO svc.failures VALUES (1)")
    await consume(broker, store, max_attempts=3)
    start_relay(store, broker)
    await append_probes(store, range(3))
    js = broker.connection.jetstream()
    await wait_until(lambda: len(effect_counts(database_url)) == 2, 30, "the good events")
    for _ in range(100):
        if (await js.stream_info(DEAD_LETTER_STREAM)).state.messages == 1:
            break
        await asyncio.sleep(0.1)
    [letter] = await (await js.pull_subscribe("deadletter.>", stream=DEAD_LETTER_STREAM)).fetch(
        1, timeout=5
    )
    assert letter.headers["tl-attempts"] == "3"
    # The handler's message ("probe 1 is set to fail") stays in the service's log.
    assert letter.headers["tl-dead-letter-reason"] == "RuntimeError"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM svc.failures")
    assert await replay_dead_letters(broker) == 1
    await wait_until(
        lambda: effect_counts(database_url) == {0: 1, 1: 1, 2: 1}, 30, "the replayed event"
    )
    assert await replay_dead_letters(broker) == 0, "a replayed dead letter is not replayed again"


@pytest.mark.own_servers
async def test_database_outage_is_waited_out_by_consumers_not_dead_lettered(
    broker: NatsBroker, store: EventStore, server_dir: Path
) -> None:
    """The consumer's own PostgreSQL stops while events arrive, for longer than its retry
    budget: every event is applied once it is back, and nothing is dead-lettered."""
    from psycopg_pool import AsyncConnectionPool

    from libs.events.migrations import migrate
    from talentledger.stack.servers import EmbeddedPostgres

    await append_probes(store, range(20))
    relay = OutboxRelay(store, broker)
    while await relay.relay_once():
        pass

    postgres = EmbeddedPostgres(server_dir / f"outage-{id(relay)}")
    url = postgres.start()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    try:
        await asyncio.to_thread(migrate, url, "svc")
        create_effects_table(url)
        postgres.stop()
        # A short pool timeout, so that the outage shows as errors, not only as waiting.
        async with AsyncConnectionPool(
            url, min_size=0, max_size=4, timeout=0.2, open=False
        ) as pool:
            consumer_store = EventStore(pool, "svc")
            await consume(broker, consumer_store, max_attempts=2)
            js = broker.connection.jetstream()
            # Until the first batch of 10 was delivered 3 times: beyond max_attempts.
            for _ in range(300):
                info = await js.consumer_info(EVENT_STREAM, "svc-effects")
                if info.delivered.consumer_seq >= 30 and info.num_redelivered >= 10:
                    break
                await asyncio.sleep(0.1)
            assert info.delivered.consumer_seq >= 30, "the outage outlasted the retry budget"
            assert effect_counts_or_none(url) is None, "the database really was down"
            postgres.start(port=port)
            await wait_until(lambda: len(effect_counts(url)) == 20, 60, "all effects")
            await consumer_store.close()
        assert set(effect_counts(url).values()) == {1}
        dead = await js.stream_info(DEAD_LETTER_STREAM)
        assert dead.state.messages == 0, "an outage is not the events' fault"
    finally:
        postgres.stop()


async def test_an_event_too_large_for_one_message_travels_by_claim_check(
    store: EventStore, broker: NatsBroker, database_url: str
) -> None:
    """NATS refuses messages over 1 MiB: the body goes to the payload object store and the
    message carries its name; consumers fetch it, and a republish rewrites the same object."""
    await consume(broker, store)
    note = "é" * (2 * 1024 * 1024)  # 4 MiB of UTF-8
    await store.append("large", 0, [Probe(n=1, note=note), Probe(n=2)], ACTOR)
    relay = OutboxRelay(store, broker)
    assert await relay.relay_once() == 2
    await wait_until(lambda: effect_counts(database_url) == {1: 1, 2: 1}, 30, "both effects")

    js = broker.connection.jetstream()
    first = await js.get_msg(EVENT_STREAM, seq=1)
    assert len(first.data) < 4096, "the message holds the envelope without its payload"
    [event] = await store.read_stream("large", after_version=0, until_version=1)
    assert first.headers[BODY_OBJECT] == str(event.event_id)
    stored = await (await js.object_store(PAYLOAD_BUCKET)).get(str(event.event_id))
    assert Envelope.model_validate_json(stored.data).payload["note"] == note

    relay.position = 0  # as after a crash before the checkpoint: everything is sent again
    assert await relay.relay_once() == 2
    assert (await js.stream_info(EVENT_STREAM)).state.messages == 2, "JetStream de-duplicated"
    await asyncio.sleep(1)
    assert effect_counts(database_url) == {1: 1, 2: 1}


async def test_a_claimed_body_read_while_the_service_is_busy_ends_and_is_read_again(
    broker: NatsBroker,
) -> None:
    """A service busy for seconds as it begins reading a claimed body (a long computation on
    its event loop) gets the body or a timeout, never a read that waits for ever and holds
    its consumer; the message is then tried again and its body read."""
    large = envelope(Probe(n=1, note="x" * (6 * 1024 * 1024)), "large")
    body = large.model_dump_json().encode()
    _, claim = await stash_body(broker, large, body)

    async def busy() -> None:
        time.sleep(6)  # noqa: ASYNC251 - the stall is the point: longer than a heartbeat

    stall = asyncio.create_task(busy())
    try:
        got: bytes | None = await asyncio.wait_for(claimed_body(broker, claim), 60)
    except TimeoutError:
        got = None  # a request that timed out during the stall: the message comes back
    await stall
    assert got in (None, body)
    assert await asyncio.wait_for(claimed_body(broker, claim), 60) == body
