"""The steps of a promotion case (docs/domain.md §6): nomination, endorsement, evidence,
readiness evaluation, calibration confirmation, decision, appeal and appeal outcome.

Every step is one transaction: take the decision log's append lock, fold the case from its
entries, check the step against it (`services.promotion.domain.cases`), append the step's
entry and, for nominations, evaluations and decisions, the integration event on the case's
stream. So the log and the events never disagree, and two steps on one case never
interleave. A decision records the readiness it was judged on, so the decision entry alone
shows what it was judged on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any
from uuid import uuid4

from libs.events.envelope import EventMetadata
from libs.events.registry import IntegrationEvent
from libs.events.schemas.framework import TrackKind
from libs.events.schemas.promotion import (
    Move,
    PromotionDecided,
    PromotionEvaluated,
    PromotionNominated,
)
from services.promotion.application.criteria import in_force
from services.promotion.application.ports import Acting, Work
from services.promotion.application.promotion import (
    NotFound,
    Promotion,
    case_entries,
    case_stream,
    in_line,
    record,
    require,
)
from services.promotion.application.readiness import (
    basis,
    framework_label,
    framework_with,
    judge,
    move_from,
    transition_at,
)
from services.promotion.application.views import CaseView, cases_of
from services.promotion.domain.cases import (
    AppealResult,
    Case,
    CaseRefused,
    NotEntitled,
    Outcome,
    WrongState,
)
from services.promotion.domain.cases import (
    nominate as nomination,
)
from services.promotion.domain.criteria import Transition
from services.promotion.domain.holds import is_person_record
from services.promotion.domain.payloads import Decision, EntryPayload
from services.promotion.domain.readiness import Readiness

# One step's check on the case as its entries leave it: the entry's payload, and the event
# that goes out with it (None for the steps that publish nothing).
Step = Callable[[Work, Case], Awaitable[tuple[EntryPayload, IntegrationEvent | None]]]


async def nominate(
    promotion: Promotion,
    employee_id: str,
    cycle_id: str,
    actor: Acting,
    *,
    to_track: TrackKind | None = None,
    to_level: str | None = None,
    to_family: str | None = None,
    framework_id: str | None = None,
    operating_since: date | None = None,
    note: str = "",
    case_id: str | None = None,
) -> CaseView:
    """A manager above the person (or HR) nominates them for a move from their current
    position, on the latest version of the framework that has their job family."""
    async with promotion.uow.transaction() as tx:
        await tx.log.lock()
        if not actor.has("hr_admin") and not await in_line(tx, actor, employee_id):
            raise NotEntitled(
                f"only a manager above {employee_id!r} or HR nominates them; "
                f"{actor.subject!r} is neither"
            )
        person = await tx.org_chart.person(employee_id)
        if person is None or not person.active:
            raise NotFound(f"{employee_id!r} is not a current employee in the org chart")
        if person.job_family is None or person.track is None or person.level is None:
            raise WrongState(f"the HRIS has not given {employee_id!r} a position yet")
        fid, version, framework = await framework_with(tx, person.job_family, framework_id)
        label = framework_label(fid, version)
        move = move_from(
            framework,
            label,
            person.job_family,
            person.track,
            person.level,
            to_track,
            to_level,
            to_family,
        )
        if case_id is not None and is_person_record(case_id):
            raise CaseRefused(f"{case_id!r} names a person's record, not a case")
        case_id = case_id or f"case-{uuid4().hex[:16]}"
        if await tx.log.of_case(case_id):
            raise WrongState(f"case {case_id} exists already")
        history = await tx.log.of_employee(employee_id)
        payload = nomination(
            cycle_id=cycle_id,
            framework_id=fid,
            framework_version=version,
            transition=transition_at(framework, label, move),
            operating_since=operating_since,
            note=note,
            open_cases=[c.case_id for c in cases_of(history) if c.open],
        )
        entry = await record(promotion, tx, case_id, employee_id, actor.subject, payload)
        case = Case.replay([entry])
        event = PromotionNominated(
            **_case_fields(case), nominated_by=actor.subject, framework_id=case.framework_id
        )
        await tx.events.append(case_stream(case_id), 0, [event], EventMetadata(actor=actor.subject))
    return CaseView.of(case, [entry])


async def endorse(promotion: Promotion, case_id: str, actor: Acting, note: str = "") -> CaseView:
    """The employee's manager endorses the nomination."""

    async def check(tx: Work, case: Case) -> tuple[EntryPayload, None]:
        person = await tx.org_chart.person(case.employee_id)
        return case.endorse(actor.subject, person.manager_id if person else None, note), None

    return await _step(promotion, case_id, actor, check)


async def attach_evidence(
    promotion: Promotion, case_id: str, item: str, note: str, actor: Acting
) -> CaseView:
    """Scope evidence for an item the criteria name, from the person, above them, or HR."""

    async def check(tx: Work, case: Case) -> tuple[EntryPayload, None]:
        if not (
            actor.subject == case.employee_id
            or actor.has("hr_admin")
            or await in_line(tx, actor, case.employee_id)
        ):
            raise NotEntitled(
                f"evidence comes from {case.employee_id!r}, a manager above them, or HR"
            )
        criteria = await in_force(promotion, tx)
        named = criteria.criteria_for(Transition(**case.move)).evidence
        return case.attach_evidence(item, note, named), None

    return await _step(promotion, case_id, actor, check)


async def confirm(
    promotion: Promotion, case_id: str, session_id: str, confirmed: bool, note: str, actor: Acting
) -> CaseView:
    """HR records that a calibration session confirmed (or rejected) the nomination."""
    require(actor, "hr_admin", "recording a calibration confirmation")

    async def check(tx: Work, case: Case) -> tuple[EntryPayload, None]:
        if await tx.records.calibration_of(session_id, case.employee_id) is None:
            raise CaseRefused(
                f"calibration session {session_id!r} did not score {case.employee_id!r} "
                "(or has not reached the promotion service)"
            )
        return case.confirm(session_id, confirmed, note), None

    return await _step(promotion, case_id, actor, check)


async def evaluate(promotion: Promotion, case_id: str, actor: Acting) -> CaseView:
    """Record readiness now: HR, a decider, a manager above the person, or the cycle."""

    async def check(tx: Work, case: Case) -> tuple[EntryPayload, IntegrationEvent]:
        if not (
            actor.has("hr_admin")
            or actor.has(promotion.decider_role)
            or await in_line(tx, actor, case.employee_id)
        ):
            raise NotEntitled(f"{actor.subject!r} may not evaluate this case")
        readiness, calibrated = await judge(
            promotion, tx, case.employee_id, Move(**case.move), case.framework_id, case
        )
        event = PromotionEvaluated(
            **_case_fields(case),
            ready=readiness.ready,
            unmet=[r.name for r in readiness.unmet],
            **basis(readiness),
        )
        return case.evaluated(readiness, calibrated.campaign_id), event

    return await _step(promotion, case_id, actor, check)


async def decide(
    promotion: Promotion, case_id: str, outcome: Outcome, rationale: str, actor: Acting
) -> CaseView:
    """Approve, deny or defer, by the decider role, with a written rationale."""

    def rule(case: Case, readiness: Readiness, campaign_id: str) -> Decision:
        return case.decide(
            actor.subject,
            outcome,
            rationale,
            readiness,
            campaign_id,
            readiness.criteria.endorsement_required,
        )

    return await _decision(promotion, case_id, actor, "deciding a promotion", rule)


async def appeal(promotion: Promotion, case_id: str, grounds: str, actor: Acting) -> CaseView:
    """The employee, or a manager above them, appeals an approval or denial."""

    async def check(tx: Work, case: Case) -> tuple[EntryPayload, None]:
        if actor.subject != case.employee_id and not await in_line(tx, actor, case.employee_id):
            raise NotEntitled(f"only {case.employee_id!r} or a manager above them appeals")
        return case.lodge_appeal(actor.subject, grounds), None

    return await _step(promotion, case_id, actor, check)


async def decide_appeal(
    promotion: Promotion,
    case_id: str,
    result: AppealResult,
    outcome: Outcome | None,
    rationale: str,
    actor: Acting,
) -> CaseView:
    """Uphold or overturn the decision appealed (the decider role, not the first decider)."""

    def rule(case: Case, readiness: Readiness, campaign_id: str) -> Decision:
        return case.decide_appeal(actor.subject, result, outcome, rationale, readiness, campaign_id)

    return await _decision(promotion, case_id, actor, "deciding an appeal", rule)


async def _decision(
    promotion: Promotion,
    case_id: str,
    actor: Acting,
    what: str,
    rule: Callable[[Case, Readiness, str], Decision],
) -> CaseView:
    """A decision or an appeal outcome: by the decider role, on the readiness now, which the
    entry records; `rule` is the case's own check of it."""
    require(actor, promotion.decider_role, what)

    async def check(tx: Work, case: Case) -> tuple[EntryPayload, IntegrationEvent]:
        readiness, calibrated = await judge(
            promotion, tx, case.employee_id, Move(**case.move), case.framework_id, case
        )
        payload = rule(case, readiness, calibrated.campaign_id)
        event = PromotionDecided(
            **_case_fields(case),
            outcome=payload.outcome,
            decided_by=actor.subject,
            on_appeal=payload.kind == "appeal_outcome",
            **basis(readiness),
        )
        return payload, event

    return await _step(promotion, case_id, actor, check)


async def _step(promotion: Promotion, case_id: str, actor: Acting, check: Step) -> CaseView:
    """One step on an existing case, in one transaction under the log's lock."""
    async with promotion.uow.transaction() as tx:
        await tx.log.lock()
        entries = await case_entries(tx, case_id)
        if not entries:
            raise NotFound(f"no promotion case {case_id}")
        case = Case.replay(entries)
        published = case.published
        payload, event = await check(tx, case)
        entry = await record(promotion, tx, case_id, case.employee_id, actor.subject, payload)
        case.apply(entry)
        if event is not None:
            await tx.events.append(
                case_stream(case_id), published, [event], EventMetadata(actor=actor.subject)
            )
    return CaseView.of(case, [*entries, entry])


def _case_fields(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "employee_id": case.employee_id,
        "cycle_id": case.cycle_id,
        "move": Move(**case.move),
    }
