"""The framework log read by who made each change and who gave each rating in a calibration
before launch: the `Changes` port, for access requests about a person (docs/privacy.md,
Requests)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, sql

from services.framework.application.cadence import CADENCE_STREAMS
from services.framework.application.frameworks import stream_of
from services.framework.application.ports import Change, RatingGiven
from services.framework.application.prelaunch_calibrations import EXERCISE_STREAMS
from services.framework.domain.prelaunch_calibration import PrelaunchExampleRated


class FrameworkChanges:
    def __init__(self, conn: AsyncConnection[Any], schema: str) -> None:
        self.conn = conn
        self._select = sql.SQL(
            "SELECT stream_id, event_type, stream_version, occurred_at FROM {} "
            "WHERE actor = %s AND (starts_with(stream_id, %s) OR starts_with(stream_id, %s)) "
            "ORDER BY global_position"
        ).format(sql.Identifier(schema, "events"))
        self._ratings = sql.SQL(
            "SELECT stream_id, payload, occurred_at FROM {} "
            "WHERE actor = %s AND event_type = %s AND starts_with(stream_id, %s) "
            "ORDER BY global_position"
        ).format(sql.Identifier(schema, "events"))

    async def made_by(self, actor: str) -> list[Change]:
        prefix = stream_of("")  # what every framework's stream id starts with
        # and the reviews recorded, in each framework's cadence stream
        cur = await self.conn.execute(self._select, (actor, prefix, CADENCE_STREAMS))
        return [
            Change(
                framework_id=stream.removeprefix(
                    prefix if stream.startswith(prefix) else CADENCE_STREAMS
                ),
                change=change,
                stream_version=version,
                occurred_at=at,
            )
            for stream, change, version, at in await cur.fetchall()
        ]

    async def ratings_given_by(self, rater: str) -> list[RatingGiven]:
        kind = PrelaunchExampleRated.event_type
        cur = await self.conn.execute(self._ratings, (rater, kind, EXERCISE_STREAMS))
        found = []
        for stream, payload, at in await cur.fetchall():
            framework_id, exercise_id = stream.removeprefix(EXERCISE_STREAMS).split("/")
            found.append(
                RatingGiven(
                    framework_id=framework_id,
                    exercise_id=exercise_id,
                    example=payload["example"],
                    rating=payload["rating"],
                    rated_at=at,
                )
            )
        return found
