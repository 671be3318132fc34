"""Personal fields sealed wherever events are stored and travel, opened wherever a service
reads them, and erased everywhere at once by destroying a person's keys (docs/privacy.md,
Erasure by destroying keys), on real PostgreSQL and NATS JetStream, as a service's own role."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
import pytest
from faststream.nats import NatsBroker
from nats.js.errors import NotFoundError
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from libs.events.broker import make_broker, subject_of_envelope
from libs.events.consumer import EventHandler, subscribe
from libs.events.envelope import Envelope, EventMetadata
from libs.events.migrations.roles import OWNER_ROLE, PasswordFile, service_role
from libs.events.relay import OutboxRelay
from libs.events.store import EventStore, NoDataKeys
from libs.events.subjects import EVENT_STREAM
from libs.personal.sealing import ERASED
from libs.personal.vault import MasterKeys, PostgresDataKeys, destroy_keys
from tests.support.backbone import eventually, wait_until
from tests.support.events import Probe, Remark
from tests.support.servers import Nats
from tests.support.service_api import service_database_url

pytestmark = pytest.mark.backbone
SCHEMA = "svc"
ACTOR = EventMetadata(actor="tests")
MASTER = MasterKeys.generate("m1")
TEXT = "Ada unblocks the whole team every sprint"
REMARK = Remark(author="emp-bo", about="emp-ada", text=TEXT)


@pytest.fixture
def urls(database_url: str, tmp_path: Path) -> dict[str, str]:
    """`svc` and the data keys' schema migrated as the stack migrates them, a read model of
    remarks, and the URLs of the service's role and of the owner (who may destroy keys)."""
    role = service_database_url(database_url, SCHEMA, tmp_path)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {SCHEMA}.remarks (consumer text, event_id uuid, text text)")
        conn.execute(f"GRANT SELECT, INSERT ON {SCHEMA}.remarks TO {service_role(SCHEMA)}")
    owner = PasswordFile(tmp_path / "postgres.pgpass").url(database_url, OWNER_ROLE)
    return {"role": role, "owner": owner, "admin": database_url}


@pytest.fixture
async def pool(urls: dict[str, str]) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with AsyncConnectionPool(urls["role"], min_size=1, max_size=6, open=False) as pool:
        yield pool


@pytest.fixture
def keys(pool: AsyncConnectionPool[Any]) -> PostgresDataKeys:
    return PostgresDataKeys(pool, MASTER)


@pytest.fixture
async def sealed(
    pool: AsyncConnectionPool[Any], keys: PostgresDataKeys
) -> AsyncIterator[EventStore]:
    store = EventStore(pool, SCHEMA, keys=keys)
    yield store
    await store.close()


@pytest.fixture
async def relay(sealed: EventStore, broker: NatsBroker) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(OutboxRelay(sealed, broker, poll_interval=0.2).run(stop))
    yield
    stop.set()
    await asyncio.wait_for(task, 20)


def remark_handler(name: str) -> EventHandler:
    """A consumer that keeps each remark's text in the `remarks` read model."""

    async def keep(conn: AsyncConnection[Any], envelope: Envelope, event: Remark) -> None:
        await conn.execute(
            f"INSERT INTO {SCHEMA}.remarks (consumer, event_id, text) VALUES (%s, %s, %s)",
            (name, envelope.event_id, event.text),
        )

    return EventHandler(service=SCHEMA, name=name, event=Remark, apply=keep)


def remarks(url: str, consumer: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"SELECT text FROM {SCHEMA}.remarks WHERE consumer = %s", (consumer,)
        ).fetchall()
    return [text for (text,) in rows]


async def published_body(broker: NatsBroker, envelope: Envelope) -> bytes:
    """The body JetStream holds for `envelope`, once the relay has published it."""
    js = broker.connection.jetstream()

    async def fetch() -> bytes | None:
        try:
            msg = await js.get_last_msg(EVENT_STREAM, subject_of_envelope(envelope))
        except NotFoundError:
            return None
        return msg.data

    body: bytes = await eventually(fetch, 30, "the event published")
    return body


async def test_a_personal_field_is_sealed_where_stored_and_published_and_opened_where_read(
    sealed: EventStore,
    keys: PostgresDataKeys,
    broker: NatsBroker,
    nats: Nats,
    urls: dict[str, str],
    relay: None,
) -> None:
    subscribe(broker, sealed, remark_handler("remarks"))
    await broker.start()
    await sealed.append("remark-1", 0, [REMARK], ACTOR)
    [recorded] = await sealed.read_stream("remark-1")

    # Stored: the row of the log (the outbox), read as bytes; published: JetStream's body.
    with psycopg.connect(urls["admin"]) as conn:
        [(row,)] = conn.execute(
            f"SELECT convert_to(payload::text, 'UTF8') FROM {SCHEMA}.events"
        ).fetchall()
    body = await published_body(broker, recorded)
    for raw in (bytes(row), body, json.dumps(recorded.payload).encode()):
        assert b"unblocks the whole team" not in raw
        assert b"emp-ada" in raw, "only the personal field is sealed"

    # Read: the consumer applies the text; the store decodes it.
    await wait_until(lambda: remarks(urls["admin"], "remarks") == [TEXT], 30, "remark applied")
    assert await sealed.decode(recorded) == REMARK

    # Erased: the owner destroys Ada's keys (the vault's destroy path).
    async with await AsyncConnection.connect(urls["owner"], autocommit=True) as owner:
        assert await destroy_keys(owner, "emp-ada", "REQ-1", "priya-privacy") == 1
    keys.forget("emp-ada")  # the process is told; otherwise within CACHE_SECONDS
    [stored] = await sealed.read_stream("remark-1")
    assert (await sealed.decode(stored)).text == ERASED
    assert (await sealed.decode(recorded)).text == ERASED

    # A read model rebuilt from the events (a new consumer, from the stream's start) shows
    # the text as erased; the one applied before keeps what it had until it is rebuilt.
    rebuilder = make_broker(nats.url, client_name="rebuild", credentials=nats.credentials())
    subscribe(rebuilder, sealed, remark_handler("rebuild"))
    await rebuilder.start()
    try:
        await wait_until(
            lambda: remarks(urls["admin"], "rebuild") == [ERASED], 30, "remark rebuilt"
        )
    finally:
        await rebuilder.stop()

    # Text about her arriving after the erasure (an event admitted late, a new append) is
    # stored as erased, under no key: she is given none again.
    await sealed.append("remark-late", 0, [REMARK], ACTOR)
    [late] = await sealed.read_stream("remark-late")
    with psycopg.connect(urls["admin"]) as conn:
        [(row,)] = conn.execute(
            f"SELECT payload FROM {SCHEMA}.events WHERE stream_id = 'remark-late'"
        ).fetchall()
        [(keys_of_ada,)] = conn.execute(
            "SELECT count(*) FROM privacy.data_keys WHERE person_id = 'emp-ada'"
        ).fetchall()
    assert row == late.payload == {**REMARK.model_dump(mode="json"), "text": ERASED}
    assert keys_of_ada == 0
    await wait_until(
        lambda: remarks(urls["admin"], "remarks") == [TEXT, ERASED], 30, "late remark applied"
    )


async def test_an_event_without_personal_fields_is_stored_and_published_as_before(
    sealed: EventStore, broker: NatsBroker, urls: dict[str, str], relay: None
) -> None:
    probe = Probe(n=7, note="plain")
    await sealed.append("probe-7", 0, [probe], ACTOR)
    [recorded] = await sealed.read_stream("probe-7")
    assert recorded.payload == probe.model_dump(mode="json")
    with psycopg.connect(urls["admin"]) as conn:
        stored, expected = conn.execute(
            f"SELECT payload::text, %s::jsonb::text FROM {SCHEMA}.events",
            (probe.model_dump_json(),),
        ).fetchone() or (None, None)
        [(keys_made,)] = conn.execute("SELECT count(*) FROM privacy.data_keys").fetchall()
    assert stored == expected
    assert keys_made == 0, "no key is made for an event without personal fields"
    assert json.loads(await published_body(broker, recorded))["payload"] == probe.model_dump(
        mode="json"
    )
    assert await sealed.decode(recorded) == probe


async def test_a_store_without_data_keys_refuses_a_personal_field_and_writes_nothing(
    pool: AsyncConnectionPool[Any], sealed: EventStore
) -> None:
    keyless = EventStore(pool, SCHEMA)
    with pytest.raises(NoDataKeys):
        await keyless.append("remark-1", 0, [REMARK], ACTOR)
    assert await keyless.stream_version("remark-1") == 0
    # Nor does it read a sealed field as erased: it cannot tell.
    await sealed.append("remark-2", 0, [REMARK], ACTOR)
    [recorded] = await sealed.read_stream("remark-2")
    with pytest.raises(NoDataKeys):
        await keyless.decode(recorded)
    # What it can read without keys it reads: no personal field, or one not sealed.
    await keyless.append("probe-1", 0, [Probe(n=1)], ACTOR)
    [probe] = await keyless.read_stream("probe-1")
    assert await keyless.decode(probe) == Probe(n=1)
    await keyless.close()


async def test_every_service_role_seals_through_the_functions_and_none_destroys_a_key(
    sealed: EventStore, urls: dict[str, str]
) -> None:
    """The stack's grants (talentledger/stack/database.py): make and read, never destroy."""
    await sealed.append("remark-1", 0, [REMARK], ACTOR)
    with psycopg.connect(urls["role"], autocommit=True) as conn:
        for statement in (
            "SELECT * FROM privacy.data_keys",
            "SELECT privacy.destroy_data_keys('emp-ada', 'REQ-1', 'mallory')",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
