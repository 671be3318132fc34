"""Anchors to reword, from the assessment service's InconsistentAnchorsFound (docs/domain.md §4:
inconsistent anchors feed the next minor framework revision). HR reads them while drafting."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from psycopg import AsyncConnection, sql

from libs.events.envelope import Envelope
from libs.events.schemas.assessment import InconsistentAnchorsFound
from services.framework.application.ports import AnchorReview


@dataclass(frozen=True)
class _Statements:
    insert: sql.Composed
    select: sql.Composed


@cache
def _statements(schema: str) -> _Statements:
    table = sql.Identifier(schema, "anchor_reviews")
    return _Statements(
        insert=sql.SQL(
            "INSERT INTO {} (session_id, competency, framework_id, framework_version, "
            "flagged_items, compared_items, share, found_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
        ).format(table),
        select=sql.SQL(
            "SELECT competency, framework_version, session_id, flagged_items, compared_items, "
            "share, found_at FROM {} WHERE framework_id = %s AND framework_version >= %s "
            "ORDER BY share DESC, competency, found_at"
        ).format(table),
    )


class AnchorReviews:
    """The `AnchorReviews` port, read and written through one connection."""

    def __init__(self, conn: AsyncConnection[Any], schema: str) -> None:
        self.conn = conn
        self._sql = _statements(schema)

    async def record(self, envelope: Envelope, event: InconsistentAnchorsFound) -> None:
        for a in event.anchors:
            await self.conn.execute(
                self._sql.insert,
                (
                    event.session_id,
                    a.competency,
                    event.framework_id,
                    event.framework_version,
                    a.flagged_items,
                    a.compared_items,
                    a.share,
                    envelope.occurred_at,
                ),
            )

    async def of(self, framework_id: str, since_version: int) -> list[AnchorReview]:
        cur = await self.conn.execute(self._sql.select, (framework_id, since_version))
        columns = list(AnchorReview.model_fields)
        return [
            AnchorReview(**dict(zip(columns, row, strict=True))) for row in await cur.fetchall()
        ]
