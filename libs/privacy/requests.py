"""Which erasure requests privacy officers made, kept from the cycles context's
`ErasureRequested` events, in the schema of each service that erases.

An erasure runs as a workflow on Temporal, and anyone who can reach Temporal can start one
with whatever input they like. A service erases for a request only if the cycles API
recorded that a signed-in privacy officer made it, only when the workflow that scheduled
the activity is that request's own, for the person the request names, and then on behalf
of the recorded officer (docs/privacy.md, Requests). Every step after the clearance
acts only for a request the promotion service cleared (`ErasureCleared`), and none for a
request that ended refused (`PersonErased`): a workflow started again under a refused
request's id, with its grant, destroys and erases nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool
from temporalio.exceptions import ApplicationError

from libs.events.consumer import EventHandler
from libs.events.envelope import Envelope
from libs.events.schemas.cycles import ErasureRequested, PersonErased
from libs.events.schemas.promotion import ErasureCleared
from libs.replicas.requests import carries_grant, may_still_arrive, scheduled_by
from libs.workflows.messages import ErasureOrder, erasure_workflow_id

MIGRATIONS = Path(__file__).parent / "migrations"
ERASING_ROLE = "privacy_officer"
# The API records the request just before it starts the workflow; its event normally
# arrives in moments. Until this has passed since the activity was first scheduled, an
# unknown request is retried rather than refused. A service's consumer may lag behind for
# as long as an outage the services ride out (the broker, the service's database down):
# for the erasing steps that comes after the keys were destroyed, and a refusal then would
# leave the erasure half done for good. So a day, not minutes; a workflow started directly
# on Temporal retries that long for nothing, since without the record it erases nothing.
UNKNOWN_GRACE = timedelta(days=1)
NOT_AUTHORISED = "ErasureNotAuthorised"
NOT_CLEARED = "ErasureNotCleared"


@dataclass(frozen=True)
class KnownErasure:
    """An erasure request as the replica knows it: who made it, when it arrived, when it
    was cleared and how it ended (None while not yet known)."""

    request_ref: str
    employee_id: str
    requested_by: str
    received_at: datetime
    cleared_at: datetime | None
    outcome: str | None
    ended_at: datetime | None


class KnownErasures:
    """The replica in one service's schema."""

    def __init__(self, service: str, unknown_grace: timedelta = UNKNOWN_GRACE) -> None:
        self.service = service
        self.unknown_grace = unknown_grace
        table = sql.Identifier(service, "erasure_requests")
        progress = sql.Identifier(service, "erasure_progress")
        self._insert = sql.SQL(
            "INSERT INTO {} (request_ref, employee_id, requested_by, roles, grant_sha256, "
            "event_id) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (request_ref) DO NOTHING"
        ).format(table)
        self._cleared = sql.SQL(
            "INSERT INTO {0} (request_ref, cleared_at) VALUES (%s, %s) ON CONFLICT (request_ref) "
            "DO UPDATE SET cleared_at = COALESCE({0}.cleared_at, EXCLUDED.cleared_at)"
        ).format(progress)
        # The first outcome recorded stands, as the cycles log keeps only one.
        self._ended = sql.SQL(
            "INSERT INTO {0} (request_ref, outcome, ended_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (request_ref) DO UPDATE SET outcome = COALESCE({0}.outcome, "
            "EXCLUDED.outcome), ended_at = COALESCE({0}.ended_at, EXCLUDED.ended_at)"
        ).format(progress)
        known = sql.SQL(
            "SELECT r.request_ref, r.employee_id, r.requested_by, r.received_at, p.cleared_at, "
            "p.outcome, p.ended_at, r.roles, r.grant_sha256 FROM {} r LEFT JOIN {} p "
            "USING (request_ref) "
        ).format(table, progress)
        self._select = known + sql.SQL("WHERE r.request_ref = %s")
        self._about = known + sql.SQL("WHERE r.employee_id = %s ORDER BY r.received_at")

    async def apply(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: ErasureRequested
    ) -> None:
        # The first record of a reference stands: a later event cannot retarget it.
        await conn.execute(
            self._insert,
            (
                event.request_ref,
                event.employee_id,
                event.requested_by,
                event.roles,
                event.grant_sha256,
                envelope.event_id,
            ),
        )

    async def apply_cleared(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: ErasureCleared
    ) -> None:
        await conn.execute(self._cleared, (event.request_ref, envelope.occurred_at))

    async def apply_ended(
        self, conn: AsyncConnection[Any], envelope: Envelope, event: PersonErased
    ) -> None:
        await conn.execute(self._ended, (event.request_ref, event.outcome, envelope.occurred_at))

    def handlers(self) -> list[EventHandler]:
        return [
            EventHandler(self.service, "erasure-requests", ErasureRequested, self.apply),
            EventHandler(self.service, "erasure-clearances", ErasureCleared, self.apply_cleared),
            EventHandler(self.service, "erasure-outcomes", PersonErased, self.apply_ended),
        ]

    async def about(self, conn: AsyncConnection[Any], employee_id: str) -> list[KnownErasure]:
        """The erasure requests made about the person, oldest first."""
        cursor = await conn.execute(self._about, (employee_id,))
        return [KnownErasure(*row[:7]) for row in await cursor.fetchall()]

    async def known(self, conn: AsyncConnection[Any], request_ref: str) -> KnownErasure | None:
        """The request `request_ref`, if it has arrived."""
        row = await (await conn.execute(self._select, (request_ref,))).fetchone()
        return None if row is None else KnownErasure(*row[:7])

    async def acting_for(
        self, pool: AsyncConnectionPool, order: ErasureOrder, *, after_clearance: bool = True
    ) -> str:
        """The privacy officer an activity of `order` acts for.

        Raises a non-retryable ApplicationError (`ErasureNotAuthorised`) when the workflow
        that scheduled the activity is not the request's, no privacy officer made the
        request, it names another person, `order.grant` is not the request's, or (for a
        step `after_clearance`) the request ended refused. Retryable while an unknown
        request may still be on its way, and (`ErasureNotCleared`) while a step after the
        clearance waits for it to arrive. Only the clearance itself and the record of a
        refusal come before it (`after_clearance=False`).
        """
        workflow_id = erasure_workflow_id(order.request_ref)
        info = scheduled_by(workflow_id, f"erasure {order.request_ref!r}", _refused)
        async with pool.connection() as conn:
            row = await (await conn.execute(self._select, (order.request_ref,))).fetchone()
        if row is None:
            if may_still_arrive(info, self.unknown_grace):
                raise ApplicationError(
                    f"the {self.service} service has not received erasure request "
                    f"{order.request_ref!r} yet (ErasureRequested is on its way, or it was "
                    "never made through the cycles API)",
                    type="ErasureNotReceived",
                )
            raise _refused(
                f"erasure {order.request_ref!r} was not requested through the cycles API: the "
                f"{self.service} service erases for no workflow started directly on Temporal"
            )
        request = KnownErasure(*row[:7])
        roles, digest = row[7:]
        if ERASING_ROLE not in roles:
            raise _refused(
                f"erasure {order.request_ref!r} was requested by {request.requested_by!r}, who "
                f"is not {ERASING_ROLE}"
            )
        if request.employee_id != order.employee_id:
            raise _refused(
                f"erasure {order.request_ref!r} names {request.employee_id!r}, not "
                f"{order.employee_id!r}"
            )
        if not carries_grant(digest, order.grant):
            raise _refused(
                f"workflow {workflow_id!r} does not carry the grant the cycles API gave the "
                "request: it was not started by the cycles API"
            )
        if after_clearance:
            _cleared(request, self.service)
        return request.requested_by


def _cleared(request: KnownErasure, service: str) -> None:
    """Refuse a step after the clearance for a request refused, and wait for a clearance
    not yet received (the promotion service publishes it as it clears: it cannot be lost,
    only late)."""
    if request.outcome == "refused":
        raise _refused(
            f"erasure {request.request_ref!r} was refused under legal holds: nothing is "
            "destroyed or erased under it; a new request is made once the holds are lifted"
        )
    if request.cleared_at is None:
        raise ApplicationError(
            f"erasure {request.request_ref!r} is not cleared yet: the {service} service "
            "acts once the promotion service's clearance (ErasureCleared) has arrived",
            type=NOT_CLEARED,
        )


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=NOT_AUTHORISED, non_retryable=True)
