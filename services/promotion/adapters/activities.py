"""Temporal activities the promotion service runs on its own task queue for the review-cycle
workflow (docs/architecture.md §4): the readiness of the cycle's promotion cases.

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

from libs.events.activities import EVALUATE_CYCLE, CycleCases, PromotionEvaluations
from libs.replicas.cycles import KnownCycles
from services.promotion.adapters.checkpoints import CheckpointSetupError
from services.promotion.application.checkpoints import CheckpointRefused, Checkpoints
from services.promotion.application.cycle import EvaluationInProgress, evaluate_cycle
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

    @activity.defn(name=EVALUATE_CYCLE)
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
