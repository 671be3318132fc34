"""Anchors to reword, from the assessment service's InconsistentAnchorsFound (docs/domain.md §4:
inconsistent anchors feed the next minor framework revision). HR reads them while drafting."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from pydantic import BaseModel, ConfigDict

from libs.events.consumer import EventHandler
from libs.events.envelope import Envelope
from libs.events.schemas.assessment import InconsistentAnchorsFound


class AnchorReview(BaseModel):
    """One competency whose anchors raters read differently in one calibration session."""

    model_config = ConfigDict(frozen=True)

    competency: str
    framework_version: int
    session_id: str
    flagged_items: int
    compared_items: int
    share: float
    found_at: datetime


class AnchorReviews:
    def __init__(self, schema: str) -> None:
        table = sql.Identifier(schema, "anchor_reviews")
        self._insert = sql.SQL(
            "INSERT INTO {} (session_id, competency, framework_id, framework_version, "
            "flagged_items, compared_items, share, found_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
        ).format(table)
        self._select = sql.SQL(
            "SELECT competency, framework_version, session_id, flagged_items, compared_items, "
            "share, found_at FROM {} WHERE framework_id = %s AND framework_version >= %s "
            "ORDER BY share DESC, competency, found_at"
        ).format(table)

    async def found(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: InconsistentAnchorsFound
    ) -> None:
        for a in event.anchors:
            await conn.execute(
                self._insert,
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

    def handlers(self, service: str) -> list[EventHandler]:
        return [EventHandler(service, "anchor-reviews", InconsistentAnchorsFound, self.found)]

    async def of(
        self, conn: AsyncConnection[Any], framework_id: str, since_version: int = 1
    ) -> list[AnchorReview]:
        """Reviews of the framework's anchors, worst share first, from a version on."""
        cur = await conn.execute(self._select, (framework_id, since_version))
        columns = list(AnchorReview.model_fields)
        return [
            AnchorReview(**dict(zip(columns, row, strict=True))) for row in await cur.fetchall()
        ]
