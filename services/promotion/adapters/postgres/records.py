"""The promotion service's read models: calibrated scores from `CalibrationCompleted`, the
criteria versions HR published, and the protected attribute from the HRIS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from libs.events.envelope import Envelope
from libs.events.schemas.assessment import CalibrationCompleted
from libs.events.schemas.hris import ProtectedAttributeRecorded
from libs.personal.sealing import ERASED
from services.promotion.application.ports import (
    Calibrated,
    Placed,
    PublishedCriteria,
    RecordedAttribute,
)
from services.promotion.domain.criteria import CriteriaSet
from services.promotion.domain.readiness import CalibratedScores

_CALIBRATED_COLUMNS = (
    "c.campaign_id, c.completed_at, s.position, s.scores, c.session_id, "
    "c.framework_id, c.framework_version, s.employee_id"
)
_CALIBRATED_FROM = "FROM {scores} s JOIN {calibrations} c USING (session_id) "
_CALIBRATED = f"SELECT {_CALIBRATED_COLUMNS} {_CALIBRATED_FROM}"

# Everyone the org chart has active in a department (`p`: its people), only the one named.
_ACTIVE_IN_DEPARTMENT = (
    "p.hired_on IS NOT NULL AND p.left_on IS NULL AND p.department IS NOT NULL "
    "AND (%(department)s::text IS NULL OR p.department = %(department)s)"
)
# People per round trip when a session's population is streamed.
_BATCH = 1_000


class PromotionRecords:
    """The `PromotionRecords` port on one connection, in its transaction."""

    def __init__(self, conn: AsyncConnection[Any], schema: str) -> None:
        self.conn = conn
        self.schema = schema
        # Serialises criteria publications: versions are numbered without gaps.
        self._criteria_lock = sql.SQL(
            "SELECT pg_advisory_xact_lock(hashtextextended({}, 0))"
        ).format(sql.Literal(f"{schema}.criteria_versions"))

    def _q(self, query: str) -> sql.Composed:
        names = (
            "calibrations",
            "calibrated_scores",
            "criteria_versions",
            "protected_attributes",
            "people",  # the org chart replica, in the same schema
        )
        tables = {n: sql.Identifier(self.schema, n) for n in names}
        return sql.SQL(query).format(scores=tables["calibrated_scores"], **tables)

    # -- calibrations ------------------------------------------------------------------

    async def record_calibration(self, event: CalibrationCompleted, at: datetime) -> bool:
        """Keep a session's scores as they were; False when the session was recorded before
        (a repeated event: the scores a decision relied on never change). The scores per
        competency only: criteria are per competency, and a competency assessed per
        sub-skill is judged on its rolled-up score (docs/domain.md §6, Criteria)."""
        cur = await self.conn.execute(
            self._q(
                "INSERT INTO {calibrations} VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
            ),
            (event.session_id, event.campaign_id, event.framework_id, event.framework_version, at),
        )
        if cur.rowcount == 0:
            return False
        async with self.conn.cursor() as c:
            await c.executemany(
                self._q("INSERT INTO {calibrated_scores} VALUES (%s, %s, %s, %s, %s)"),
                [
                    (
                        event.session_id,
                        s.subject,
                        Jsonb(list(s.position)) if s.position else None,
                        Jsonb(s.scores),
                        at,
                    )
                    for s in event.scores
                ],
            )
        return True

    def _calibrated(self, row: tuple[Any, ...]) -> Calibrated:
        campaign, at, position, scores, session, framework_id, version, employee = row
        return Calibrated(
            campaign_id=campaign,
            completed_at=at,
            position=tuple(position) if position else None,  # type: ignore[arg-type]
            scores=CalibratedScores(
                session_id=session,
                framework_id=framework_id,
                framework_version=version,
                subject=employee,
                scores=scores,
            ),
        )

    async def latest_calibration(
        self, employee_id: str, framework_id: str | None = None
    ) -> Calibrated | None:
        """The newest session that scored the employee (on that framework, when given)."""
        cur = await self.conn.execute(
            self._q(
                _CALIBRATED + "WHERE s.employee_id = %s AND (%s::text IS NULL OR "
                "c.framework_id = %s) ORDER BY c.completed_at DESC, c.session_id DESC LIMIT 1"
            ),
            (employee_id, framework_id, framework_id),
        )
        row = await cur.fetchone()
        return self._calibrated(row) if row else None

    async def calibrations_of(self, employee_id: str) -> list[Calibrated]:
        cur = await self.conn.execute(
            self._q(_CALIBRATED + "WHERE s.employee_id = %s ORDER BY c.completed_at, c.session_id"),
            (employee_id,),
        )
        return [self._calibrated(row) for row in await cur.fetchall()]

    async def calibration_of(self, session_id: str, employee_id: str) -> Calibrated | None:
        cur = await self.conn.execute(
            self._q(_CALIBRATED + "WHERE s.session_id = %s AND s.employee_id = %s"),
            (session_id, employee_id),
        )
        row = await cur.fetchone()
        return self._calibrated(row) if row else None

    async def population(self, session_id: str | None = None) -> list[Calibrated]:
        cur = await self.conn.execute(
            self._q(
                _CALIBRATED + "WHERE s.session_id = coalesce(%s::text, (SELECT session_id "
                "FROM {calibrations} ORDER BY completed_at DESC, session_id DESC LIMIT 1)) "
                "ORDER BY s.employee_id"
            ),
            (session_id,),
        )
        return [self._calibrated(row) for row in await cur.fetchall()]

    async def latest_session(self, department: str | None = None) -> str | None:
        # Newest first, stopping at the first session that scored someone of the population.
        cur = await self.conn.execute(
            self._q(
                "SELECT c.session_id FROM {calibrations} c WHERE EXISTS ("
                "  SELECT 1 FROM {scores} s JOIN {people} p USING (employee_id)"
                "  WHERE s.session_id = c.session_id AND " + _ACTIVE_IN_DEPARTMENT + ") "
                "ORDER BY c.completed_at DESC, c.session_id DESC LIMIT 1"
            ),
            {"department": department},
        )
        row = await cur.fetchone()
        return None if row is None else row[0]

    async def in_departments(
        self, session_id: str, department: str | None = None
    ) -> AsyncIterator[list[Placed]]:
        # The org chart joined here: where each person is comes with their scores, in one
        # query, not a person at a time.
        query = self._q(
            f"SELECT {_CALIBRATED_COLUMNS}, p.department, p.job_family, p.track, p.level, "
            f"p.level_since {_CALIBRATED_FROM}"
            "JOIN {people} p ON p.employee_id = s.employee_id "
            "WHERE s.session_id = %(session)s AND " + _ACTIVE_IN_DEPARTMENT + " "
            "ORDER BY s.employee_id"
        )
        # A server-side cursor: PostgreSQL hands the rows over a batch at a time.
        async with self.conn.cursor(name="in_departments") as cur:
            await cur.execute(query, {"session": session_id, "department": department})
            while rows := await cur.fetchmany(_BATCH):
                yield [
                    Placed(
                        calibrated=self._calibrated(row[:8]),
                        department=row[8],
                        position=(row[9], row[10], row[11]) if all(row[9:12]) else None,
                        level_since=row[12],
                    )
                    for row in rows
                ]

    # -- criteria versions -------------------------------------------------------------

    async def criteria(self, version: int | None = None) -> PublishedCriteria | None:
        """The given version, else the latest."""
        cur = await self.conn.execute(
            self._q(
                "SELECT criteria, published_by, published_at FROM {criteria_versions} "
                "WHERE %s::int IS NULL OR version = %s ORDER BY version DESC LIMIT 1"
            ),
            (version, version),
        )
        row = await cur.fetchone()
        if row is None:
            return None
        return PublishedCriteria(CriteriaSet.model_validate(row[0]), row[1], row[2])

    async def publish_criteria(
        self,
        draft: dict[str, Any],
        by: str,
        at: datetime,
    ) -> CriteriaSet:
        """Number `draft` (a `CriteriaSet` without its version) as the next version."""
        await self.conn.execute(self._criteria_lock)
        cur = await self.conn.execute(
            self._q("SELECT coalesce(max(version), 0) FROM {criteria_versions}")
        )
        row = await cur.fetchone()
        published = CriteriaSet.model_validate({**draft, "version": (row[0] if row else 0) + 1})
        await self.conn.execute(
            self._q("INSERT INTO {criteria_versions} VALUES (%s, %s, %s, %s)"),
            (published.version, Jsonb(published.model_dump(mode="json")), by, at),
        )
        return published

    # -- the protected attribute -------------------------------------------------------

    async def record_attribute(self, envelope: Envelope, event: ProtectedAttributeRecorded) -> None:
        """Keep the newest value per person and attribute: an older event never overwrites
        a newer one (events of one employee may arrive out of order)."""
        await self.conn.execute(
            self._q(
                "INSERT INTO {protected_attributes} AS a VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (employee_id, attribute) DO UPDATE SET value = excluded.value, "
                "effective_on = excluded.effective_on, stream_version = excluded.stream_version "
                "WHERE a.stream_version < excluded.stream_version"
            ),
            (
                event.employee_id,
                event.attribute,
                event.value,
                event.effective_on,
                envelope.stream_version,
            ),
        )

    async def attributes_of(self, employee_id: str) -> list[RecordedAttribute]:
        cur = await self.conn.execute(
            self._q(
                "SELECT attribute, value, effective_on FROM {protected_attributes} "
                "WHERE employee_id = %s ORDER BY attribute"
            ),
            (employee_id,),
        )
        return [RecordedAttribute(*row) for row in await cur.fetchall()]

    async def erase_attributes(self, employee_id: str) -> int:
        """The row stays, so that an older event replayed does not bring a value back (its
        stream version is lower); fairness counts `[erased]` as undisclosed."""
        cur = await self.conn.execute(
            self._q(
                "UPDATE {protected_attributes} SET value = %s WHERE employee_id = %s "
                "AND value IS DISTINCT FROM %s"
            ),
            (ERASED, employee_id, ERASED),
        )
        return cur.rowcount

    async def attribute(self, attribute: str) -> dict[str, str | None]:
        cur = await self.conn.execute(
            self._q("SELECT employee_id, value FROM {protected_attributes} WHERE attribute = %s"),
            (attribute,),
        )
        return dict(await cur.fetchall())
