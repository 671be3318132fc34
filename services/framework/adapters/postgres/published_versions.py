"""The published versions read model: one immutable row per version, written in the same
transaction as the `FrameworkPublished` event, so history and as-of queries never lag the log.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

from libs.events.envelope import Envelope
from libs.events.schemas.framework import Framework, FrameworkPublished, Revision

MIGRATIONS = Path(__file__).parent / "migrations"


class VersionSummary(BaseModel):
    framework_id: str
    version: int
    revision: Revision
    published_at: datetime
    actor: str


class PublishedVersion(VersionSummary):
    framework: Framework


class PublishedVersions:
    def __init__(self, pool: AsyncConnectionPool, schema: str) -> None:
        self.pool = pool
        table = sql.Identifier(schema, "published_versions")
        summary = "framework_id, version, revision, published_at, actor"
        self._insert = sql.SQL(
            "INSERT INTO {} (framework_id, version, revision, published_at, actor, event_id, "
            "framework) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        ).format(table)
        self._history = sql.SQL(
            f"SELECT {summary} FROM {{}} WHERE framework_id = %s ORDER BY version"
        ).format(table)
        self._frameworks = sql.SQL(
            f"SELECT DISTINCT ON (framework_id) {summary} FROM {{}} "
            "ORDER BY framework_id, version DESC"
        ).format(table)
        # One statement answers "this version", "in force at this instant" and "the latest".
        self._select = sql.SQL(
            f"SELECT {summary}, framework FROM {{}} WHERE framework_id = %(id)s "
            "AND (%(version)s::int IS NULL OR version = %(version)s) "
            "AND (%(as_of)s::timestamptz IS NULL OR published_at <= %(as_of)s) "
            "ORDER BY version DESC LIMIT 1"
        ).format(table)

    async def record(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: FrameworkPublished
    ) -> None:
        await conn.execute(
            self._insert,
            (
                event.framework_id,
                event.version,
                event.revision,
                event.published_at,
                envelope.actor,
                envelope.event_id,
                Jsonb(event.framework.model_dump(mode="json")),
            ),
        )

    async def history(self, framework_id: str) -> list[VersionSummary]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._history, (framework_id,))
            return [VersionSummary.model_validate(row) for row in await cur.fetchall()]

    async def latest_of_each(self) -> list[VersionSummary]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(self._frameworks)
            return [VersionSummary.model_validate(row) for row in await cur.fetchall()]

    async def find(
        self, framework_id: str, version: int | None = None, as_of: datetime | None = None
    ) -> PublishedVersion | None:
        """The version asked for, else the one in force at `as_of`, else the latest."""
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(
                self._select, {"id": framework_id, "version": version, "as_of": as_of}
            )
            row = await cur.fetchone()
        return PublishedVersion.model_validate(row) if row else None
