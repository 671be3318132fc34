"""The broker boundary against a hostile insider, on the tests' embedded NATS, which runs
with the stack's own authorization: every service, integration and the operator is an NKey
user with the permissions talentledger.stack.broker_identities derives."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import nats
import psycopg
import pytest
from faststream.nats import NatsBroker
from nats.errors import Error as NatsError
from nats.js import api
from nats.js.errors import NoStreamResponseError

from libs.events.broker import BODY_DIGEST, BODY_OBJECT, claimed_body, make_broker, stash_body
from libs.events.consumer import failure_reason
from libs.events.envelope import Envelope, EventMetadata, new_event_id, utcnow
from libs.events.identities import Credentials, inbox_prefix
from libs.events.registry import IntegrationEvent
from libs.events.relay import OutboxRelay, UnpublishableEvent
from libs.events.store import EventStore
from libs.events.subjects import EVENT_STREAM, INTAKE_STREAM, INTAKE_SUBJECTS, PAYLOAD_BUCKET
from tests.support.backbone import (
    create_effects_table,
    dead_letters,
    effect_counts,
    start_consumer,
    wait_until,
)
from tests.support.events import Probe
from tests.support.servers import Nats

pytestmark = pytest.mark.backbone
ACTOR = EventMetadata(actor="tests")
PROBES = "talentledger.svc.backbone_probe.v1"


@pytest.fixture
def authenticated(nats: Nats) -> Nats:
    if nats.home is None:
        pytest.skip("an external NATS: its authorization is its operator's, not the stack's")
    return nats


@pytest.fixture(autouse=True)
def effects_table(database_url: str, schema: str) -> None:
    create_effects_table(database_url)


@pytest.fixture
async def as_framework(authenticated: Nats) -> AsyncIterator[tuple[Any, list[Exception]]]:
    """A raw client connected as the framework service, with the errors the server sent."""
    async with connected_as(authenticated, "framework") as connection:
        yield connection


@contextlib.asynccontextmanager
async def connected_as(server: Nats, identity: str) -> AsyncIterator[tuple[Any, list[Exception]]]:
    errors: list[Exception] = []

    async def record(error: Exception) -> None:
        errors.append(error)

    seed = server.credentials(identity)
    assert seed is not None
    client = await nats.connect(
        server.url,
        nkeys_seed=str(seed),
        inbox_prefix=inbox_prefix(Credentials(seed).public_key),
        error_cb=record,
        allow_reconnect=False,
    )
    try:
        yield client, errors
    finally:
        await client.close()


def envelope(payload: dict[str, Any], source: str = "svc") -> Envelope:
    return Envelope(
        event_id=new_event_id(),
        event_type=Probe.event_type,
        schema_version=1,
        source=source,
        stream_id="forged",
        stream_version=1,
        global_position=1,
        occurred_at=utcnow(),
        recorded_at=utcnow(),
        actor="mallory",
        correlation_id=new_event_id(),
        payload=payload,
    )


async def test_an_unauthenticated_connection_is_refused(authenticated: Nats) -> None:
    with pytest.raises(NatsError, match="Authorization Violation"):
        await nats.connect(authenticated.url, allow_reconnect=False, connect_timeout=5)


async def test_the_framework_identity_cannot_publish_an_hris_event(
    as_framework: tuple[Any, list[Exception]], broker: NatsBroker
) -> None:
    client, errors = as_framework
    forged = envelope({"n": 1}, source="hris").model_dump_json().encode()
    await client.publish("talentledger.hris.employee_manager_changed.v1", forged)
    await client.flush()
    with pytest.raises((TimeoutError, NoStreamResponseError)):
        await client.jetstream().publish(
            "talentledger.hris.employee_manager_changed.v1", forged, timeout=2
        )
    assert any(
        'permissions violation for publish to "talentledger.hris.' in str(e) for e in errors
    ), errors
    assert (await broker.connection.jetstream().stream_info(EVENT_STREAM)).state.messages == 0
    # Its own subjects stay open to it: the refusal is the permission, not a broken login.
    ack = await client.jetstream().publish(
        "talentledger.framework.framework_published.v6", forged, timeout=5
    )
    assert ack.stream == EVENT_STREAM


async def test_an_outside_system_publishes_only_on_its_own_intake(
    authenticated: Nats, broker: NatsBroker
) -> None:
    """Never the event stream, where its personal fields would stay in clear (docs/privacy.md):
    the cycles service admits them from the intake, sealed, and publishes them there."""
    hired = envelope({"n": 1}, source="hris").model_dump_json().encode()
    async with connected_as(authenticated, "hris") as (client, errors):
        js = client.jetstream()
        for refused in ("talentledger.hris.employee_hired.v1", "intake.lms.course_completed.v1"):
            with pytest.raises((TimeoutError, NoStreamResponseError)):
                await js.publish(refused, hired, timeout=2)
        ack = await js.publish("intake.hris.employee_hired.v1", hired, timeout=5)
        await asyncio.sleep(0.2)
    assert ack.stream == INTAKE_STREAM
    refusals = [str(e) for e in errors if "permissions violation for publish" in str(e)]
    assert len(refusals) == 2, errors
    operator = broker.connection.jetstream()
    assert (await operator.stream_info(EVENT_STREAM)).state.messages == 0


async def test_only_the_admitting_service_consumes_the_intake_and_publishes_what_it_admits(
    authenticated: Nats, as_framework: tuple[Any, list[Exception]], broker: NatsBroker
) -> None:
    client, _ = as_framework
    config = api.ConsumerConfig(
        name="cycles-intake", durable_name="cycles-intake", filter_subject=INTAKE_SUBJECTS
    )
    with pytest.raises((TimeoutError, NoStreamResponseError)):
        await client.jetstream().add_consumer(INTAKE_STREAM, config=config, timeout=2)
    async with connected_as(authenticated, "cycles") as (cycles, _):
        made = await cycles.jetstream().add_consumer(INTAKE_STREAM, config=config, timeout=5)
        assert made.config.filter_subject == INTAKE_SUBJECTS
        admitted = envelope({"n": 1}, source="hris").model_dump_json().encode()
        ack = await cycles.jetstream().publish(
            "talentledger.hris.employee_hired.v1", admitted, timeout=5
        )
    assert ack.stream == EVENT_STREAM


async def test_a_service_cannot_read_what_it_does_not_consume(
    as_framework: tuple[Any, list[Exception]],
) -> None:
    client, errors = as_framework
    await client.subscribe("talentledger.hris.>")
    await client.subscribe("_INBOX.>")  # other processes' replies and pulled events
    await client.flush()
    await asyncio.sleep(0.2)
    refused = [str(e) for e in errors if "permissions violation for subscription" in str(e)]
    assert len(refused) == 2, errors
    with pytest.raises((TimeoutError, NoStreamResponseError)):
        # Another service's durable consumer: pulling from it would steal its events.
        await client.jetstream().consumer_info(EVENT_STREAM, "assessment-org-chart-hired", 2)


async def test_a_service_cannot_point_its_own_durable_at_events_it_does_not_consume(
    authenticated: Nats, broker: NatsBroker
) -> None:
    """Assessment keeps the org chart; re-made on the protected-attribute subject, its durable
    would hand it what only the fairness store may read (docs/privacy.md)."""
    durable, own = "assessment-org-chart-hired", "talentledger.hris.employee_hired.*"
    async with connected_as(authenticated, "assessment") as (client, errors):
        js = client.jetstream()
        for filter_subject in ("talentledger.hris.protected_attribute_recorded.*", ">"):
            config = api.ConsumerConfig(
                name=durable, durable_name=durable, filter_subject=filter_subject
            )
            with pytest.raises((TimeoutError, NoStreamResponseError)):
                await js.add_consumer(EVENT_STREAM, config=config, timeout=2)
        # The older creation request, whose filter travels only in the body.
        legacy = {"stream_name": EVENT_STREAM, "config": {"durable_name": durable}}
        with pytest.raises((TimeoutError, NoStreamResponseError, NatsError)):
            await client.request(
                f"$JS.API.CONSUMER.DURABLE.CREATE.{EVENT_STREAM}.{durable}",
                json.dumps(legacy).encode(),
                timeout=2,
            )
        await asyncio.sleep(0.2)
        refused = [str(e) for e in errors if "permissions violation for publish" in str(e)]
        assert len(refused) == 3, errors
        operator = broker.connection.jetstream()
        with pytest.raises(NatsError):
            await operator.consumer_info(EVENT_STREAM, durable)
        # Its own subject stays open to it.
        config = api.ConsumerConfig(name=durable, durable_name=durable, filter_subject=own)
        made = await js.add_consumer(EVENT_STREAM, config=config, timeout=5)
        assert made.config.filter_subject == own


async def test_an_envelope_whose_source_is_not_its_subjects_context_is_dead_lettered(
    store: EventStore, broker: NatsBroker, database_url: str
) -> None:
    """Whoever may publish on `svc` subjects, an envelope there claiming another source is
    a forgery: refused before any effect, its id never claimed in the inbox."""
    start_consumer(broker, store)
    await broker.start()
    forged = envelope({"n": 7}, source="hris")
    js = broker.connection.jetstream()
    await js.publish(PROBES, forged.model_dump_json().encode(), headers={"Nats-Msg-Id": "f-1"})
    await store.append("genuine", 0, [Probe(n=1)], ACTOR)
    await OutboxRelay(store, broker).relay_once()
    await wait_until(lambda: effect_counts(database_url) == {1: 1}, 30, "the genuine event")
    [letter] = await dead_letters(broker, 1)
    assert letter.headers["tl-dead-letter-reason"] == (
        "malformed: source 'hris' on a subject of context 'svc'"
    )
    assert effect_counts(database_url) == {1: 1}, "the forged event had no effect"
    with psycopg.connect(database_url) as conn:
        inbox = conn.execute("SELECT event_id FROM svc.inbox").fetchall()
    assert forged.event_id not in {row[0] for row in inbox}


async def test_a_dead_letter_reason_names_fields_never_payload_values(
    store: EventStore, broker: NatsBroker, database_url: str
) -> None:
    start_consumer(broker, store)
    await broker.start()
    secret = "salary-is-123456"
    body = envelope({"n": secret, "note": 5, "extra": secret}).model_dump_json().encode()
    await broker.connection.jetstream().publish(PROBES, body, headers={"Nats-Msg-Id": "v-1"})
    [letter] = await dead_letters(broker, 1)
    reason = letter.headers["tl-dead-letter-reason"]
    assert secret not in reason
    assert "123456" not in reason
    assert reason == (
        "malformed: BackboneProbe v1: 3 invalid field(s): "
        "n: int_parsing; note: string_type; extra: extra_forbidden"
    )


async def test_a_failing_handlers_reason_quotes_no_value(database_url: str) -> None:
    """A database error's message quotes the offending value; its reason names the kind."""
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.Error) as raised:
        conn.execute("SELECT 'salary-is-123456'::int")
    assert "salary-is-123456" in str(raised.value), "the message itself does quote it"
    assert failure_reason(raised.value) == "InvalidTextRepresentation (SQLSTATE 22P02)"


async def test_a_claimed_body_overwritten_in_the_shared_store_is_refused(
    store: EventStore, broker: NatsBroker, database_url: str
) -> None:
    """Every service may write the payload store; only the message vouches for a body."""
    await store.append("large", 0, [Probe(n=1, note="x" * (600 * 1024))], ACTOR)
    await OutboxRelay(store, broker).relay_once()
    js = broker.connection.jetstream()
    message = await js.get_msg(EVENT_STREAM, seq=1)
    assert BODY_DIGEST in message.headers
    [event] = await store.read_stream("large", after_version=0, until_version=1)
    tampered = event.model_copy(update={"payload": {"n": 2, "note": "forged"}})
    await (await js.object_store(PAYLOAD_BUCKET)).put(
        message.headers[BODY_OBJECT], tampered.model_dump_json().encode()
    )
    start_consumer(broker, store)
    await broker.start()
    [letter] = await dead_letters(broker, 1)
    assert "does not match its message's digest" in letter.headers["tl-dead-letter-reason"]
    assert effect_counts(database_url) == {}


@pytest.mark.parametrize("reader", ["assessment", "development", "promotion", "cycles"])
async def test_every_service_reads_a_claimed_body_with_its_own_permissions(
    authenticated: Nats, broker: NatsBroker, reader: str
) -> None:
    """A body of several chunks, read back as a service reads it: by its own identity,
    whose permissions name the payload store's requests and nothing wider."""
    large = envelope({"n": 1, "note": "y" * (3 * 1024 * 1024)})
    body = large.model_dump_json().encode()
    _, claim = await stash_body(broker, large, body)
    service = make_broker(
        authenticated.url, client_name=reader, credentials=authenticated.credentials(reader)
    )
    await service.connect()
    try:
        assert await asyncio.wait_for(claimed_body(service, claim), 60) == body
    finally:
        await service.stop()


class FrameworkPublishedV5(IntegrationEvent):
    """An event of the version before the current one of its type, as the release before a
    version bump wrote it; not registered, since this release registers the current one."""

    event_type = "FrameworkPublished"
    schema_version = 5
    context = "svc"


async def test_the_relay_publishes_an_older_version_its_type_upcasts_from(
    store: EventStore, broker: NatsBroker
) -> None:
    """Written before an upgrade and not yet published when it happened, it goes out on its
    own version's subject, where consumers read every version and upcast it."""
    await store.append("a", 0, [FrameworkPublishedV5()], ACTOR)
    await store.append("b", 0, [Probe(n=2)], ACTOR)
    relay = OutboxRelay(store, broker)
    assert await relay.relay_once() == 2
    js = broker.connection.jetstream()
    subjects = [(await js.get_msg(EVENT_STREAM, seq=n)).subject for n in (1, 2)]
    assert subjects == ["talentledger.svc.framework_published.v5", PROBES]


class Unregistered(IntegrationEvent):
    """An event type no one registered: the relay cannot know whether it is private."""

    event_type = "UnregisteredNotice"
    schema_version = 1
    context = "svc"

    secret: str


async def test_the_relay_refuses_an_unknown_event_type_and_stops_saying_why(
    store: EventStore, broker: NatsBroker, caplog: pytest.LogCaptureFixture
) -> None:
    await store.append("a", 0, [Probe(n=1)], ACTOR)
    await store.append("b", 0, [Unregistered(secret="not for the broker")], ACTOR)
    await store.append("c", 0, [Probe(n=3)], ACTOR)
    relay = OutboxRelay(store, broker, poll_interval=0.2)
    stop = asyncio.Event()
    with (
        caplog.at_level(logging.ERROR, logger="libs.events.relay"),
        pytest.raises(UnpublishableEvent, match="UnregisteredNotice v1"),
    ):
        await asyncio.wait_for(relay.run(stop), 30)
    assert "relay svc stopped" in caplog.text
    assert "UnregisteredNotice" in caplog.text
    js = broker.connection.jetstream()
    stream = await js.stream_info(EVENT_STREAM)
    assert stream.state.messages == 1, "the event before it was published, nothing after it"
    assert (await js.get_msg(EVENT_STREAM, seq=1)).subject == PROBES
    [first, unknown, _] = await store.read_log(after=0, limit=3)
    assert await relay.checkpoint() == first.global_position < unknown.global_position
