"""Which review cycles HR started, kept from the cycles context's `CycleRequested` events.

A cycle's workflow runs on Temporal, and anyone who can reach Temporal can start a workflow
with whatever input they like: an activity takes no identity and no privilege from it. It
acts for a cycle only if the cycles API recorded that a signed-in hr_admin started that
cycle, only when the workflow that scheduled it is that cycle's own, and then on behalf of
the recorded person.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool
from temporalio.exceptions import ApplicationError

from libs.events.consumer import EventHandler
from libs.events.envelope import Envelope
from libs.events.schemas.cycles import CycleRequested
from libs.platform.auth import Actor
from libs.replicas.requests import carries_grant, may_still_arrive, scheduled_by
from libs.workflows.messages import (
    series_of,
)

MIGRATIONS = Path(__file__).parent / "migrations" / "cycles"
# The API records the request just before it starts the workflow; its event normally arrives
# in moments, long before a cycle's first activity here. Until this has passed since the
# activity was scheduled, an unknown cycle is retried rather than refused.
UNKNOWN_GRACE = timedelta(minutes=5)
NOT_AUTHORISED = "CycleNotAuthorised"


class KnownCycles:
    """The replica in one service's schema."""

    def __init__(self, service: str, unknown_grace: timedelta = UNKNOWN_GRACE) -> None:
        self.service = service
        self.unknown_grace = unknown_grace
        table = sql.Identifier(service, "cycle_requests")
        self._insert = sql.SQL(
            "INSERT INTO {} (series_id, requested_by, roles, grant_sha256, event_id) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (series_id) DO NOTHING"
        ).format(table)
        self._select = sql.SQL(
            "SELECT requested_by, roles, grant_sha256 FROM {} WHERE series_id = %s"
        ).format(table)

    async def apply(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: CycleRequested
    ) -> None:
        # The first request of a series stands: a later event cannot change who started it.
        await conn.execute(
            self._insert,
            (
                event.series_id,
                event.requested_by,
                event.roles,
                event.grant_sha256,
                envelope.event_id,
            ),
        )

    def handlers(self) -> list[EventHandler]:
        return [EventHandler(self.service, "cycle-requests", CycleRequested, self.apply)]

    async def acting_for(self, pool: AsyncConnectionPool, round_id: str, grant: str) -> Actor:
        """Who an activity of the cycle `round_id` acts for: the hr_admin who started it.

        Raises a non-retryable ApplicationError (`CycleNotAuthorised`) when the id is not a
        cycle's, the workflow that scheduled the activity is not that cycle's, no hr_admin
        started it, or `grant` (from the workflow's input) is not the cycle's: a workflow
        started later under a closed cycle's id does not have it. Retryable while an unknown
        cycle may still be on its way.
        """
        series = series_of(round_id)
        if series is None:
            raise _refused(f"{round_id!r} is not a review cycle's id (`<cycle id>.<number>`)")
        info = scheduled_by(series, f"cycle {round_id!r}", _refused)
        async with pool.connection() as conn:
            row = await (await conn.execute(self._select, (series,))).fetchone()
        if row is None:
            if may_still_arrive(info, self.unknown_grace):
                raise ApplicationError(
                    f"the {self.service} service has not received the request of cycle "
                    f"{series!r} yet (CycleRequested is on its way, or it was never started "
                    "through the cycles API)",
                    type="CycleNotReceived",
                )
            raise _refused(
                f"cycle {series!r} was not started through the cycles API: the {self.service} "
                "service acts for no workflow started directly on Temporal"
            )
        requested_by, roles, digest = row
        if "hr_admin" not in roles:
            raise _refused(f"cycle {series!r} was started by {requested_by!r}, who is not hr_admin")
        if not carries_grant(digest, grant):
            raise _refused(
                f"workflow {series!r} does not carry the grant the cycles API gave the cycle: "
                "it was not started by the cycles API"
            )
        return Actor(subject=requested_by, roles=frozenset({"hr_admin"}))


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=NOT_AUTHORISED, non_retryable=True)
