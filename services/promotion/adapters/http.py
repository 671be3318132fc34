"""HTTP API of the promotion service.

Authorisation (docs/domain.md §6): managers nominate and endorse for the people below them; HR
records calibration confirmations and publishes criteria; only the configured decider role
decides and hears appeals; `auditor` reads everything and changes nothing; an employee sees
their own readiness, cases and decisions. Fairness figures are for `hr_admin` and `auditor`.
HR and `legal` place and lift legal holds (docs/privacy.md, Legal holds).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.framework import TrackKind
from libs.events.schemas.hris import EmployeeId
from libs.platform.auth import CurrentActor
from libs.platform.edge import MAX_INTEGER
from libs.platform.pagination import Page, Paged
from libs.platform.reports import Department, ReportFormat, report, report_answer
from services.promotion.application import audit, cases, criteria_preview, holds
from services.promotion.application import criteria as criteria_versions
from services.promotion.application.audit import AsDecided
from services.promotion.application.promotion import NotFound, Promotion
from services.promotion.application.readiness import readiness_of
from services.promotion.application.readiness_pipeline import ReadinessPipeline, readiness_pipeline
from services.promotion.application.views import CaseView, EntryView
from services.promotion.domain import audit_report
from services.promotion.domain.cases import CaseRefused, NotEntitled, WrongState
from services.promotion.domain.criteria import (
    Criteria,
    CriteriaOverride,
    CriteriaSet,
    TransitionError,
)
from services.promotion.domain.criteria_preview import CriteriaPreview
from services.promotion.domain.decision_log import EntryRefused, TamperedEntry
from services.promotion.domain.fairness import CycleFairness
from services.promotion.domain.holds import MAX_REASON, Hold
from services.promotion.domain.payloads import AppealResult, Outcome
from services.promotion.domain.readiness import Readiness
from services.promotion.domain.readiness_pipeline import PipelineRow

router = APIRouter(tags=["promotion"])
Text = Field("", max_length=10_000)
FAMILY_MOVED_INTO = (
    "the family moved into. Another family on the person's own track (to_track left out or "
    "the same) is a lateral move along the framework's lateral path into it, at the same "
    "grade (to_level defaults to that family's level of the grade); across tracks, it names "
    "the manager track where two families share the level's code. Default: the person's own "
    "family, or across tracks whichever family offers the move"
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Nomination(_Body):
    employee_id: str = Field(min_length=1, max_length=64)
    cycle_id: str = Field(min_length=1, max_length=200, description="the review cycle")
    to_track: TrackKind | None = Field(None, description="default: the person's own track")
    to_level: str | None = Field(None, description="default: the next level of that track")
    to_family: str | None = Field(
        None,
        max_length=64,
        description=FAMILY_MOVED_INTO,
    )
    framework_id: str | None = Field(None, description="needed only when several have the family")
    operating_since: date | None = Field(
        None,
        description="the day the nominator says the person's current level (the one moved "
        "from) began: kept as evidence beside the HRIS level start, which time at level is "
        "judged on, and any difference shown",
    )
    note: str = Text


class Endorsement(_Body):
    note: str = Text


class Evidence(_Body):
    item: str = Field(min_length=1, max_length=400, description="an item the criteria name")
    note: str = Field(min_length=1, max_length=4_000, description="what shows it, where")


class Confirmation(_Body):
    session_id: str = Field(min_length=1)
    confirmed: bool
    note: str = Text


class DecisionBody(_Body):
    outcome: Outcome
    rationale: str = Field(max_length=10_000, description="required, written for the record")


class Appeal(_Body):
    grounds: str = Field(max_length=10_000)


class AppealOutcome(_Body):
    result: AppealResult
    outcome: Outcome | None = Field(None, description="the new outcome when overturned")
    rationale: str = Field(max_length=10_000)


class HoldPlacement(_Body):
    employee_id: EmployeeId | None = Field(None, description="a person")
    case_id: str | None = Field(None, min_length=1, max_length=200, description="or a case")
    reason: str = Field(max_length=MAX_REASON, description="required: why the record is held")


class HoldLift(_Body):
    reason: str = Field(max_length=MAX_REASON, description="required: why it no longer is")


class CriteriaDraft(_Body):
    """A new criteria version; the service numbers it (or, previewed, only tries it)."""

    scale: Literal["0..5", "1..5"] = "0..5"
    default: Criteria = Criteria()
    overrides: list[CriteriaOverride] = []


def _promotion(request: Request) -> Promotion:
    return request.app.state.promotion


@router.get("/criteria", response_model=CriteriaSet)
async def criteria(
    _: CurrentActor,
    request: Request,
    version: int | None = Query(None, ge=1, le=MAX_INTEGER),
) -> CriteriaSet:
    """The promotion criteria in force (or a past version): what each move requires."""
    return await criteria_versions.criteria(_promotion(request), version)


@router.post("/criteria", status_code=201, response_model=CriteriaSet)
async def publish_criteria(
    body: CriteriaDraft, actor: CurrentActor, request: Request
) -> CriteriaSet:
    """Publish the next criteria version (hr_admin); past versions never change."""
    return await criteria_versions.publish_criteria(
        _promotion(request), body.model_dump(mode="json"), actor
    )


@router.post("/criteria/preview", response_model=CriteriaPreview)
async def preview_criteria(
    body: CriteriaDraft,
    actor: CurrentActor,
    request: Request,
    attribute: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    session_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> CriteriaPreview:
    """How many people of the newest calibration session (or `session_id`'s) a criteria
    document would find ready for their next level, beside the version in force, per move
    and, as far as it reveals nobody's group, per group of the protected `attribute`;
    nothing is published, and the preview is recorded (hr_admin)."""
    return await criteria_preview.preview_criteria(
        _promotion(request),
        body.model_dump(mode="json"),
        actor,
        attribute=attribute,
        session_id=session_id,
    )


@router.get("/people/{employee_id}/readiness", response_model=Readiness)
async def readiness(
    employee_id: str,
    actor: CurrentActor,
    request: Request,
    to_track: TrackKind | None = None,
    to_level: str | None = None,
    to_family: Annotated[str | None, Query(max_length=64, description=FAMILY_MOVED_INTO)] = None,
) -> Readiness:
    """Which criteria of a move (default: the next level; with `to_family`, a lateral move)
    the person meets, with evidence."""
    return await readiness_of(
        _promotion(request), employee_id, actor, to_track, to_level, to_family
    )


@router.get("/reports/readiness", response_model=None, responses=report_answer(ReadinessPipeline))
async def readiness_report(
    actor: CurrentActor,
    request: Request,
    department: Department = None,
    format: ReportFormat = "json",
) -> Response:
    """The readiness pipeline of the latest calibration (hr_admin): per department and
    current position, the people ready for their next level under the criteria in force,
    those awaiting only what a case shows, the not ready and the criterion they miss most."""
    found = await readiness_pipeline(_promotion(request), actor, department)
    first = {"session_id": found.session_id, "criteria_version": found.criteria_version}
    return report("readiness-pipeline", format, found, found.rows, PipelineRow, first)


@router.get("/people/{employee_id}/history", response_model=Page[EntryView])
async def person_history(
    employee_id: str, actor: CurrentActor, page: Paged, request: Request
) -> Page[EntryView]:
    """Every decision-log entry about the person, oldest first."""
    entries = await audit.record(_promotion(request), "employee", employee_id, actor)
    return page.of([EntryView.of(e) for e in entries], key=lambda e: e.sequence)


@router.get("/cycles/{cycle_id}/history", response_model=Page[EntryView])
async def cycle_history(
    cycle_id: str, actor: CurrentActor, page: Paged, request: Request
) -> Page[EntryView]:
    """Every entry of the cases nominated in the cycle, oldest first (hr_admin, auditor)."""
    entries = await audit.record(_promotion(request), "cycle", cycle_id, actor)
    return page.of([EntryView.of(e) for e in entries], key=lambda e: e.sequence)


@router.post("/cases", status_code=201, response_model=CaseView)
async def nominate(body: Nomination, actor: CurrentActor, request: Request) -> CaseView:
    """Nominate someone (a manager above them, or hr_admin)."""
    return await cases.nominate(
        _promotion(request),
        body.employee_id,
        body.cycle_id,
        actor,
        to_track=body.to_track,
        to_level=body.to_level,
        to_family=body.to_family,
        framework_id=body.framework_id,
        operating_since=body.operating_since,
        note=body.note,
    )


@router.get("/cases/{case_id}", response_model=CaseView)
async def case(case_id: str, actor: CurrentActor, request: Request) -> CaseView:
    return await audit.case(_promotion(request), case_id, actor)


@router.post("/cases/{case_id}/endorsement", response_model=CaseView)
async def endorse(
    case_id: str, body: Endorsement, actor: CurrentActor, request: Request
) -> CaseView:
    """The employee's manager endorses the nomination."""
    return await cases.endorse(_promotion(request), case_id, actor, body.note)


@router.post("/cases/{case_id}/evidence", response_model=CaseView)
async def evidence(case_id: str, body: Evidence, actor: CurrentActor, request: Request) -> CaseView:
    """Attach scope evidence for an item the criteria name."""
    return await cases.attach_evidence(_promotion(request), case_id, body.item, body.note, actor)


@router.post("/cases/{case_id}/confirmation", response_model=CaseView)
async def confirm(
    case_id: str, body: Confirmation, actor: CurrentActor, request: Request
) -> CaseView:
    """Record a calibration session's confirmation or rejection (hr_admin)."""
    return await cases.confirm(
        _promotion(request), case_id, body.session_id, body.confirmed, body.note, actor
    )


@router.post("/cases/{case_id}/evaluation", response_model=CaseView)
async def evaluate(case_id: str, actor: CurrentActor, request: Request) -> CaseView:
    """Evaluate readiness now and record it."""
    return await cases.evaluate(_promotion(request), case_id, actor)


@router.post("/cases/{case_id}/decision", response_model=CaseView)
async def decide(
    case_id: str, body: DecisionBody, actor: CurrentActor, request: Request
) -> CaseView:
    """Approve, deny or defer, with a written rationale (the decider role)."""
    return await cases.decide(_promotion(request), case_id, body.outcome, body.rationale, actor)


@router.post("/cases/{case_id}/appeal", response_model=CaseView)
async def appeal(case_id: str, body: Appeal, actor: CurrentActor, request: Request) -> CaseView:
    """Appeal an approval or denial (the employee, or a manager above them)."""
    return await cases.appeal(_promotion(request), case_id, body.grounds, actor)


@router.post("/cases/{case_id}/appeal/outcome", response_model=CaseView)
async def appeal_outcome(
    case_id: str, body: AppealOutcome, actor: CurrentActor, request: Request
) -> CaseView:
    """Uphold or overturn the decision appealed (the decider role, not the first decider)."""
    return await cases.decide_appeal(
        _promotion(request), case_id, body.result, body.outcome, body.rationale, actor
    )


@router.get("/cases/{case_id}/as-decided", response_model=AsDecided)
async def as_decided(
    case_id: str,
    actor: CurrentActor,
    request: Request,
    sequence: int | None = Query(None, ge=1, le=MAX_INTEGER),
) -> AsDecided:
    """The decision as it was made: framework version, criteria and scores of that instant."""
    return await audit.as_decided(_promotion(request), case_id, actor, sequence)


@router.get("/audit/export", response_class=Response)
async def export(
    scope: Literal["case", "employee", "cycle"],
    key: str,
    actor: CurrentActor,
    request: Request,
    format: Literal["jsonl", "report"] = "jsonl",
) -> Response:
    """A case's, a person's or a cycle's entries: JSON lines (each line verifiable on its
    own) or a report for legal review (Markdown)."""
    promotion = _promotion(request)
    if format == "report":
        text = await audit.report(promotion, scope, key, actor)
        return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")
    entries = await audit.record(promotion, scope, key, actor)
    return Response(b"".join(audit_report.json_lines(entries)), media_type="application/x-ndjson")


@router.get("/fairness", response_model=Page[CycleFairness])
async def fairness(
    attribute: str,
    actor: CurrentActor,
    page: Paged,
    request: Request,
    min_group_size: int | None = Query(None, ge=1, le=MAX_INTEGER),
) -> Page[CycleFairness]:
    """Promotion rates per group and the four-fifths adverse-impact ratio, per cycle, and
    lateral moves' rates apart (hr_admin, auditor)."""
    cycles = await audit.fairness(_promotion(request), attribute, actor, min_group_size)
    return page.of(cycles, key=lambda c: (c.cycle, c.move_kind))


@router.post("/legal-holds", status_code=201, response_model=Hold)
async def place_hold(body: HoldPlacement, actor: CurrentActor, request: Request) -> Hold:
    """Hold a person's promotion record, or one case of theirs, from erasure (hr_admin,
    legal)."""
    return await holds.place_hold(
        _promotion(request), actor, body.reason, employee_id=body.employee_id, case_id=body.case_id
    )


@router.post("/legal-holds/{hold_id}/lift", response_model=Hold)
async def lift_hold(hold_id: str, body: HoldLift, actor: CurrentActor, request: Request) -> Hold:
    """Lift a hold in force (hr_admin, legal)."""
    return await holds.lift_hold(_promotion(request), hold_id, body.reason, actor)


@router.get("/legal-holds", response_model=Page[Hold])
async def legal_holds(
    actor: CurrentActor,
    page: Paged,
    request: Request,
    employee_id: str = Query(min_length=1, max_length=64),
) -> Page[Hold]:
    """Every hold placed on the person or their cases, in force or lifted, oldest first
    (hr_admin, legal, auditor, privacy_officer)."""
    found = await holds.holds_of(_promotion(request), employee_id, actor)
    return page.of(found, key=lambda h: h.hold_id)


def install(api: FastAPI) -> None:
    api.include_router(router)

    @api.exception_handler(CaseRefused)
    async def _refused(_: Request, error: CaseRefused) -> JSONResponse:
        status = (
            403
            if isinstance(error, NotEntitled)
            else 404
            if isinstance(error, NotFound)
            else 409
            if isinstance(error, WrongState)
            else 422
        )
        return JSONResponse(status_code=status, content={"detail": str(error)})

    @api.exception_handler(TamperedEntry)
    async def _tampered(_: Request, error: TamperedEntry) -> JSONResponse:
        # The stored log no longer says what was recorded: nothing is decided or shown on it.
        return JSONResponse(status_code=409, content={"detail": str(error)})

    @api.exception_handler(TransitionError)
    @api.exception_handler(EntryRefused)
    async def _invalid(_: Request, error: ValueError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(error)})
