"""The framework log read by who made each change, who gave each rating in a calibration
before launch and who wrote each comment and verdict on a draft: the `Changes` port, for
access requests about a person (docs/privacy.md, Requests)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection, sql

from services.framework.application.cadence import CADENCE_STREAMS
from services.framework.application.frameworks import AUTHORING_STREAMS, stream_of
from services.framework.application.ports import Change, Mention, RatingGiven, RemarkMade
from services.framework.application.prelaunch_calibrations import EXERCISE_STREAMS
from services.framework.domain.authoring import DraftElementCommented, ReviewVerdictGiven
from services.framework.domain.prelaunch_calibration import PrelaunchExampleRated


class FrameworkChanges:
    def __init__(self, conn: AsyncConnection[Any], schema: str) -> None:
        self.conn = conn
        # The framework's own stream, the stream of its co-authoring and review, and that of
        # its review cadence.
        self._select = sql.SQL(
            "SELECT stream_id, event_type, stream_version, occurred_at FROM {} "
            "WHERE actor = %s AND (starts_with(stream_id, %s) OR starts_with(stream_id, %s) "
            "OR starts_with(stream_id, %s)) ORDER BY global_position"
        ).format(sql.Identifier(schema, "events"))
        self._remarks = sql.SQL(
            "SELECT stream_id, event_type, payload, occurred_at FROM {} "
            "WHERE actor = %s AND event_type = ANY(%s) AND starts_with(stream_id, %s) "
            "ORDER BY global_position"
        ).format(sql.Identifier(schema, "events"))
        # The payload fields naming someone: an invitation's contributor, a round's
        # reviewers, a closed round's approvals.
        self._mentions = sql.SQL(
            "SELECT stream_id, event_type, occurred_at, payload->>'contributor' = %(p)s, "
            "coalesce(payload->'reviewers' ? %(p)s, false) FROM {} "
            "WHERE starts_with(stream_id, %(streams)s) AND ("
            "payload->>'contributor' = %(p)s OR payload->'reviewers' ? %(p)s "
            "OR payload->'approvals' @> jsonb_build_array(jsonb_build_object('reviewer', %(p)s))"
            ") ORDER BY global_position"
        ).format(sql.Identifier(schema, "events"))
        self._ratings = sql.SQL(
            "SELECT stream_id, payload, occurred_at FROM {} "
            "WHERE actor = %s AND event_type = %s AND starts_with(stream_id, %s) "
            "ORDER BY global_position"
        ).format(sql.Identifier(schema, "events"))

    async def made_by(self, actor: str) -> list[Change]:
        prefix = stream_of("")  # what every framework's stream id starts with
        cur = await self.conn.execute(
            self._select, (actor, prefix, AUTHORING_STREAMS, CADENCE_STREAMS)
        )
        return [
            Change(
                framework_id=_framework_of(stream, prefix),
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

    async def remarks_by(self, author: str) -> list[RemarkMade]:
        kinds = [DraftElementCommented.event_type, ReviewVerdictGiven.event_type]
        cur = await self.conn.execute(self._remarks, (author, kinds, AUTHORING_STREAMS))
        return [
            RemarkMade(
                framework_id=stream.removeprefix(AUTHORING_STREAMS),
                kind=kind,
                element=payload.get("element"),
                verdict=payload.get("verdict"),
                text=payload.get("text", payload.get("comment", "")),
                made_at=at,
            )
            for stream, kind, payload, at in await cur.fetchall()
        ]

    async def mentions_of(self, person: str) -> list[Mention]:
        cur = await self.conn.execute(self._mentions, {"p": person, "streams": AUTHORING_STREAMS})
        return [
            Mention(
                framework_id=stream.removeprefix(AUTHORING_STREAMS),
                kind=kind,
                named_as="contributor" if contributor else "reviewer" if reviewer else "approver",
                occurred_at=at,
            )
            for stream, kind, at, contributor, reviewer in await cur.fetchall()
        ]


def _framework_of(stream: str, prefix: str) -> str:
    """The framework a stream of its own, of its authoring or of its cadence belongs to."""
    for start in (prefix, AUTHORING_STREAMS, CADENCE_STREAMS):
        if stream.startswith(start):
            return stream.removeprefix(start)
    return stream
