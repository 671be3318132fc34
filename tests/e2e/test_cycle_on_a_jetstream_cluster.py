"""A review cycle runs on a 3-node JetStream cluster and survives losing a node mid-campaign
(deploy/README.md, What the tests prove of a cluster).

The whole stack (`talentledger up`) is given the cluster as its external NATS: every node's
URL in `NATS_URL`, so each client fails over, and every stream and the payload store
replicated 3 times (`NATS_STREAM_REPLICAS=3`). Right after half the people have rated, while
their submissions are relayed and consumed, the node the assessment service is connected to,
made the event stream's leader first, gets SIGKILL: the service's relay and consumers fail
over to another node, and the stream elects another leader. The others rate, the campaign
closes and calibration opens on the two nodes left. The node is restarted once the
calibration session is under review, and the cycle runs to its end. A broker outage delays
and loses nothing, and a redelivery has no second effect (docs/architecture.md §3, Outbox
relay and Inbox): the cycle must complete with each effect once, and the restarted node's
copy of the event stream must catch up.

The stack's processes connect as the operator identity here: `talentledger up` gives each
service its own NKey identity only on the NATS it starts itself. The services' own
identities on a server are proven by tests/integration/test_broker_identities.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import nats.errors
import pytest
from faststream.nats import NatsBroker

from libs.events.broker import make_broker
from libs.events.subjects import DEAD_LETTER_STREAM, EVENT_STREAM, INTAKE_STREAM, PAYLOAD_STREAM
from talentledger.cycle_driver import CycleDriver
from talentledger.stack.servers import EmbeddedNats
from tests.support import backbone
from tests.support.cycles import (
    FAR_DEADLINES,
    assert_each_effect_once,
    calibrated_to_the_end,
    half_rated,
    prepare,
)
from tests.support.servers import NatsCluster
from tests.support.stack import RunningStack, running_stack

pytestmark = pytest.mark.own_servers

PEOPLE = 40
REPLICAS = 3
STREAMS = (EVENT_STREAM, DEAD_LETTER_STREAM, INTAKE_STREAM, PAYLOAD_STREAM)
# Placing replicas, electing leaders and catching a restarted node up take seconds.
SETTLE = 60.0


@pytest.fixture
def cluster_stack(
    nats_cluster: NatsCluster, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunningStack]:
    """`talentledger up` on the cluster, and the same settings in the test's environment
    for its own clients (the LMS integration publishing course completions)."""
    for name, value in (nats_cluster.nats.env() | {"NATS_STREAM_REPLICAS": str(REPLICAS)}).items():
        monkeypatch.setenv(name, value)
    with running_stack() as stack:
        yield stack


@pytest.fixture
async def operator(nats_cluster: NatsCluster) -> AsyncIterator[NatsBroker]:
    nats = nats_cluster.nats
    broker = make_broker(nats.url, client_name="operator", credentials=nats.credentials())
    await broker.connect()
    yield broker
    await broker.stop()


async def test_a_cycle_completes_with_each_effect_once_when_a_nats_node_is_killed(
    tmp_path: Path,
    nats_cluster: NatsCluster,
    cluster_stack: RunningStack,
    operator: NatsBroker,
) -> None:
    stack = cluster_stack
    assert "external" in stack.cli("status")
    js = operator.connection.jetstream()
    for stream in STREAMS:
        config = (await js.stream_info(stream)).config
        assert config.num_replicas == REPLICAS, (stream, config)
    cycle = await prepare(stack, tmp_path, PEOPLE, last_number=1, schedule=FAR_DEADLINES)
    try:
        await the_cycle(nats_cluster, operator, cycle)
        done = await cycle.status()
    finally:
        await cycle.close()
    assert done["status"] == "COMPLETED", done
    assert_each_effect_once(stack.state["database_url"], cycle.cycle_id, 1)

    async def copies() -> list[int | None]:
        """Each node's own copy of the event stream, once all hold what the stream holds."""
        stored = (await js.stream_info(EVENT_STREAM)).state.messages
        found = await asyncio.to_thread(
            lambda: [node.stored_messages(EVENT_STREAM) for node in nats_cluster.nodes]
        )
        return found if found == [stored] * REPLICAS else []

    # The restarted node's copy caught up on what it missed.
    await backbone.eventually(copies, SETTLE, "3 full copies of the event stream")


async def the_cycle(cluster: NatsCluster, operator: NatsBroker, cycle: CycleDriver) -> None:
    simulation = cycle.simulation
    campaign = f"{cycle.cycle_id}.1"
    rest = await half_rated(cycle, 1)
    # The submissions just committed are being relayed and consumed.
    victim = await asyncio.to_thread(connected_to, cluster, "assessment")
    await lead(operator, EVENT_STREAM, victim)
    cluster.kill(victim)
    await simulation.rate(campaign, rest, lambda _: None)
    await cycle.control("close-campaign")
    await cycle.at("calibration", number=1)

    # The session is open and under review; the cycle's worker waits for its completion.
    await asyncio.to_thread(cluster.start, victim, SETTLE)
    assert cluster.formed()
    await calibrated_to_the_end(cycle, 1)


def connected_to(cluster: NatsCluster, client: str) -> EmbeddedNats:
    """The node a client of that name is connected to (each client picks one at random)."""
    [node] = [
        node
        for node in cluster.nodes
        if any(
            connection.get("name") == client
            for connection in httpx.get(f"{node.monitor_url}/connz?limit=1024", timeout=5)
            .json()
            .get("connections")
            or []
        )
    ]
    return node


async def lead(operator: NatsBroker, stream: str, node: EmbeddedNats) -> None:
    """`stream`'s leader moved to `node`, unless it leads already."""
    assert node.cluster is not None
    name = node.cluster.name
    js = operator.connection.jetstream()

    async def leads() -> bool:
        try:
            cluster = (await js.stream_info(stream)).cluster
        except nats.errors.TimeoutError:  # only the leader answers, and there is none yet
            return False
        return cluster is not None and cluster.leader == name

    preferred = json.dumps({"placement": {"preferred": name}}).encode()

    async def moved() -> bool:
        if await leads():
            return True
        # Refused while `node` is still catching up on what was just appended, unanswered
        # while a leader is being elected: asked again.
        with contextlib.suppress(nats.errors.TimeoutError):
            await operator.connection.request(
                f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", preferred, timeout=10
            )
        return await leads()

    await backbone.eventually(moved, SETTLE, f"{name} to lead {stream}")
