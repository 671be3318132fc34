"""The framework log read by who made each change: the `Changes` port, for access requests
about a person (docs/privacy.md, Requests)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, sql

from services.framework.application.frameworks import stream_of
from services.framework.application.ports import Change


class FrameworkChanges:
    def __init__(self, conn: AsyncConnection[Any], schema: str) -> None:
        self.conn = conn
        self._select = sql.SQL(
            "SELECT stream_id, event_type, stream_version, occurred_at FROM {} "
            "WHERE actor = %s AND starts_with(stream_id, %s) ORDER BY global_position"
        ).format(sql.Identifier(schema, "events"))

    async def made_by(self, actor: str) -> list[Change]:
        prefix = stream_of("")  # what every framework's stream id starts with
        cur = await self.conn.execute(self._select, (actor, prefix))
        return [
            Change(
                framework_id=stream.removeprefix(prefix),
                change=change,
                stream_version=version,
                occurred_at=at,
            )
            for stream, change, version, at in await cur.fetchall()
        ]
