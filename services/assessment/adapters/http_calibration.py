"""HTTP API of calibration sessions (hr_admin only: the review names raters' offsets)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.framework import Key
from libs.platform import spreadsheets
from libs.platform.auth import HrAdmin
from libs.platform.pagination import Page, Paged
from services.assessment.application import calibration
from services.assessment.application.calibration import (
    InvalidSession,
    SessionNotFound,
    SessionSummary,
    SubjectReview,
)
from services.assessment.application.campaigns import Campaigns
from services.assessment.domain.calibration import (
    Adjustment,
    AdjustmentRefused,
    InconsistentAnchor,
    Outlier,
    RaterOffset,
)
from services.assessment.domain.calibration_sessions import CalibrationError
from services.assessment.domain.standard_terms import StandardTermScores, UnknownStandardTerm

router = APIRouter(prefix="/calibrations", tags=["calibration"])


def _campaigns(request: Request) -> Campaigns:
    return request.app.state.campaigns


class NewSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Key
    campaign_id: str
    subjects: list[str] | None = Field(
        None, min_length=1, description="part of the campaign's population; none: all of it"
    )


class NewAdjustment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str
    competency: str
    new_value: float = Field(allow_inf_nan=False)
    # Optional here so that a missing one gets the calibration rule's own explanation.
    justification: str | None = Field(None, description="mandatory: why the score changes")
    seen_value: float | None = Field(
        None, description="the value you adjusted from; refused if it has changed since"
    )


@router.post("", status_code=201, response_model=SessionSummary)
async def open_session(body: NewSession, actor: HrAdmin, request: Request) -> SessionSummary:
    """Open a session on a closed campaign's population (or part of it), and compute its
    scores and signals: read them from `/scores` and the signals' routes."""
    return await calibration.open_session(
        _campaigns(request), body.id, body.campaign_id, body.subjects, actor.subject
    )


@router.get("/{session_id}", response_model=SessionSummary)
async def review(session_id: str, actor: HrAdmin, request: Request) -> SessionSummary:
    """The session: its campaign, whether it is completed, how many subjects and
    adjustments it has."""
    return await calibration.review(_campaigns(request), session_id)


@router.get("/{session_id}/scores", response_model=Page[SubjectReview])
async def scores(
    session_id: str, actor: HrAdmin, page: Paged, request: Request, subject: str | None = None
) -> Page[SubjectReview]:
    """Scores as calibrated so far, a page of subjects at a time (one subject's with
    `subject`), with every adjustment behind each: only the page's subjects are read."""
    campaigns = _campaigns(request)
    found = await calibration.session(campaigns, session_id)
    assert found.opened is not None
    subjects = found.opened.subjects
    if subject is not None:
        subjects = [subject] if subject in subjects else []
    chosen = page.of(subjects, key=lambda s: s)
    reviewed = await calibration.subject_scores(campaigns, found, chosen.items)
    return Page[SubjectReview](items=reviewed, next_cursor=chosen.next_cursor)


@router.get("/{session_id}/rater-offsets", response_model=Page[RaterOffset])
async def rater_offsets(
    session_id: str, actor: HrAdmin, page: Paged, request: Request
) -> Page[RaterOffset]:
    """Each rater's leniency or severity against the other raters of the same subjects,
    over the session's population, by rater."""
    found = await calibration.signals(_campaigns(request), session_id, "rater_offsets")
    return page.of(found.rater_offsets, key=lambda o: o.rater)


@router.get("/{session_id}/inconsistent-anchors", response_model=Page[InconsistentAnchor])
async def inconsistent_anchors(
    session_id: str, actor: HrAdmin, page: Paged, request: Request
) -> Page[InconsistentAnchor]:
    """Competencies whose anchors raters read differently, the largest share first."""
    found = await calibration.signals(_campaigns(request), session_id, "inconsistent_anchors")
    return page.of(found.inconsistent_anchors, key=lambda a: a.competency)


@router.get("/{session_id}/outliers", response_model=Page[Outlier])
async def outliers(session_id: str, actor: HrAdmin, page: Paged, request: Request) -> Page[Outlier]:
    """Subjects far from the population on an item, by item and subject."""
    found = await calibration.signals(_campaigns(request), session_id, "outliers")
    return page.of(found.outliers, key=lambda o: (o.competency, o.subject))


@router.post("/{session_id}/adjustments", status_code=201, response_model=Adjustment)
async def adjust(
    session_id: str, body: NewAdjustment, actor: HrAdmin, request: Request
) -> Adjustment:
    """Adjust one score, with a justification; the caller is recorded as who adjusted it."""
    return await calibration.adjust(
        _campaigns(request),
        session_id,
        body.subject,
        body.competency,
        body.new_value,
        body.justification,
        actor.subject,
        datetime.now(UTC),
        body.seen_value,
    )


@router.post("/{session_id}/complete", response_model=SessionSummary)
async def complete(session_id: str, actor: HrAdmin, request: Request) -> SessionSummary:
    """Publish the final calibrated scores (CalibrationCompleted, to the services that
    consume it); the answer is the completed session, not the event, which is megabytes at
    10,000 people."""
    completed = await calibration.complete(_campaigns(request), session_id, actor.subject)
    return SessionSummary.completed_by(completed)


@router.get(
    "/{session_id}/standard-term-export",
    response_model=None,
    responses={
        200: {
            "description": "the scores by standard term, as CSV (default) or JSON",
            "model": StandardTermScores,
            "content": {"text/csv": {}},
        }
    },
)
async def standard_term_export(
    session_id: str,
    actor: HrAdmin,
    request: Request,
    format: Literal["csv", "json"] = "csv",
    standard_term: str | None = Query(
        None,
        min_length=1,
        max_length=200,
        description="this term's scores only (case and spacing ignored)",
    ),
) -> Response:
    """A completed session's final scores keyed by standard term, to compare frameworks or
    organisations on the same terms: per person and term, the mean of the mapped
    competencies' scores, with how many were scored and which; scores on competencies
    without a standard term listed apart (docs/domain.md §2, Vocabulary)."""
    found = await calibration.standard_term_scores(_campaigns(request), session_id, standard_term)
    name = f"{session_id}-standard-terms.{format}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "json":
        return Response(found.model_dump_json(), media_type="application/json", headers=disposition)
    return Response(_csv(found), media_type="text/csv", headers=disposition)


def _csv(found: StandardTermScores) -> str:
    """One row per person and term (`kind` term) and per score without a term (`kind`
    unmapped, its competency in `competencies`); each row names its framework version and
    taxonomy, so two organisations' files can be read as one."""
    out = io.StringIO()
    writer = spreadsheets.writer(out)
    writer.writerow(
        [
            "framework_id",
            "framework_version",
            "taxonomy",
            "subject",
            "kind",
            "standard_term",
            "score",
            "scored",
            "competencies",
        ]
    )
    source = [found.framework_id, found.framework_version, found.taxonomy or ""]
    for term in found.terms:
        row = [term.subject, "term", term.standard_term, _cell(term.score), term.scored]
        writer.writerow([*source, *row, " ".join(term.competencies)])
    for score in found.unmapped:
        scored = 0 if score.score is None else 1
        row = [score.subject, "unmapped", "", _cell(score.score), scored, score.competency]
        writer.writerow([*source, *row])
    return out.getvalue()


def _cell(score: float | None) -> object:
    return "" if score is None else round(score, 2)


# Session errors not listed conflict with the session's state: 409.
STATUS: dict[type[CalibrationError], int] = {SessionNotFound: 404, InvalidSession: 422}


def install(api: FastAPI) -> None:
    """Mount the routes and turn session errors into 4xx answers."""
    api.include_router(router)

    @api.exception_handler(AdjustmentRefused)
    async def _refused(_: Request, error: AdjustmentRefused) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(error)})

    @api.exception_handler(UnknownStandardTerm)
    async def _term(_: Request, error: UnknownStandardTerm) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(error)})

    @api.exception_handler(CalibrationError)
    async def _session(_: Request, error: CalibrationError) -> JSONResponse:
        status = STATUS.get(type(error), 409)
        return JSONResponse(status_code=status, content={"detail": str(error)})
