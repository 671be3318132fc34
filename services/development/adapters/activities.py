"""Temporal activities the development service runs on its own task queue for the
review-cycle workflow (docs/architecture.md §4): what a calibration left (gaps, plans, the
managers who review them) and how scores moved since the previous cycle.

Both only read: the gaps and plans are generated when the session's CalibrationCompleted is
consumed (`Development.on_calibration`), never here, so a repeat gives the same answer and
changes nothing. Until that event has arrived they raise a retryable ApplicationError, as
`confirm_framework` does for a framework version, and Temporal keeps trying.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from psycopg import AsyncConnection
from temporalio import activity
from temporalio.exceptions import ApplicationError

from libs.workflows.contracts import (
    GAP_MOVEMENT,
    GAP_REVIEW,
    GapMovement,
    GapReview,
    MovementRequest,
    SessionRef,
)
from services.development.application.development import Development
from services.development.domain.effectiveness import movements

# Calibrated scores are means of whole-number ratings: a difference this small is float
# rounding, not movement.
_STILL = 1e-9


class DevelopmentActivities:
    def __init__(self, development: Development) -> None:
        self.development = development

    def all(self) -> list[Callable[..., Any]]:
        return [self.gap_review, self.gap_movement]

    async def _require(self, conn: AsyncConnection[Any], session_id: str) -> None:
        if not await self.development.records.recorded(conn, session_id):
            raise ApplicationError(
                f"the development service has not received calibration session "
                f"{session_id!r} yet (CalibrationCompleted is on its way, or the session is "
                "not completed)",
                type="CalibrationNotReceived",
            )

    @activity.defn(name=GAP_REVIEW.name)
    async def gap_review(self, ref: SessionRef) -> GapReview:
        """The session's gaps (target - calibrated score, docs/domain.md §5) and 70/20/10 plans,
        and the direct managers (org chart) of the people with an open gap: who reviews them.

        `people` counts those the session calibrated; a person who has left since is not
        waited on, so their manager is named only for someone still employed.
        """
        records = self.development.records
        async with self.development.store.pool.connection() as conn:
            await self._require(conn, ref.session_id)
            people = await records.session_scores(conn, ref.session_id)
            gaps = await records.session_gaps(conn, ref.session_id)
            plans = await records.plan_count(conn, ref.session_id)
            org = {p.employee_id: p for p in await self.development.org_chart.everyone(conn)}
        open_gaps = {e: sum(1 for g in found if g.open) for e, found in gaps.items()}
        managers = {
            person.manager_id
            for employee, count in open_gaps.items()
            if count
            and (person := org.get(employee)) is not None
            and person.active
            and person.manager_id is not None
        }
        return GapReview(
            session_id=ref.session_id,
            people=len(people.keys() | gaps.keys()),
            open_gaps=sum(open_gaps.values()),
            plans=plans,
            managers=sorted(managers),
        )

    @activity.defn(name=GAP_MOVEMENT.name)
    async def gap_movement(self, request: MovementRequest) -> GapMovement:
        """Score movement between two cycles' calibrations per person and competency observed
        in both (docs/domain.md §5, Re-assessment: the metric is score movement, not completion)."""
        if request.previous_session_id == request.session_id:
            raise ApplicationError(
                f"re-assessment compares two sessions; both are {request.session_id!r}",
                type="SameSession",
                non_retryable=True,
            )
        records = self.development.records
        async with self.development.store.pool.connection() as conn:
            await self._require(conn, request.previous_session_id)
            await self._require(conn, request.session_id)
            before = await records.session_scores(conn, request.previous_session_id)
            after = await records.session_scores(conn, request.session_id)
        moved = movements(before, after)
        changes = [m.movement for m in moved]
        return GapMovement(
            previous_session_id=request.previous_session_id,
            session_id=request.session_id,
            people=len(before.keys() & after.keys()),
            compared=len(moved),
            improved=sum(1 for c in changes if c > _STILL),
            declined=sum(1 for c in changes if c < -_STILL),
            mean_change=math.fsum(changes) / len(changes) if changes else None,
        )
