"""Evaluating a review cycle's promotion cases, for the cycle workflow (docs/domain.md §6)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.promotion.application.cases import evaluate
from services.promotion.application.ports import Acting
from services.promotion.application.promotion import Promotion, require
from services.promotion.application.views import CaseView, cases_of
from services.promotion.domain.cases import CaseRefused
from services.promotion.domain.criteria import TransitionError


@dataclass(frozen=True)
class CycleEvaluation:
    """Where a cycle's open cases stand after `evaluate_cycle`."""

    cases: int
    evaluated: int
    ready: int


class EvaluationInProgress(RuntimeError):
    """Another run is evaluating the same cycle right now: try again once it has finished."""


async def evaluate_cycle(
    promotion: Promotion,
    cycle_id: str,
    actor: Acting,
    progress: Callable[[int], None] | None = None,
) -> CycleEvaluation:
    """Record the readiness (docs/domain.md §6) of every open case nominated for the cycle,
    on each person's latest calibration; `progress(n)` after each of the n cases.

    Idempotent, for the cycle workflow's retries: a case whose last entry already is an
    evaluation on that latest calibration is not evaluated again, and runs on one cycle
    never overlap (an overlapping one raises EvaluationInProgress, having done nothing),
    so no case gets two evaluations. A case the evaluation refuses (not calibrated yet,
    no role profile at the target) is left as it is and counted as not evaluated.
    """
    require(actor, "hr_admin", "evaluating a cycle's promotion cases")
    evaluated = ready = 0
    # The transaction holds the lock until it ends, however the run ends; the cases are
    # read once it is held, so they include what an earlier run recorded. Each case is
    # evaluated in a transaction of its own.
    async with promotion.uow.transaction() as tx:
        if not await tx.try_lock(f"evaluate-cycle.{cycle_id}"):
            raise EvaluationInProgress(f"cycle {cycle_id!r} is being evaluated already")
        entries = await tx.log.of_cycle(cycle_id)
        last_kind = {e.case_id: e.kind for e in entries}  # in log order: the last stays
        cases = [c for c in cases_of(entries) if c.open]
        for done, case in enumerate(cases, 1):
            latest = await tx.records.latest_calibration(case.employee_id, case.framework_id)
            if (
                last_kind[case.case_id] == "readiness_evaluated"
                and case.readiness is not None
                and latest is not None
                and case.readiness["calibration"]["session_id"] == latest.scores.session_id
            ):
                ready += bool(case.readiness["ready"])
            else:
                view: CaseView | None
                try:
                    view = await evaluate(promotion, case.case_id, actor)
                except (CaseRefused, TransitionError):
                    view = None  # not judged: the case waits for what it lacks
                if view is not None:
                    evaluated += 1
                    ready += bool(view.ready)
            if progress is not None:
                progress(done)
    return CycleEvaluation(cases=len(cases), evaluated=evaluated, ready=ready)
