"""Which erasure requests privacy officers made, kept from the cycles context's
`ErasureRequested` events, in the schema of each service that erases.

An erasure runs as a workflow on Temporal, and anyone who can reach Temporal can start one
with whatever input they like. A service erases for a request only if the cycles API
recorded that a signed-in privacy officer made it, only when the workflow that scheduled
the activity is that request's own, for the person the request names, and then on behalf
of the recorded officer (docs/privacy.md, Requests).
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.exceptions import ApplicationError

from libs.events.consumer import EventHandler
from libs.events.envelope import Envelope
from libs.events.schemas.cycles import ErasureRequested
from libs.workflows.messages import ErasureOrder, erasure_workflow_id, grant_digest

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


class KnownErasures:
    """The replica in one service's schema."""

    def __init__(self, service: str, unknown_grace: timedelta = UNKNOWN_GRACE) -> None:
        self.service = service
        self.unknown_grace = unknown_grace
        table = sql.Identifier(service, "erasure_requests")
        self._insert = sql.SQL(
            "INSERT INTO {} (request_ref, employee_id, requested_by, roles, grant_sha256, "
            "event_id) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (request_ref) DO NOTHING"
        ).format(table)
        self._select = sql.SQL(
            "SELECT employee_id, requested_by, roles, grant_sha256 FROM {} WHERE request_ref = %s"
        ).format(table)

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

    def handlers(self) -> list[EventHandler]:
        return [EventHandler(self.service, "erasure-requests", ErasureRequested, self.apply)]

    async def acting_for(self, pool: AsyncConnectionPool, order: ErasureOrder) -> str:
        """The privacy officer an activity of `order` acts for.

        Raises a non-retryable ApplicationError (`ErasureNotAuthorised`) when the workflow
        that scheduled the activity is not the request's, no privacy officer made the
        request, it names another person, or `order.grant` is not the request's. Retryable
        while an unknown request may still be on its way.
        """
        workflow_id = erasure_workflow_id(order.request_ref)
        if not activity.in_activity():
            raise _refused(f"erasure {order.request_ref!r} runs only inside its workflow")
        info = activity.info()
        if info.workflow_id != workflow_id:
            raise _refused(
                f"erasure {order.request_ref!r} belongs to workflow {workflow_id!r}, but "
                f"workflow {info.workflow_id!r} scheduled this activity"
            )
        async with pool.connection() as conn:
            row = await (await conn.execute(self._select, (order.request_ref,))).fetchone()
        if row is None:
            # Both times are the Temporal server's: no clock skew with this worker.
            if info.current_attempt_scheduled_time - info.scheduled_time < self.unknown_grace:
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
        employee_id, requested_by, roles, digest = row
        if ERASING_ROLE not in roles:
            raise _refused(
                f"erasure {order.request_ref!r} was requested by {requested_by!r}, who is not "
                f"{ERASING_ROLE}"
            )
        if employee_id != order.employee_id:
            raise _refused(
                f"erasure {order.request_ref!r} names {employee_id!r}, not {order.employee_id!r}"
            )
        if not hmac.compare_digest(digest, grant_digest(order.grant)):
            raise _refused(
                f"workflow {workflow_id!r} does not carry the grant the cycles API gave the "
                "request: it was not started by the cycles API"
            )
        return str(requested_by)


def _refused(message: str) -> ApplicationError:
    return ApplicationError(message, type=NOT_AUTHORISED, non_retryable=True)
