"""The readiness pipeline (docs/domain.md §6): HR's report of how many people of the latest
calibration are ready for their next level under the criteria in force, per department and
current position (services/promotion/domain/readiness_pipeline.py says what each count is).

The population is streamed from the database a batch at a time and tallied; the role
profiles are read once per position moved to, never once per person."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.framework import EffectiveRoleProfile
from services.promotion.application.criteria import in_force
from services.promotion.application.ports import Acting, Placed, Work
from services.promotion.application.promotion import NotFound, Promotion, require
from services.promotion.application.readiness import framework_at
from services.promotion.domain.cases import WrongState
from services.promotion.domain.criteria_preview import Position, Scored, targets
from services.promotion.domain.readiness import CalibratedScores, CriterionKind
from services.promotion.domain.readiness_pipeline import (
    CASE_ONLY,
    FROM_THE_RECORD,
    InDepartment,
    PipelineRefused,
    PipelineRow,
    PipelineTally,
)


class ReadinessPipeline(BaseModel):
    """The pipeline of one calibration session, under one criteria version, on one day."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    framework_id: str
    framework_version: int
    criteria_version: int
    as_of: date = Field(description="the day time at level is counted to")
    department: str | None
    from_the_record: tuple[CriterionKind, ...] = Field(
        description="the criteria judged without a case: not_ready misses one of them"
    )
    case_only: tuple[CriterionKind, ...] = Field(
        description="the criteria only a case shows: awaiting_case meets every other"
    )
    left_out: dict[str, int] = Field(description="people of the population not judged, by why")
    rows: list[PipelineRow]


def _in_department(placed: Placed) -> InDepartment:
    scored = Scored(
        scores=placed.calibrated.scores,
        position=placed.calibrated.position,
        now=placed.position,
    )
    return InDepartment(placed.department, scored, placed.level_since)


async def _profiles(
    tx: Work,
    tally: PipelineTally,
    batch: list[InDepartment],
    known: dict[Position, EffectiveRoleProfile | None],
) -> dict[Position, EffectiveRoleProfile]:
    """The role profiles of the batch's next levels, each read the first time it is met."""
    scores = batch[0].person.scores
    for position in targets(tally.framework, [e.person for e in batch]) - known.keys():
        known[position] = await tx.frameworks.role_profile(
            scores.framework_id, scores.framework_version, position
        )
    return {position: profile for position, profile in known.items() if profile is not None}


async def readiness_pipeline(
    promotion: Promotion, actor: Acting, department: str | None = None
) -> ReadinessPipeline:
    """Per department and current position, the people of the latest calibration (with
    `department`, the latest that scored someone there, as cycles may run per department)
    ready for their next level, awaiting a case, and not ready (hr_admin)."""
    require(actor, "hr_admin", "the readiness pipeline")
    # A transaction: the first use of criteria records the defaults as version 1.
    async with promotion.uow.transaction() as tx:
        session = await tx.records.latest_session(department)
        if session is None:
            where = "" if department is None else f" in department {department!r}"
            raise NotFound(f"no calibration has scored anyone active{where} yet")
        criteria = await in_force(promotion, tx)
        tally: PipelineTally | None = None
        first: CalibratedScores | None = None  # a person's: the session's framework version
        known: dict[Position, EffectiveRoleProfile | None] = {}
        async for placed in tx.records.in_departments(session, department):
            batch = [_in_department(p) for p in placed]
            if tally is None:
                first = batch[0].person.scores
                framework = await framework_at(tx, first.framework_id, first.framework_version)
                tally = PipelineTally(criteria, framework, promotion.clock().date())
            profiles = await _profiles(tx, tally, batch, known)
            for entry in batch:
                try:
                    tally.add(entry, profiles)
                except PipelineRefused as error:
                    raise WrongState(
                        f"the criteria in force cannot judge session {session!r}: {error}"
                    ) from None
    if tally is None or first is None:
        # Not met in practice: the session was found through someone of this population.
        raise NotFound(f"nobody of calibration session {session!r} is active in a department")
    return ReadinessPipeline(
        session_id=session,
        framework_id=first.framework_id,
        framework_version=first.framework_version,
        criteria_version=criteria.version,
        as_of=tally.as_of,
        department=department,
        from_the_record=tuple(sorted(FROM_THE_RECORD)),
        case_only=tuple(sorted(CASE_ONLY)),
        left_out=dict(sorted(tally.left_out.items())),
        rows=tally.rows(),
    )
