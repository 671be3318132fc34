"""Outside systems' events never sit on the event stream in clear (docs/privacy.md, The
intake): an HRIS publishes on the intake, the cycles service admits each event into its log
with personal fields sealed, its relay publishes it on the event stream, and the services'
consumers read it as before. On real PostgreSQL and NATS, each party as its own identity."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from faststream.nats import NatsBroker
from psycopg_pool import AsyncConnectionPool

from libs.events.broker import make_broker, supports_message_ttl
from libs.events.consumer import replay_dead_letters, subscribe
from libs.events.envelope import Envelope
from libs.events.migrations import migrate
from libs.events.registry import IntegrationEvent
from libs.events.schemas.assessment import CampaignClosed
from libs.events.schemas.hris import EmployeeHired, EmployeeManagerChanged
from libs.events.store import AdmissionRefused, EventStore
from libs.events.subjects import (
    DEAD_LETTER_STREAM,
    EVENT_STREAM,
    INTAKE_STREAM,
    intake_consumer,
    intake_subject_for,
)
from libs.personal.vault import MasterKeys, PostgresDataKeys
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from libs.replicas.org_chart import OrgChart
from services.assessment.adapters.postgres import MIGRATIONS as ASSESSMENT_MIGRATIONS
from talentledger.hris_load import envelope_of, publish_hires
from talentledger.inbound import outside_envelope
from tests.support.backbone import dead_letters, eventually, stored, wait_until
from tests.support.intake import admitting
from tests.support.servers import Nats
from tests.support.service_api import service_database_url

pytestmark = pytest.mark.backbone
MASTER = MasterKeys.generate("m1")
REPLICA = "assessment"  # keeps the org chart from the HRIS events (libs/replicas/org_chart.py)
DAY = date(2026, 3, 2)

TTL_NEEDS = (
    "a message's own time to live needs nats-server 2.11 or later "
    "(libs.events.broker.MESSAGE_TTL_SINCE); this one has none"
)


def hire(employee_id: str, name: str, manager_id: str | None = None) -> EmployeeHired:
    return EmployeeHired(
        employee_id=employee_id,
        effective_on=DAY,
        name=name,
        department="Platform",
        job_family="product-engineering",
        track="ic",
        level="E2",
        manager_id=manager_id,
    )


def unique_name() -> str:
    return f"Quillon Marchetti-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def urls(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The cycles schema migrated as the stack migrates it (its role's URL), and the
    replica's schema beside it (the administrator's)."""
    role = service_database_url(database_url, "cycles", tmp_path)
    migrate(
        database_url, REPLICA, FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS, ASSESSMENT_MIGRATIONS
    )
    return {"cycles": role, "admin": database_url}


@pytest.fixture
async def cycles_log(urls: dict[str, str]) -> AsyncIterator[EventStore]:
    """The cycles service's log, as its own role."""
    async with AsyncConnectionPool(urls["cycles"], min_size=1, max_size=4, open=False) as pool:
        store = EventStore(pool, "cycles", keys=PostgresDataKeys(pool, MASTER))
        yield store
        await store.close()


@pytest.fixture
async def org_chart(
    urls: dict[str, str], nats: Nats, broker: NatsBroker, cycles_log: EventStore
) -> AsyncIterator[None]:
    """The assessment service's org chart consumers (as its identity) and the cycles
    service's admission and relay (as its), on the streams `broker` made afresh."""
    async with AsyncConnectionPool(urls["admin"], min_size=1, max_size=4, open=False) as pool:
        store = EventStore(pool, REPLICA, keys=PostgresDataKeys(pool, MASTER))
        assessment = make_broker(
            nats.url, client_name="assessment", credentials=nats.credentials("assessment")
        )
        for handler in OrgChart(REPLICA).handlers(REPLICA):
            subscribe(assessment, store, handler)
        await assessment.start()
        try:
            async with admitting(nats, cycles_log):
                yield
        finally:
            await assessment.stop()
            await store.close()


@pytest.fixture
async def hris(nats: Nats, broker: NatsBroker) -> AsyncIterator[NatsBroker]:
    """A broker connected as the HRIS integration."""
    connected = make_broker(nats.url, client_name="hris", credentials=nats.credentials("hris"))
    await connected.connect()
    yield connected
    await connected.stop()


def people(url: str) -> dict[str, tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT employee_id, name, manager_id FROM {REPLICA}.people")
        return {row[0]: row[1:] for row in rows.fetchall()}


def logged(url: str, stream_id: str) -> list[tuple[Any, ...]]:
    """The cycles log's rows of one stream, in position order, as stored."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT event_id, source, stream_version, actor, payload::text "
            "FROM cycles.events WHERE stream_id = %s ORDER BY global_position",
            (stream_id,),
        ).fetchall()


async def publish_raw(
    client: NatsBroker, subject: str, envelope: Envelope, message_id: str | None = None
) -> int:
    """Publish on the intake as an integrator might; return the intake's sequence number."""
    ack = await client.connection.jetstream().publish(
        subject,
        envelope.model_dump_json().encode(),
        headers={"Nats-Msg-Id": message_id or str(envelope.event_id)},
        stream=INTAKE_STREAM,
    )
    return int(ack.seq)


async def settled(broker: NatsBroker, through: int) -> None:
    """Wait until the admission has acknowledged every intake message up to `through`."""
    js = broker.connection.jetstream()

    async def acknowledged() -> bool:
        info = await js.consumer_info(INTAKE_STREAM, intake_consumer("cycles"))
        return bool((info.ack_floor.stream_seq or 0) >= through)

    await eventually(acknowledged, 30, f"the intake admitted through {through}")


def hired_envelope(event: IntegrationEvent, stream_version: int = 1) -> Envelope:
    return outside_envelope(
        event,
        uuid.uuid4(),
        f"employee-{event.employee_id}",  # type: ignore[attr-defined]
        "hris-sync:tests",
        uuid.uuid4(),
        stream_version,
    )


async def test_an_hris_hiring_reaches_the_org_chart_sealed_and_never_in_clear_on_the_stream(
    org_chart: None,
    hris: NatsBroker,
    broker: NatsBroker,
    cycles_log: EventStore,
    urls: dict[str, str],
) -> None:
    name = unique_name()
    hired = hire("Q1", name)
    assert await publish_hires(hris, [hired], "hris-load:tests") == 1
    await wait_until(lambda: "Q1" in people(urls["admin"]), 30, "the hiring applied")
    assert people(urls["admin"])["Q1"] == (name, None), "the consumer opened the sealed name"

    # The event stream: the admitted event is there, the name in no message's bytes.
    messages = await stored(broker, EVENT_STREAM)
    assert [m.subject for m in messages] == ["talentledger.hris.employee_hired.v1"]
    for message in messages:
        assert name.encode() not in message.data
        assert name not in json.dumps(dict(message.headers or {}))
    published = Envelope.model_validate_json(messages[0].data)
    given = envelope_of(hired, "hris-load:tests", published.correlation_id)
    assert (published.event_id, published.source, published.actor) == (
        given.event_id,
        "hris",
        "hris-load:tests",
    )
    assert (published.stream_id, published.stream_version) == ("employee-Q1", 1)
    # The intake kept it only until it was admitted.
    await settled(broker, 1)
    assert (await broker.connection.jetstream().stream_info(INTAKE_STREAM)).state.messages == 0

    # The cycles log holds it as given, sealed; the store opens it again.
    [(event_id, source, version, actor, payload)] = logged(urls["admin"], "employee-Q1")
    assert (event_id, source, version, actor) == (given.event_id, "hris", 1, "hris-load:tests")
    assert name not in payload
    assert '"sealed"' in payload
    [recorded] = await cycles_log.read_stream("employee-Q1")
    assert recorded.source == "hris"
    assert await cycles_log.decode(recorded) == hired

    # A repeat admits nothing: JetStream drops the same message id, and the admission the same
    # event id arriving under another (a reload after JetStream's duplicate window).
    assert await publish_hires(hris, [hired], "hris-load:tests") == 1
    seq = await publish_raw(
        hris, intake_subject_for("hris", "EmployeeHired", 1), given, "reload-after-window"
    )
    await settled(broker, seq)
    assert len(logged(urls["admin"], "employee-Q1")) == 1
    assert len(await stored(broker, EVENT_STREAM)) == 1
    js = broker.connection.jetstream()
    assert (await js.stream_info(INTAKE_STREAM)).state.messages == 0
    assert (await js.stream_info(DEAD_LETTER_STREAM)).state.messages == 0


async def test_an_event_claiming_a_stream_version_already_taken_is_dead_lettered_naming_no_value(
    org_chart: None, hris: NatsBroker, broker: NatsBroker, urls: dict[str, str]
) -> None:
    first, rival = unique_name(), unique_name()
    await publish_hires(hris, [hire("Q2", first)], "hris-load:tests")
    await wait_until(lambda: "Q2" in people(urls["admin"]), 30, "the first hiring applied")

    conflicting = hired_envelope(hire("Q2", rival))  # another event id, version 1 again
    await publish_raw(hris, intake_subject_for("hris", "EmployeeHired", 1), conflicting)
    [letter] = await dead_letters(broker, 1)
    reason = letter.headers["tl-dead-letter-reason"]
    assert reason == "refused: its stream_id and stream_version are already another event's"
    assert rival not in reason
    assert "Q2" not in reason
    assert letter.headers["tl-consumer"] == "cycles-intake"
    if supports_message_ttl(broker):
        assert letter.headers["Nats-TTL"] == f"{7 * 24 * 3600}s", "kept as long as the intake"
    assert len(logged(urls["admin"], "employee-Q2")) == 1
    assert people(urls["admin"])["Q2"][0] == first
    for message in await stored(broker, EVENT_STREAM):
        assert rival.encode() not in message.data


async def test_an_envelope_claiming_another_context_on_the_intake_is_dead_lettered(
    org_chart: None,
    hris: NatsBroker,
    broker: NatsBroker,
    cycles_log: EventStore,
    urls: dict[str, str],
) -> None:
    """An outside system speaks only for itself: never for a service, nor another system."""
    name = unique_name()
    as_assessment = hired_envelope(hire("Q3", name)).model_copy(update={"source": "assessment"})
    await publish_raw(hris, intake_subject_for("hris", "EmployeeHired", 1), as_assessment)
    # Only the operator may publish on a service's intake subject; still not admitted.
    closed = outside_envelope(
        CampaignClosed(campaign_id="c-1", submissions=0, non_responders=0),
        uuid.uuid4(),
        "campaign-c-1",
        "mallory",
        uuid.uuid4(),
    )
    await publish_raw(broker, intake_subject_for("assessment", "CampaignClosed", 1), closed)
    letters = await dead_letters(broker, 2)
    reasons = sorted(letter.headers["tl-dead-letter-reason"] for letter in letters)
    assert reasons == [
        "refused: EmployeeHired v1 of source 'assessment' came on "
        "'intake.hris.employee_hired.v1', not on intake.assessment.employee_hired.v1",
        "refused: source 'assessment' is not an outside system: only hris, lms events are admitted",
    ]
    assert logged(urls["admin"], "employee-Q3") == []
    assert logged(urls["admin"], "campaign-c-1") == []
    assert await stored(broker, EVENT_STREAM) == []

    # The store refuses the same whoever calls it: a type of another context, its own events.
    for forged in (
        hired_envelope(hire("Q4", name)).model_copy(update={"source": "lms"}),
        closed.model_copy(update={"source": "cycles"}),
    ):
        with pytest.raises(AdmissionRefused):
            await cycles_log.admit(forged)


async def test_a_dead_letter_of_the_intake_is_kept_only_as_long_as_the_intake(
    nats: Nats, broker: NatsBroker, hris: NatsBroker, cycles_log: EventStore
) -> None:
    """It holds the event as it was published, personal fields in clear: it expires with the
    intake's retention, however long the other dead letters are kept."""
    if not supports_message_ttl(broker):
        pytest.skip(TTL_NEEDS)
    js = broker.connection.jetstream()

    async def stored_then_expired() -> bool:
        state = (await js.stream_info(DEAD_LETTER_STREAM)).state
        return state.last_seq == 1 and state.messages == 0

    async with admitting(nats, cycles_log, retention_days=2 / (24 * 3600)):
        forged = hired_envelope(hire("Q6", unique_name())).model_copy(update={"source": "lms"})
        await publish_raw(hris, intake_subject_for("hris", "EmployeeHired", 1), forged)
        await eventually(stored_then_expired, 30, "the dead letter stored, then expired")
    assert (await js.stream_info(DEAD_LETTER_STREAM)).config.max_age == 90 * 24 * 3600


async def test_an_event_on_a_subject_of_no_event_is_dead_lettered_at_once(
    nats: Nats, broker: NatsBroker, hris: NatsBroker, cycles_log: EventStore
) -> None:
    """`intake.hris.x` names no event: refused on its first delivery, not retried as a bug
    while the intake waits behind it."""
    async with admitting(nats, cycles_log):
        await publish_raw(hris, "intake.hris.x", hired_envelope(hire("Q8", unique_name())))
        [letter] = await dead_letters(broker, 1)
    assert letter.headers["tl-dead-letter-reason"] == (
        "refused: EmployeeHired v1 of source 'hris' came on 'intake.hris.x', not on "
        "intake.hris.employee_hired.v1"
    )
    assert letter.headers["tl-attempts"] == "1"


async def test_an_event_claiming_a_stream_of_the_admitting_service_is_dead_lettered(
    nats: Nats,
    broker: NatsBroker,
    hris: NatsBroker,
    cycles_log: EventStore,
    urls: dict[str, str],
) -> None:
    """Taken first by an outside event, `erasure-<ref>` could never record that request."""
    forged = hired_envelope(hire("Q10", unique_name())).model_copy(
        update={"stream_id": "erasure-REQ-1"}
    )
    async with admitting(nats, cycles_log, own_streams=("cycle-", "erasure-")):
        await publish_raw(hris, intake_subject_for("hris", "EmployeeHired", 1), forged)
        [letter] = await dead_letters(broker, 1)
    assert letter.headers["tl-dead-letter-reason"] == (
        "refused: its stream_id starts with 'erasure-', as the cycles service's own streams "
        "do: an outside event joins none of them"
    )
    assert logged(urls["admin"], "erasure-REQ-1") == []


async def test_a_dead_letter_of_the_intake_is_replayed_onto_the_intake_and_admitted(
    nats: Nats,
    broker: NatsBroker,
    hris: NatsBroker,
    cycles_log: EventStore,
    urls: dict[str, str],
) -> None:
    """Refused while its system was not admitted, then replayed once it is: the dead letter's
    own life (`Nats-TTL`) stays behind, as the intake allows none."""
    async with admitting(nats, cycles_log, contexts=("lms",)):
        await publish_hires(hris, [hire("Q9", unique_name())], "hris-load:tests")
        [letter] = await dead_letters(broker, 1)
    assert letter.headers["tl-dead-letter-reason"].startswith("refused: source 'hris'")
    assert ("Nats-TTL" in letter.headers) == supports_message_ttl(broker)
    async with admitting(nats, cycles_log):
        assert await replay_dead_letters(broker) == 1
        await wait_until(lambda: len(logged(urls["admin"], "employee-Q9")) == 1, 30, "admitted")


async def test_one_employees_events_are_admitted_in_any_version_order_and_relayed_in_the_order_sent(
    org_chart: None, hris: NatsBroker, broker: NatsBroker, urls: dict[str, str]
) -> None:
    """Version 2 may come before version 1 (the log only keeps each version to one event);
    the event stream carries them in the order the HRIS sent them."""
    sent = [
        hired_envelope(
            EmployeeManagerChanged(employee_id="Q5", effective_on=DAY, manager_id="M1"), 2
        ),
        hired_envelope(hire("Q5", unique_name(), manager_id="M0"), 1),
        *(
            hired_envelope(
                EmployeeManagerChanged(employee_id="Q5", effective_on=DAY, manager_id=f"M{v}"), v
            )
            for v in (3, 4, 5)
        ),
    ]
    last = 0
    for envelope in sent:
        subject = intake_subject_for("hris", envelope.event_type, envelope.schema_version)
        last = await publish_raw(hris, subject, envelope)
    await settled(broker, last)
    assert [row[2] for row in logged(urls["admin"], "employee-Q5")] == [2, 1, 3, 4, 5]

    async def relayed() -> list[int]:
        messages = await stored(broker, EVENT_STREAM)
        return [Envelope.model_validate_json(m.data).stream_version for m in messages]

    async def all_relayed() -> bool:
        return len(await relayed()) == len(sent)

    await eventually(all_relayed, 30, "every event relayed")
    assert await relayed() == [2, 1, 3, 4, 5]
    await wait_until(
        lambda: people(urls["admin"]).get("Q5", (None, None))[1] == "M5", 30, "the latest manager"
    )
