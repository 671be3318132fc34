"""The published versions read model: one immutable row per version, written in the same
transaction as the `FrameworkPublished` event, so history and as-of queries never lag the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from libs.events.envelope import Appended
from libs.events.schemas.framework import FrameworkPublished
from services.framework.application.ports import PublishedVersion, VersionSummary

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass(frozen=True)
class _Statements:
    insert: sql.Composed
    history: sql.Composed
    frameworks: sql.Composed
    select: sql.Composed
    published_by: sql.Composed


@cache
def _statements(schema: str) -> _Statements:
    table = sql.Identifier(schema, "published_versions")
    summary = "framework_id, version, revision, published_at, actor, approvals"
    return _Statements(
        insert=sql.SQL(
            "INSERT INTO {} (framework_id, version, revision, published_at, actor, event_id, "
            "framework, approvals) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(table),
        history=sql.SQL(
            f"SELECT {summary} FROM {{}} WHERE framework_id = %s ORDER BY version"
        ).format(table),
        frameworks=sql.SQL(
            f"SELECT DISTINCT ON (framework_id) {summary} FROM {{}} "
            "ORDER BY framework_id, version DESC"
        ).format(table),
        published_by=sql.SQL(
            f"SELECT {summary} FROM {{}} WHERE actor = %s ORDER BY published_at, framework_id"
        ).format(table),
        # One statement answers "this version", "in force at this instant" and "the latest".
        select=sql.SQL(
            f"SELECT {summary}, framework FROM {{}} WHERE framework_id = %(id)s "
            "AND (%(version)s::int IS NULL OR version = %(version)s) "
            "AND (%(as_of)s::timestamptz IS NULL OR published_at <= %(as_of)s) "
            "ORDER BY version DESC LIMIT 1"
        ).format(table),
    )


class PublishedVersions:
    """The `VersionRecord` port, read and written through one connection."""

    def __init__(self, conn: AsyncConnection[Any], schema: str) -> None:
        self.conn = conn
        self._sql = _statements(schema)

    async def record(self, envelope: Appended, event: FrameworkPublished) -> None:
        await self.conn.execute(
            self._sql.insert,
            (
                event.framework_id,
                event.version,
                event.revision,
                event.published_at,
                envelope.actor,
                envelope.event_id,
                Jsonb(event.framework.model_dump(mode="json")),
                Jsonb([a.model_dump(mode="json") for a in event.approvals]),
            ),
        )

    async def history(self, framework_id: str) -> list[VersionSummary]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._sql.history, (framework_id,))
            return [VersionSummary.model_validate(row) for row in await cur.fetchall()]

    async def latest_of_each(self) -> list[VersionSummary]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._sql.frameworks)
            return [VersionSummary.model_validate(row) for row in await cur.fetchall()]

    async def published_by(self, actor: str) -> list[VersionSummary]:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._sql.published_by, (actor,))
            return [VersionSummary.model_validate(row) for row in await cur.fetchall()]

    async def find(
        self, framework_id: str, version: int | None = None, as_of: datetime | None = None
    ) -> PublishedVersion | None:
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                self._sql.select, {"id": framework_id, "version": version, "as_of": as_of}
            )
            row = await cur.fetchone()
        return PublishedVersion.model_validate(row) if row else None
