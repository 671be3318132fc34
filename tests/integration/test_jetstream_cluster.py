"""The event backbone on a 3-node JetStream cluster, as deployed (deploy/README.md): every
stream and the payload store replicated 3 times, and a node killed while events are appended,
relayed and consumed, then restarted, loses nothing and applies nothing twice
(docs/architecture.md §3). On real PostgreSQL and three embedded nats-servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from faststream.nats import NatsBroker

from libs.events.broker import StreamDefaults, ensure_streams, make_broker
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore
from libs.events.subjects import DEAD_LETTER_STREAM, EVENT_STREAM, INTAKE_STREAM, PAYLOAD_STREAM
from tests.support import backbone
from tests.support.events import Probe
from tests.support.servers import NatsCluster

pytestmark = [pytest.mark.backbone, pytest.mark.own_servers]
REPLICATED = StreamDefaults(nats_stream_replicas=3)
NODES = ["nats-1", "nats-2", "nats-3"]
PROBES = 120
# Past the 512 KiB a message may carry inline: its body travels through the payload store.
LARGE = PROBES
LARGE_NOTE = "x" * (600 * 1024)


@pytest.fixture
def effects_table(database_url: str, schema: str) -> None:
    backbone.create_effects_table(database_url)


@pytest.fixture
async def operator(nats_cluster: NatsCluster) -> AsyncIterator[NatsBroker]:
    """The operator's connection, on streams and a payload store replicated 3 times."""
    nats = nats_cluster.nats
    broker = make_broker(nats.url, client_name="operator", credentials=nats.credentials())
    await broker.connect()
    await ensure_streams(broker, REPLICATED)
    yield broker
    await broker.stop()


def inbox_count(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM svc.inbox WHERE consumer = %s", (backbone.HANDLER.consumer,)
        ).fetchone()
    return int(row[0]) if row else 0


async def test_streams_and_the_payload_store_follow_the_replica_setting(
    operator: NatsBroker,
) -> None:
    """Every stream and the payload store, also when they exist already: brought down to
    one copy, then back to one on every node."""
    js = operator.connection.jetstream()
    everything = (EVENT_STREAM, DEAD_LETTER_STREAM, INTAKE_STREAM, PAYLOAD_STREAM)

    async def placed() -> dict[str, list[str]]:
        """Each stream's nodes, its leader first, once every one has a leader."""
        found = {}
        for stream in everything:
            cluster = (await js.stream_info(stream)).cluster
            if cluster is None or not cluster.leader:
                return {}
            found[stream] = [cluster.leader, *(r.name for r in cluster.replicas or [])]
        return found

    await ensure_streams(operator, StreamDefaults(nats_stream_replicas=1))
    for stream in everything:
        assert (await js.stream_info(stream)).config.num_replicas == 1, stream
    await ensure_streams(operator, REPLICATED)
    for stream in everything:
        assert (await js.stream_info(stream)).config.num_replicas == 3, stream

    async def on_every_node() -> bool:
        nodes = await placed()
        return bool(nodes) and all(sorted(each) == NODES for each in nodes.values())

    await backbone.eventually(on_every_node, 30, "a replica of each on every node")


@pytest.mark.usefixtures("effects_table")
async def test_a_node_killed_mid_flow_loses_nothing_and_applies_nothing_twice(
    nats_cluster: NatsCluster,
    operator: NatsBroker,
    store: EventStore,
    database_url: str,
) -> None:
    """The event stream's leader is SIGKILLed while events are appended and consumed, a
    claim-checked event is appended while it is down, and it is restarted: every event is
    applied exactly once, and the restarted node catches up on every event."""
    nats = nats_cluster.nats
    relay_broker = make_broker(nats.url, client_name="relay", credentials=nats.credentials())
    consumer_broker = make_broker(nats.url, client_name="consumer", credentials=nats.credentials())
    stop_relay = asyncio.Event()
    relay: asyncio.Task[None] | None = None
    try:
        await relay_broker.connect()
        relay = asyncio.create_task(
            OutboxRelay(store, relay_broker, poll_interval=0.2).run(stop_relay)
        )
        backbone.start_consumer(consumer_broker, store)
        await consumer_broker.start()
        killed = asyncio.Event()

        async def appending() -> None:
            """Half the events before the kill, half while the node is down."""
            await backbone.append_probes(store, range(PROBES // 2), delay=0.01)
            await killed.wait()
            await backbone.append_probes(store, range(PROBES // 2, PROBES), delay=0.01)

        appends = asyncio.create_task(appending())

        def applied() -> int:
            return len(backbone.effect_counts(database_url))

        await backbone.wait_until(lambda: applied() >= 20, 30, "effects before the kill", applied)
        js = operator.connection.jetstream()
        leader = (await js.stream_info(EVENT_STREAM)).cluster.leader  # type: ignore[union-attr]
        assert leader is not None
        victim = nats_cluster.node(leader)
        nats_cluster.kill(victim)
        killed.set()

        await store.append("large", 0, [Probe(n=LARGE, note=LARGE_NOTE)], backbone.ACTOR)
        await backbone.wait_until(
            lambda: LARGE in backbone.effect_counts(database_url),
            30,
            "the large event, with a node down",
            applied,
        )
        await asyncio.to_thread(nats_cluster.start, victim)
        await appends
        await backbone.wait_until(lambda: applied() == PROBES + 1, 30, "every effect", applied)
        assert backbone.effect_counts(database_url) == dict.fromkeys(range(PROBES + 1), 1)
        assert inbox_count(database_url) == PROBES + 1
        stream = await js.stream_info(EVENT_STREAM)
        assert stream.state.messages == PROBES + 1, "republished events were de-duplicated"

        def replicas() -> list[int | None]:
            return [node.stored_messages(EVENT_STREAM) for node in nats_cluster.nodes]

        # Each node's own copy, the restarted one's caught up on what it missed.
        await backbone.wait_until(
            lambda: replicas() == [PROBES + 1] * 3, 30, "3 full copies", replicas
        )
    finally:
        stop_relay.set()
        if relay is not None:
            await asyncio.wait_for(relay, 20)
        await consumer_broker.stop()
        await relay_broker.stop()
