"""Temporal activities the development service runs on its own task queue for the
review-cycle workflow (docs/architecture.md §4): what a calibration left (gaps, plans, the
managers who review them) and how scores moved since the previous cycle.

Both only read: the gaps and plans are generated when the session's CalibrationCompleted is
consumed (`Development.on_calibration`), never here, so a repeat gives the same answer and
changes nothing. Until that event has arrived they raise a retryable ApplicationError, as
`confirm_framework` does for a framework version, and Temporal keeps trying.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from libs.events.activities import (
    GAP_MOVEMENT,
    GAP_REVIEW,
    GapMovement,
    GapReview,
    MovementRequest,
    SessionRef,
)
from services.development.application.development import CalibrationNotReceived, Development


class DevelopmentActivities:
    def __init__(self, development: Development) -> None:
        self.development = development

    def all(self) -> list[Callable[..., Any]]:
        return [self.gap_review, self.gap_movement]

    @activity.defn(name=GAP_REVIEW)
    async def gap_review(self, ref: SessionRef) -> GapReview:
        """The session's gaps and 70/20/10 plans, and the managers who review them
        (`Development.gap_review`)."""
        with _not_yet_received():
            return await self.development.gap_review(ref.session_id)

    @activity.defn(name=GAP_MOVEMENT)
    async def gap_movement(self, request: MovementRequest) -> GapMovement:
        """Score movement between two cycles' calibrations (`Development.gap_movement`)."""
        if request.previous_session_id == request.session_id:
            raise ApplicationError(
                f"re-assessment compares two sessions; both are {request.session_id!r}",
                type="SameSession",
                non_retryable=True,
            )
        with _not_yet_received():
            return await self.development.gap_movement(
                request.previous_session_id, request.session_id
            )


@contextmanager
def _not_yet_received() -> Iterator[None]:
    """A calibration still on its way is worth retrying: Temporal keeps trying."""
    try:
        yield
    except CalibrationNotReceived as missing:
        raise ApplicationError(str(missing), type="CalibrationNotReceived") from None
