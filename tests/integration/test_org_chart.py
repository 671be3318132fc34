"""The org chart from HRIS events, on PostgreSQL and NATS JetStream (docs/domain.md §3: direct
reports and manager come from the org chart, HRIS), as the stack carries them: published on
the intake, admitted by the cycles service, relayed on the event stream."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import psycopg
import pytest
from faststream.nats import NatsBroker
from psycopg_pool import AsyncConnectionPool

from libs.events.consumer import subscribe
from libs.events.migrations import migrate
from libs.events.schemas.hris import EmployeeHired, EmployeeManagerChanged, EmployeeRoleChanged
from libs.events.store import EventStore
from libs.events.subjects import EVENT_STREAM
from libs.personal.vault import MasterKeys, PostgresDataKeys
from libs.replicas.framework_versions import MIGRATIONS as FRAMEWORK_MIGRATIONS
from libs.replicas.org_chart import MIGRATIONS as ORG_CHART_MIGRATIONS
from libs.replicas.org_chart import OrgChart
from services.assessment.adapters.postgres import MIGRATIONS
from talentledger.hris_load import publish_hires, read_people
from talentledger.samples.organisation import as_csv, org_chart
from talentledger.stack.database import migrate_personal_data_keys
from tests.support.backbone import wait_until
from tests.support.envelopes import envelope
from tests.support.intake import admitting
from tests.support.replica_seeding import change, hired, role_changed
from tests.support.servers import Nats

SCHEMA = "assessment"
MASTER = MasterKeys.generate("m1")


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    """The assessment and cycles schemas, and the data keys that seal names between them."""
    migrate(database_url, SCHEMA, FRAMEWORK_MIGRATIONS, ORG_CHART_MIGRATIONS, MIGRATIONS)
    migrate(database_url, "cycles")
    migrate_personal_data_keys(database_url, [])
    async with AsyncConnectionPool(database_url, min_size=1, max_size=6, open=False) as pool:
        yield pool


@pytest.fixture
async def assessment_store(pool: AsyncConnectionPool) -> AsyncIterator[EventStore]:
    store = EventStore(pool, SCHEMA, keys=PostgresDataKeys(pool, MASTER))
    yield store
    await store.close()


@pytest.fixture
async def cycles_log(pool: AsyncConnectionPool) -> AsyncIterator[EventStore]:
    store = EventStore(pool, "cycles", keys=PostgresDataKeys(pool, MASTER))
    yield store
    await store.close()


@pytest.fixture
async def admission(nats: Nats, broker: NatsBroker, cycles_log: EventStore) -> AsyncIterator[None]:
    """The cycles service admitting the intake, on the streams `broker` made afresh."""
    async with admitting(nats, cycles_log):
        yield


def people_rows(database_url: str) -> dict[str, tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            f"SELECT employee_id, manager_id, department, level FROM {SCHEMA}.people"
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


async def test_a_csv_of_500_people_becomes_the_org_chart_once(
    broker: NatsBroker,
    assessment_store: EventStore,
    admission: None,
    database_url: str,
) -> None:
    chart = org_chart(500)
    loaded = read_people(as_csv(chart))
    assert (loaded.bad_rows, loaded.warnings, len(loaded.hires)) == ([], [], 500)
    for handler in OrgChart(SCHEMA).handlers(SCHEMA):
        subscribe(broker, assessment_store, handler)
    await broker.start()

    assert await publish_hires(broker, loaded.hires, "hris-load:tests") == 500
    await wait_until(
        lambda: len(people_rows(database_url)) == 500,
        60,
        "500 people",
        lambda: len(people_rows(database_url)),
    )

    rows = people_rows(database_url)
    async with assessment_store.pool.connection() as conn:
        ada = await OrgChart(SCHEMA).person(conn, chart[0].employee_id)
    assert ada is not None
    assert ada.name == chart[0].name, "the sealed name opened"
    for employee in random.Random(3).sample(chart, 25):
        manager, department, level = rows[employee.employee_id]
        assert (manager or "", department, level) == (
            employee.manager_id,
            employee.department,
            employee.level,
        )
    org = OrgChart(SCHEMA)
    async with assessment_store.pool.connection() as conn:
        for manager in random.Random(4).sample([e for e in chart if e.track == "manager"], 10):
            reports = await org.reports_of(conn, manager.employee_id)
            expected = sorted(e.employee_id for e in chart if e.manager_id == manager.employee_id)
            assert [p.employee_id for p in reports] == expected

    # Loading the same file again publishes the same event ids: nothing new anywhere.
    assert await publish_hires(broker, loaded.hires, "hris-load:tests") == 500
    info = await broker.connection.jetstream().stream_info(EVENT_STREAM)
    assert info.state.messages == 500
    assert people_rows(database_url) == rows


async def test_a_late_event_never_overwrites_a_newer_one(
    assessment_store: EventStore, database_url: str
) -> None:
    """Each event type has its own consumer, so one employee's events may cross."""
    org = OrgChart(SCHEMA)
    day = date(2026, 1, 5)
    hired = EmployeeHired(
        employee_id="E1",
        effective_on=day,
        name="Ada",
        department="Platform",
        job_family="product-engineering",
        track="ic",
        level="E2",
        manager_id="M1",
    )
    promoted = EmployeeRoleChanged(
        employee_id="E1",
        effective_on=day,
        department="Platform",
        job_family="product-engineering",
        track="ic",
        level="E3",
    )
    moved = EmployeeManagerChanged(employee_id="E1", effective_on=day, manager_id="M2")
    async with assessment_store.transaction() as conn:
        # Versions 2 and 3 arrive before the hiring (version 1).
        await org.manager_changed(conn, envelope(moved, "employee-E1", 3), moved)
        await org.role_changed(conn, envelope(promoted, "employee-E1", 2), promoted)
        await org.hired(conn, envelope(hired, "employee-E1", 1), hired)
    async with assessment_store.pool.connection() as conn:
        person = await org.person(conn, "E1")
    assert person is not None
    assert (person.name, person.level, person.manager_id) == ("Ada", "E3", "M2")
    assert person.active


async def test_managers_of_walks_the_reporting_line_and_stops_at_a_cycle(
    assessment_store: EventStore,
) -> None:
    """Who is above whom decides who may see and act for whom (a manager sees their reports,
    however many levels down). A cycle in what the HRIS sent must not loop forever."""
    org = OrgChart(SCHEMA)
    day = date(2026, 1, 5)

    def hire(employee: str, manager: str | None) -> EmployeeHired:
        return EmployeeHired(
            employee_id=employee,
            effective_on=day,
            name=employee,
            department="Platform",
            job_family="product-engineering",
            track="ic",
            level="E2",
            manager_id=manager,
        )

    async with assessment_store.transaction() as conn:
        for employee, manager in [("TOP", None), ("MID", "TOP"), ("E1", "MID"), ("X", "Y")]:
            event = hire(employee, manager)
            await org.hired(conn, envelope(event, f"employee-{employee}"), event)
        looped = hire("Y", "X")
        await org.hired(conn, envelope(looped, "employee-Y"), looped)
    async with assessment_store.pool.connection() as conn:
        assert await org.managers_of(conn, "E1") == ["MID", "TOP"]
        assert await org.managers_of(conn, "TOP") == []
        assert await org.managers_of(conn, "nobody") == []
        assert set(await org.managers_of(conn, "X")) == {"Y", "X"}


HrisFact = EmployeeHired | EmployeeRoleChanged | EmployeeManagerChanged


def career(employee: str) -> list[tuple[int, HrisFact]]:
    """One employee's HRIS stream: hired at L2, promoted to L3, a new manager, a move to
    another department at L3, then into the manager track at L3."""
    return [
        (1, hired(employee, "M1", "ic", "L2")),  # on 2024-01-02
        (2, role_changed(employee, date(2024, 9, 1), "L3")),
        (
            3,
            EmployeeManagerChanged(
                employee_id=employee, effective_on=date(2024, 10, 1), manager_id="M2"
            ),
        ),
        (4, role_changed(employee, date(2025, 2, 1), "L3", "Payments")),
        (5, role_changed(employee, date(2025, 6, 1), "L3", "Payments", track="manager")),
    ]


def true_start(stream: list[tuple[int, HrisFact]], newest: int) -> date:
    """The level start once version `newest` is the person's newest role fact, read off the
    whole history in order: the first fact after the last one in another position."""
    facts = [(v, e) for v, e in stream if v <= newest and not isinstance(e, EmployeeManagerChanged)]

    def position(e: HrisFact) -> tuple[str, str, str]:
        assert not isinstance(e, EmployeeManagerChanged)
        return (e.job_family, e.track, e.level)

    start = facts[-1][1]
    for _, e in reversed(facts):
        if position(e) != position(start):
            break
        start = e
    return start.effective_on


@pytest.mark.parametrize(
    ("events", "level_since", "position"),
    [
        # The promotion to L3 on 2024-09-01 starts the level; the department move keeps it.
        (4, date(2024, 9, 1), ("Payments", "ic", "L3")),
        # Moving into the manager track starts a new level, whatever its code.
        (5, date(2025, 6, 1), ("Payments", "manager", "L3")),
    ],
)
async def test_the_level_start_is_the_same_in_every_order_of_arrival(
    assessment_store: EventStore,
    events: int,
    level_since: date,
    position: tuple[str, str, str],
) -> None:
    """docs/domain.md §6, Readiness: the day the current level began, from the HRIS's
    effective dates, found alike however one employee's events cross between consumers; and
    on the way, after every arrival, either the right day for the newest position received
    or unknown (None), never a wrong day."""
    org = OrgChart(SCHEMA)
    orders = list(itertools.permutations(range(events)))
    for n, order in enumerate(orders):
        stream = career(f"E{n}")
        newest = 0
        for index in order:
            version, event = stream[index]
            await change(assessment_store, version, event)
            if not isinstance(event, EmployeeManagerChanged):
                newest = max(newest, version)
            if newest == 0:
                continue
            async with assessment_store.pool.connection() as conn:
                person = await org.person(conn, f"E{n}")
            assert person is not None
            assert person.level_since in (None, true_start(stream, newest)), (order, index)
    async with assessment_store.pool.connection() as conn:
        for n in range(len(orders)):
            person = await org.person(conn, f"E{n}")
            assert person is not None
            assert (person.department, person.track, person.level) == position, orders[n]
            assert person.level_since == level_since, orders[n]
            assert person.hired_on == date(2024, 1, 2)


async def test_an_older_event_dates_the_newer_position_and_never_puts_back_its_own(
    assessment_store: EventStore,
) -> None:
    """The department move (version 4) arrives first: L3 since when is unknown, since an
    earlier event (version 3) may be a role change to L3 too. The hiring at L2 (version 1)
    and the promotion to L3 (version 2) change neither position nor that: version 3 is still
    missing. The manager change (version 3) arrives last: nothing is missing below the move,
    so the promotion, older than the move, dates L3's start, and L3 stays the position."""
    org = OrgChart(SCHEMA)
    stream = career("E1")

    async def level_since() -> tuple[date | None, str | None, str | None]:
        async with assessment_store.pool.connection() as conn:
            person = await org.person(conn, "E1")
        assert person is not None
        return person.level_since, person.level, person.department

    await change(assessment_store, *stream[3])
    assert await level_since() == (None, "L3", "Payments")
    await change(assessment_store, *stream[0])
    assert await level_since() == (None, "L3", "Payments")
    await change(assessment_store, *stream[1])
    assert await level_since() == (None, "L3", "Payments")
    await change(assessment_store, *stream[2])
    assert await level_since() == (date(2024, 9, 1), "L3", "Payments")
    # The same event again (a redelivery the inbox did not catch) changes nothing.
    await change(assessment_store, *stream[1])
    assert await level_since() == (date(2024, 9, 1), "L3", "Payments")
    async with assessment_store.pool.connection() as conn:
        history = await org.position_history(conn, "E1")
    assert [(f.stream_version, f.effective_on, f.level) for f in history] == [
        (1, date(2024, 1, 2), "L2"),
        (2, date(2024, 9, 1), "L3"),
        (4, date(2025, 2, 1), "L3"),
    ]


def held_before_level_starts(database_url: str, schema: str, rows: list[tuple[Any, ...]]) -> None:
    """People as the org chart kept them before replica_oc_0002: a row each, no role fact."""
    with psycopg.connect(database_url) as conn:
        conn.execute(f"SET search_path TO {schema}")
        for row in rows:
            conn.execute(
                "INSERT INTO people (employee_id, hired_on, department, job_family, track, "
                "level, role_version, manager_id, manager_version) "
                "VALUES (%s, %s, 'Platform', 'eng', 'ic', %s, %s, 'M1', %s)",
                row,
            )


async def test_people_held_before_level_starts_were_kept_get_the_right_start_or_none(
    database_url: str,
) -> None:
    """docs/domain.md §6, Readiness, on a schema holding people from before the org chart
    kept level starts. Each one's position becomes a fact: dated by the hiring when the
    hiring set it, of unknown day otherwise; a department move keeps that start, and a run
    reaching below what is unknown gives no day rather than a wrong one.

    - HIRED: hired at L3 on 2024-01-02, nothing since; then moved to Payments at L3 on
      2026-01-05 (the move must not start the level).
    - PROMOTED: hired at L2, promoted to L3 (version 2, its day not kept); then a
      department move at L3: since when L3 is unknown.
    - MANAGED: hired at L2, a new manager (version 2); then promoted to L3 on 2026-01-05.
    - LATE: as HIRED, but the move arrived after replica_oc_0002 and before the fix, which
      dated L3 from the move; its hiring's fact was never kept: unknown, not 2026-01-05.
    """
    schema = "upgraded"
    migrate(database_url, schema, ORG_CHART_MIGRATIONS, to="replica_oc_0001")
    hired_on = date(2024, 1, 2)
    held_before_level_starts(
        database_url,
        schema,
        [
            ("HIRED", hired_on, "L3", 1, 1),
            ("PROMOTED", hired_on, "L3", 2, 1),
            ("MANAGED", hired_on, "L2", 1, 2),
            ("LATE", hired_on, "L3", 1, 1),
        ],
    )
    migrate(database_url, schema, ORG_CHART_MIGRATIONS, to="replica_oc_0002")
    moved_on = date(2026, 1, 5)
    with psycopg.connect(database_url) as conn:
        conn.execute(f"SET search_path TO {schema}")
        conn.execute(
            "UPDATE people SET department = 'Payments', role_version = 2, level_since = %s "
            "WHERE employee_id = 'LATE'",
            (moved_on,),
        )
        conn.execute(
            "INSERT INTO role_facts VALUES ('LATE', 2, %s, 'eng', 'ic', 'L3')", (moved_on,)
        )
    migrate(database_url, schema, ORG_CHART_MIGRATIONS)

    org = OrgChart(schema)
    async with AsyncConnectionPool(database_url, min_size=1, max_size=2, open=False) as pool:
        store = EventStore(pool, schema)

        async def starts() -> dict[str, date | None]:
            async with pool.connection() as conn:
                people = {p.employee_id: p for p in await org.everyone(conn)}
            return {e: p.level_since for e, p in sorted(people.items())}

        assert await starts() == {
            "HIRED": hired_on,
            "LATE": None,
            "MANAGED": hired_on,
            "PROMOTED": None,
        }
        await change(store, 2, role_changed("HIRED", moved_on, "L3", "Payments"))
        await change(store, 3, role_changed("PROMOTED", moved_on, "L3", "Payments"))
        await change(store, 3, role_changed("MANAGED", moved_on, "L3"))
        assert await starts() == {
            "HIRED": hired_on,
            "LATE": None,
            "MANAGED": moved_on,
            "PROMOTED": None,
        }
        async with pool.connection() as conn:
            history = await org.position_history(conn, "PROMOTED")
        assert [(f.stream_version, f.effective_on, f.level) for f in history] == [
            (2, None, "L3"),
            (3, moved_on, "L3"),
        ]
        await store.close()


async def test_people_whose_facts_are_all_kept_since_level_starts_were_kept_keep_their_start(
    database_url: str,
) -> None:
    """replica_oc_0003 on people hired after replica_oc_0002: every hiring and role change
    of theirs is a role fact, so the versions between their facts (manager changes,
    leavings) were applied and count as seen. Each was hired at L2 on 2024-01-02 (version
    1), given a new manager (version 2), then (version 3, 2025-03-01):
    - PROMOTED: promoted to L3: L3 since 2025-03-01.
    - MOVED: moved to Payments at L2: L2 since the hiring.
    """
    schema = "complete"
    migrate(database_url, schema, ORG_CHART_MIGRATIONS, to="replica_oc_0002")
    hired_on, changed_on = date(2024, 1, 2), date(2025, 3, 1)
    with psycopg.connect(database_url) as conn:
        conn.execute(f"SET search_path TO {schema}")
        for employee, level, since in (("PROMOTED", "L3", changed_on), ("MOVED", "L2", hired_on)):
            # As the org chart kept them under replica_oc_0002.
            conn.execute(
                "INSERT INTO people (employee_id, hired_on, department, job_family, track, "
                "level, role_version, manager_id, manager_version, level_since) "
                "VALUES (%s, %s, 'Payments', 'eng', 'ic', %s, 3, 'M2', 2, %s)",
                (employee, hired_on, level, since),
            )
            conn.execute(
                "INSERT INTO role_facts VALUES (%s, 1, %s, 'eng', 'ic', 'L2'), "
                "(%s, 3, %s, 'eng', 'ic', %s)",
                (employee, hired_on, employee, changed_on, level),
            )
    migrate(database_url, schema, ORG_CHART_MIGRATIONS)

    with psycopg.connect(database_url) as conn:
        seen = conn.execute(
            f"SELECT employee_id, array_agg(stream_version ORDER BY stream_version) "
            f"FROM {schema}.hris_versions GROUP BY employee_id"
        ).fetchall()
    assert dict(seen) == {"MOVED": [1, 2, 3], "PROMOTED": [1, 2, 3]}
    org = OrgChart(schema)
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        people = {p.employee_id: p.level_since for p in await org.everyone(conn)}
    assert people == {"MOVED": hired_on, "PROMOTED": changed_on}
