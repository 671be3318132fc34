"""Temporal activities the promotion service runs on its own task queue for the review-cycle
workflow (docs/architecture.md §4): the readiness of the cycle's promotion cases; and for the
erasure workflow, the clearance of an erasure request against legal holds (docs/privacy.md,
Legal holds).

Idempotent: `services.promotion.application.cycle.evaluate_cycle` skips a case already
evaluated on its latest calibration and never runs twice at once on one cycle, so a retry
after a timeout or a worker crash carries on where the earlier attempt stopped and
evaluates nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool
from temporalio import activity
from temporalio.exceptions import ApplicationError

from libs.privacy.requests import KnownErasures
from libs.replicas.cycles import KnownCycles
from libs.workflows.contracts import CLEAR_ERASURE, EVALUATE_CYCLE
from libs.workflows.messages import (
    CycleCases,
    ErasureClearance,
    ErasureOrder,
    PromotionEvaluations,
)
from services.promotion.adapters.checkpoints import CheckpointSetupError
from services.promotion.application.checkpoints import CheckpointRefused, Checkpoints
from services.promotion.application.cycle import EvaluationInProgress, evaluate_cycle
from services.promotion.application.holds import ErasureHeld, clear_erasure
from services.promotion.application.personal_data import PromotionPersonalData
from services.promotion.application.promotion import Promotion

# Cases between heartbeats: each evaluation is one short transaction, so this many take well
# under the workflow's heartbeat timeout.
HEARTBEAT_EVERY = 50


class PromotionActivities:
    def __init__(
        self,
        promotion: Promotion,
        cycles: KnownCycles,
        pool: AsyncConnectionPool,
        checkpoints: Checkpoints | None = None,
        heartbeat_every: int = HEARTBEAT_EVERY,
    ) -> None:
        self.promotion = promotion
        self.cycles = cycles
        self.pool = pool
        # None only where no key exists (tests of the evaluation alone); the service's
        # worker always signs.
        self.checkpoints = checkpoints
        self.heartbeat_every = heartbeat_every

    def all(self) -> list[Callable[..., Any]]:
        return [self.evaluate_cycle]

    def _progress(self, done: int) -> None:
        if done % self.heartbeat_every == 0 and activity.in_activity():
            activity.heartbeat(done)

    @activity.defn(name=EVALUATE_CYCLE.name)
    async def evaluate_cycle(self, request: CycleCases) -> PromotionEvaluations:
        """Readiness (docs/domain.md §6: criteria met and not, with the evidence) of every open
        case nominated for the cycle, as HR on behalf of the hr_admin the cycles API recorded
        as the cycle's starter; the workflow input's `actor` grants nothing. A case that
        cannot be judged yet (no calibration) is counted, not evaluated, and does not fail
        the activity."""
        if not request.cycle_id.strip():
            raise ApplicationError(
                f"evaluating a cycle needs a cycle id; got {request.cycle_id!r}",
                type="InvalidRequest",
                non_retryable=True,
            )
        actor = await self.cycles.acting_for(self.pool, request.cycle_id, request.grant)
        try:
            result = await evaluate_cycle(self.promotion, request.cycle_id, actor, self._progress)
        except EvaluationInProgress as error:
            # An earlier attempt is still running: retry once it has finished.
            raise ApplicationError(str(error), type="EvaluationInProgress") from None
        await self._checkpoint()
        return PromotionEvaluations(
            cycle_id=request.cycle_id,
            cases=result.cases,
            evaluated=result.evaluated,
            ready=result.ready,
        )

    async def _checkpoint(self) -> None:
        """Anchor the stage's entries outside the database before the cycle moves on. A
        refusal fails the attempt (retried): the cycle does not advance on a log that no
        longer matches its last checkpoint, or without a key to sign with."""
        if self.checkpoints is None:
            return
        if activity.in_activity():
            activity.heartbeat("checkpoint")
        try:
            await self.checkpoints.sign()
        except (CheckpointRefused, CheckpointSetupError) as error:
            raise ApplicationError(str(error), type=type(error).__name__) from None


def clearance_activity(
    promotion: Promotion, pool: AsyncConnectionPool, requests: KnownErasures
) -> Callable[[ErasureOrder], Any]:
    """`CLEAR_ERASURE`: whether the request may go ahead, for the privacy officer the cycles
    API recorded as its maker (never the workflow input's say). Idempotent: a refused
    request's entry is appended once, and a retry answers with it."""

    @activity.defn(name=CLEAR_ERASURE.name)
    async def clear(order: ErasureOrder) -> ErasureClearance:
        officer = await requests.acting_for(pool, order, after_clearance=False)
        clearance = await clear_erasure(promotion, order.employee_id, order.request_ref, officer)
        return ErasureClearance(cleared=clearance.cleared, reason=clearance.reason)

    return clear


class ErasingPersonalData(PromotionPersonalData):
    """The holder as the erasure activity calls it: an erasure refused under a legal hold
    fails the activity for good, since retrying lifts no hold."""

    async def erase(self, employee_id: str, request_ref: str, actor: str) -> dict[str, int]:
        try:
            return await super().erase(employee_id, request_ref, actor)
        except ErasureHeld as error:
            raise ApplicationError(str(error), type="ErasureHeld", non_retryable=True) from None
