"""What calibrations found about the framework's versions (the assessment service's
AnchorFindingsRecorded), one row per session, kept whole (docs/framework.md, Upkeep)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from libs.events.envelope import Envelope
from libs.events.schemas.assessment import AnchorFindingsRecorded


@dataclass(frozen=True)
class _Statements:
    insert: sql.Composed
    of_framework: sql.Composed


@cache
def _statements(schema: str) -> _Statements:
    table = sql.Identifier(schema, "calibration_findings")
    return _Statements(
        insert=sql.SQL(
            "INSERT INTO {} (session_id, campaign_id, framework_id, framework_version, "
            "findings, found_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
        ).format(table),
        of_framework=sql.SQL(
            "SELECT findings FROM {} WHERE framework_id = %s ORDER BY found_at, session_id"
        ).format(table),
    )


class CalibrationFindings:
    """The `CalibrationFindings` port, read and written through one connection."""

    def __init__(self, conn: AsyncConnection[Any], schema: str) -> None:
        self.conn = conn
        self._sql = _statements(schema)

    async def record(self, envelope: Envelope, event: AnchorFindingsRecorded) -> None:
        await self.conn.execute(
            self._sql.insert,
            (
                event.session_id,
                event.campaign_id,
                event.framework_id,
                event.framework_version,
                Jsonb(event.model_dump(mode="json")),
                envelope.occurred_at,
            ),
        )

    async def of(self, framework_id: str) -> list[AnchorFindingsRecorded]:
        cur = await self.conn.execute(self._sql.of_framework, (framework_id,))
        return [AnchorFindingsRecorded.model_validate(row[0]) for row in await cur.fetchall()]
