"""The org chart read model, kept from the HRIS events (people, positions, reporting lines),
in the schema of each service that needs it (assessment for raters, development for mentors
and team views, promotion for readiness).

Each event type has its own durable consumer, so one employee's events may be applied out
of order: every aspect (position, manager) keeps the stream version of the event that last
set it, and an older event never overwrites a newer one. A person first seen through a
later event is recorded with what that event says, and completed when the hiring arrives.

The **level start** (`level_since`, docs/domain.md §6, Readiness) is the day the person's
current position began: the `effective_on` of the hiring, or of the latest role change that
moved them to another level, track or job family. A move to another department (or a
correction repeating the position) does not reset it. It is found from every role fact of
the person, kept by stream version (`role_facts`), and the versions of every HRIS event of
theirs applied here (`hris_versions`): the earliest fact of the newest run of facts in the
position the newest fact names, when nothing missing could lie below it
(`libs.replicas.people.level_start`). So events arriving in any order give the right day or
none ("unknown") until the event missing from the run arrives, never a wrong day; an older
fact only ever dates the start of the position a newer one holds, it never puts back its
own. People held before the level start was kept have the position they held then as a
fact of unknown day, a hiring's excepted (replica_oc_0003).

The level start is judged only where every HRIS event type on the employee stream arrives:
in the promotion service, whose handler of `ProtectedAttributeRecorded` (an event the org
chart does not keep: data minimisation leaves it to that service alone) marks its version
seen (`seen`). Elsewhere (assessment, development) a person with such an event below their
current level has a level start that may read unknown for good; those services do not judge
time at level.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import class_row

from libs.events.consumer import EventHandler
from libs.events.envelope import Envelope
from libs.events.schemas.hris import (
    EmployeeHired,
    EmployeeLeft,
    EmployeeManagerChanged,
    EmployeeRoleChanged,
)
from libs.personal.sealing import ERASED
from libs.replicas.people import Person, RoleFact, level_start

MIGRATIONS = Path(__file__).parent / "migrations" / "org_chart"

_POSITION = ("department", "job_family", "track", "level")
# What a level start counts from: a department move keeps the level it began.
_LEVEL = ("job_family", "track", "level")


def _newer(column: str, version: str) -> sql.Composable:
    """`column` takes the incoming value only when the incoming event is newer."""
    return sql.SQL(
        "{c} = CASE WHEN people.{v} < excluded.{v} THEN excluded.{c} ELSE people.{c} END"
    ).format(c=sql.Identifier(column), v=sql.Identifier(version))


class OrgChart:
    def __init__(self, schema: str) -> None:
        self.schema = schema
        table = sql.Identifier(schema, "people")
        position = [_newer(c, "role_version") for c in _POSITION]
        self._upserts = {
            "hired": self._upsert(
                table,
                ["name", "hired_on", *_POSITION, "role_version", "manager_id", "manager_version"],
                [
                    sql.SQL("name = excluded.name"),
                    sql.SQL("hired_on = excluded.hired_on"),
                    *position,
                    _newer("manager_id", "manager_version"),
                    sql.SQL("role_version = greatest(people.role_version, excluded.role_version)"),
                    sql.SQL(
                        "manager_version = greatest(people.manager_version, "
                        "excluded.manager_version)"
                    ),
                ],
            ),
            "role": self._upsert(
                table,
                [*_POSITION, "role_version"],
                [
                    *position,
                    sql.SQL("role_version = greatest(people.role_version, excluded.role_version)"),
                ],
            ),
            "manager": self._upsert(
                table,
                ["manager_id", "manager_version"],
                [
                    _newer("manager_id", "manager_version"),
                    sql.SQL(
                        "manager_version = greatest(people.manager_version, "
                        "excluded.manager_version)"
                    ),
                ],
            ),
            "left": self._upsert(table, ["left_on"], [sql.SQL("left_on = excluded.left_on")]),
            # Changes nothing: only takes the person's row lock, as every event of theirs does.
            "seen": self._upsert(table, [], [sql.SQL("role_version = people.role_version")]),
        }
        columns = sql.SQL(", ").join(map(sql.Identifier, Person.model_fields))
        self._select = sql.SQL("SELECT {} FROM {} ").format(columns, table)
        facts = sql.Identifier(schema, "role_facts")
        self._role_fact = sql.SQL(
            "INSERT INTO {} (employee_id, stream_version, effective_on, {}) "
            "VALUES (%(employee_id)s, %(stream_version)s, %(effective_on)s, {}) "
            "ON CONFLICT DO NOTHING"
        ).format(
            facts,
            sql.SQL(", ").join(map(sql.Identifier, _LEVEL)),
            sql.SQL(", ").join(map(sql.Placeholder, _LEVEL)),
        )
        self._seen = sql.SQL(
            "INSERT INTO {} (employee_id, stream_version) VALUES (%s, %s) ON CONFLICT DO NOTHING"
        ).format(sql.Identifier(schema, "hris_versions"))
        self._facts = sql.SQL(
            "SELECT stream_version, effective_on, job_family, track, level FROM {} "
            "WHERE employee_id = %s ORDER BY stream_version"
        ).format(facts)
        self._versions = sql.SQL("SELECT stream_version FROM {} WHERE employee_id = %s").format(
            sql.Identifier(schema, "hris_versions")
        )
        self._level_since = sql.SQL(
            "UPDATE {} SET level_since = %(since)s "
            "WHERE employee_id = %(employee_id)s AND level_since IS DISTINCT FROM %(since)s"
        ).format(table)
        # Rendered once: every command of a campaign's people asks it, and psycopg renders a
        # composed query again on each execution.
        self._around = (
            self._select
            + sql.SQL(
                "WHERE employee_id = ANY(%(ids)s) "
                "OR employee_id = (SELECT manager_id FROM {people} "
                "                  WHERE employee_id = %(subject)s) "
                "OR (manager_id = %(subject)s AND left_on IS NULL) "
                "ORDER BY employee_id"
            ).format(people=table)
        ).as_bytes()
        self._erase = sql.SQL(
            "UPDATE {} SET name = %s WHERE employee_id = %s AND name IS DISTINCT FROM %s"
        ).format(table)

    @staticmethod
    def _upsert(
        table: sql.Identifier, columns: list[str], updates: list[sql.Composable]
    ) -> sql.Composed:
        names = ["employee_id", *columns]
        return sql.SQL(
            "INSERT INTO {t} AS people ({cols}) VALUES ({vals}) "
            "ON CONFLICT (employee_id) DO UPDATE SET {updates}"
        ).format(
            t=table,
            cols=sql.SQL(", ").join(map(sql.Identifier, names)),
            vals=sql.SQL(", ").join(sql.Placeholder(n) for n in names),
            updates=sql.SQL(", ").join(updates),
        )

    async def hired(self, conn: AsyncConnection[Any], envelope: Envelope, e: EmployeeHired) -> None:
        await conn.execute(
            self._upserts["hired"],
            {
                **e.model_dump(include={"employee_id", "name", "manager_id", *_POSITION}),
                "hired_on": e.effective_on,
                "role_version": envelope.stream_version,
                "manager_version": envelope.stream_version,
            },
        )
        await self._role_fact_of(conn, envelope, e)

    async def role_changed(
        self, conn: AsyncConnection[Any], envelope: Envelope, e: EmployeeRoleChanged
    ) -> None:
        await conn.execute(
            self._upserts["role"],
            {
                **e.model_dump(include={"employee_id", *_POSITION}),
                "role_version": envelope.stream_version,
            },
        )
        await self._role_fact_of(conn, envelope, e)

    async def _role_fact_of(
        self, conn: AsyncConnection[Any], envelope: Envelope, e: EmployeeHired | EmployeeRoleChanged
    ) -> None:
        """Keep the fact and date the current level again."""
        fact = {
            **e.model_dump(include={"employee_id", "effective_on", *_LEVEL}),
            "stream_version": envelope.stream_version,
        }
        await conn.execute(self._role_fact, fact)
        await self._applied(conn, envelope, e.employee_id)

    async def _applied(
        self, conn: AsyncConnection[Any], envelope: Envelope, employee_id: str
    ) -> None:
        """Keep the event's version and date the current level again: a manager change or a
        leaving may fill the gap that left it unknown. Run after the upsert of the person,
        whose row lock makes a concurrent event of theirs wait and then be seen."""
        await conn.execute(self._seen, (employee_id, envelope.stream_version))
        facts = await self.position_history(conn, employee_id)
        versions = await conn.execute(self._versions, (employee_id,))
        since = level_start(facts, {row[0] for row in await versions.fetchall()})
        await conn.execute(self._level_since, {"employee_id": employee_id, "since": since})

    async def manager_changed(
        self, conn: AsyncConnection[Any], envelope: Envelope, e: EmployeeManagerChanged
    ) -> None:
        await conn.execute(
            self._upserts["manager"],
            {
                "employee_id": e.employee_id,
                "manager_id": e.manager_id,
                "manager_version": envelope.stream_version,
            },
        )
        await self._applied(conn, envelope, e.employee_id)

    async def left(self, conn: AsyncConnection[Any], envelope: Envelope, e: EmployeeLeft) -> None:
        await conn.execute(
            self._upserts["left"], {"employee_id": e.employee_id, "left_on": e.effective_on}
        )
        await self._applied(conn, envelope, e.employee_id)

    async def seen(self, conn: AsyncConnection[Any], envelope: Envelope, employee_id: str) -> None:
        """An HRIS event of the person that the org chart does not keep, applied by another
        handler of the service in its transaction (the promotion service's
        `ProtectedAttributeRecorded`): its version is marked seen, or the level start of
        anyone with such an event below their current level would stay unknown for good."""
        await conn.execute(self._upserts["seen"], {"employee_id": employee_id})
        await self._applied(conn, envelope, employee_id)

    async def erase(self, conn: AsyncConnection[Any], employee_id: str) -> int:
        """Forget the person's name (docs/privacy.md, Requests): their place in the chart
        stays, since other people's reporting lines run through it, and so does their
        position history (`role_facts`: positions and days, no name or text), as the
        position on their row does. Returns the names forgotten (0 on a repeat). An
        `EmployeeHired` applied later opens its sealed name as erased, so nothing brings the
        name back."""
        cur = await conn.execute(self._erase, (ERASED, employee_id, ERASED))
        return cur.rowcount

    def on(self, conn: AsyncConnection[Any]) -> BoundOrgChart:
        """The replica read through `conn`, in its transaction (a unit of work's)."""
        return BoundOrgChart(self, conn)

    def handlers(self, service: str) -> list[EventHandler]:
        return [
            EventHandler(service, "org-chart-hired", EmployeeHired, self.hired),
            EventHandler(service, "org-chart-role", EmployeeRoleChanged, self.role_changed),
            EventHandler(
                service, "org-chart-manager", EmployeeManagerChanged, self.manager_changed
            ),
            EventHandler(service, "org-chart-left", EmployeeLeft, self.left),
        ]

    async def person(self, conn: AsyncConnection[Any], employee_id: str) -> Person | None:
        async with conn.cursor(row_factory=class_row(Person)) as cur:
            await cur.execute(self._select + sql.SQL("WHERE employee_id = %s"), (employee_id,))
            return await cur.fetchone()

    async def position_history(
        self, conn: AsyncConnection[Any], employee_id: str
    ) -> list[RoleFact]:
        """The person's hirings and role changes kept, oldest first: what their level start
        is found from, given with what is held about them (docs/privacy.md, Requests)."""
        async with conn.cursor(row_factory=class_row(RoleFact)) as cur:
            await cur.execute(self._facts, (employee_id,))
            return await cur.fetchall()

    async def reports_of(self, conn: AsyncConnection[Any], manager_id: str) -> list[Person]:
        """Direct reports still employed."""
        async with conn.cursor(row_factory=class_row(Person)) as cur:
            await cur.execute(
                self._select
                + sql.SQL("WHERE manager_id = %s AND left_on IS NULL ORDER BY employee_id"),
                (manager_id,),
            )
            return await cur.fetchall()

    async def everyone(self, conn: AsyncConnection[Any]) -> list[Person]:
        async with conn.cursor(row_factory=class_row(Person)) as cur:
            await cur.execute(self._select + sql.SQL("ORDER BY employee_id"))
            return await cur.fetchall()

    async def managers_of(self, conn: AsyncConnection[Any], employee_id: str) -> list[str]:
        """Everyone above the employee in the reporting line, nearest first (a cycle in
        what the HRIS sent stops the walk rather than looping)."""
        cur = await conn.execute(
            sql.SQL(
                "WITH RECURSIVE up(employee_id, depth, path) AS ("
                "  SELECT manager_id, 1, ARRAY[employee_id] FROM {people} "
                "  WHERE employee_id = %s AND manager_id IS NOT NULL"
                "  UNION ALL"
                "  SELECT p.manager_id, up.depth + 1, up.path || p.employee_id "
                "  FROM up JOIN {people} p ON p.employee_id = up.employee_id "
                "  WHERE p.manager_id IS NOT NULL AND NOT p.employee_id = ANY(up.path)"
                ") SELECT employee_id FROM up ORDER BY depth"
            ).format(people=sql.Identifier(self.schema, "people")),
            (employee_id,),
        )
        return list(dict.fromkeys(row[0] for row in await cur.fetchall()))

    async def around(
        self, conn: AsyncConnection[Any], subject: str, also: Iterable[str] = ()
    ) -> list[Person]:
        """The subject, their manager, their current reports and `also`, in one query: what
        one subject's raters and nominations need."""
        async with conn.cursor(row_factory=class_row(Person)) as cur:
            await cur.execute(self._around, {"ids": [subject, *also], "subject": subject})
            return await cur.fetchall()


@dataclass(frozen=True)
class BoundOrgChart:
    """The replica's queries on one connection: the org chart port a unit of work hands its
    use cases (docs/architecture.md §1, Inside a service)."""

    chart: OrgChart
    conn: AsyncConnection[Any]

    async def person(self, employee_id: str) -> Person | None:
        return await self.chart.person(self.conn, employee_id)

    async def position_history(self, employee_id: str) -> list[RoleFact]:
        return await self.chart.position_history(self.conn, employee_id)

    async def reports_of(self, manager_id: str) -> list[Person]:
        return await self.chart.reports_of(self.conn, manager_id)

    async def everyone(self) -> list[Person]:
        return await self.chart.everyone(self.conn)

    async def managers_of(self, employee_id: str) -> list[str]:
        return await self.chart.managers_of(self.conn, employee_id)

    async def around(self, subject: str, also: Iterable[str] = ()) -> list[Person]:
        return await self.chart.around(self.conn, subject, also)

    async def erase(self, employee_id: str) -> int:
        return await self.chart.erase(self.conn, employee_id)

    async def seen(self, envelope: Envelope, employee_id: str) -> None:
        await self.chart.seen(self.conn, envelope, employee_id)
