"""HTTP API of 360 campaigns.

Authorisation: `hr_admin` opens, reminds and closes campaigns, sees non-responders and the
HR-side results. Everyone else acts as the token's subject, their employee id: a rater sees
their own assignments and the questionnaires of the people they rate, and submits as
themself; an employee or their manager nominates peers, and the manager decides them; a
subject and their manager see the subject's results, anonymised (docs/domain.md §3, Anonymity).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.events.schemas.assessment import CampaignClosed, CampaignOpened, RemindersSent
from libs.events.schemas.framework import Key
from libs.platform import spreadsheets
from libs.platform.auth import CurrentActor, HrAdmin
from libs.platform.pagination import Page, Paged
from services.assessment.application import closing, launching, rating, reminders, results

# The module under another name: `nominations` is a route here.
from services.assessment.application import nominations as peers
from services.assessment.application.campaigns import (
    CampaignNotFound,
    Campaigns,
    NoRoleProfile,
    NotAllowed,
    NotInCampaign,
    UnknownFrameworkVersion,
)
from services.assessment.application.launching import Population, UnknownPopulation
from services.assessment.application.rating import AssignmentStatus, NotARater
from services.assessment.domain.aggregation import SubjectCompetencyView
from services.assessment.domain.campaigns import CampaignError, CampaignSettings, InvalidCampaign
from services.assessment.domain.questionnaires import Questionnaire
from services.assessment.domain.raters import (
    Assignment,
    Nomination,
    NominationRefused,
    NotEntitled,
)
from services.assessment.domain.submissions import Answer, SubmissionRefused

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


def _campaigns(request: Request) -> Campaigns:
    return request.app.state.campaigns


class NewCampaign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Key
    framework_id: str
    framework_version: int = Field(ge=1)
    closes_at: datetime
    employee_ids: list[str] | None = Field(None, min_length=1, description="these people")
    department: str | None = Field(None, min_length=1, description="everyone active in it")
    job_family: str | None = Field(None, min_length=1, description="everyone active in it")
    settings: CampaignSettings = Field(
        default_factory=CampaignSettings,
        description="anonymity threshold, group weights and peer limits; defaults documented",
    )

    @model_validator(mode="after")
    def _one_population(self) -> NewCampaign:
        if self.employee_ids is not None and (self.department or self.job_family):
            raise ValueError(
                "give employee_ids, or department and/or job_family, not both (none: everyone)"
            )
        return self


class NewNomination(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(description="whom the peer would rate")
    peer: str


class NominationDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approve: bool


class SubmissionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: list[Answer] = Field(min_length=1)
    final: bool = Field(False, description="finalised: no further revision")


class SubmissionReceipt(BaseModel):
    recorded: bool = Field(description="false when it repeats the submission already recorded")


@router.post("", status_code=201, response_model=CampaignOpened)
async def open_campaign(body: NewCampaign, actor: HrAdmin, request: Request) -> CampaignOpened:
    """Open a campaign for some employees, a department or everyone (hr_admin)."""
    closes_at = body.closes_at if body.closes_at.tzinfo else body.closes_at.replace(tzinfo=UTC)
    return await launching.open_campaign(
        _campaigns(request),
        body.id,
        body.framework_id,
        body.framework_version,
        Population(
            employee_ids=body.employee_ids, department=body.department, job_family=body.job_family
        ),
        closes_at,
        actor.subject,
        datetime.now(UTC),
        body.settings,
    )


@router.post("/{campaign_id}/nominations", status_code=201, response_model=Nomination)
async def nominate(
    campaign_id: str, body: NewNomination, actor: CurrentActor, request: Request
) -> Nomination:
    """Nominate a peer to rate the subject: by the subject or their manager."""
    return await peers.nominate(
        _campaigns(request), campaign_id, body.subject, body.peer, actor.subject, datetime.now(UTC)
    )


@router.post("/{campaign_id}/nominations/{subject}/{peer}", response_model=Nomination)
async def decide_nomination(
    campaign_id: str,
    subject: str,
    peer: str,
    body: NominationDecision,
    actor: CurrentActor,
    request: Request,
) -> Nomination:
    """Approve or reject a nominated peer: by the subject's manager only."""
    return await peers.decide_nomination(
        _campaigns(request),
        campaign_id,
        subject,
        peer,
        body.approve,
        actor.subject,
        datetime.now(UTC),
    )


@router.get("/{campaign_id}/nominations/{subject}", response_model=Page[Nomination])
async def nominations(
    campaign_id: str, subject: str, actor: CurrentActor, page: Paged, request: Request
) -> Page[Nomination]:
    """The subject's peer nominations (the subject sees only those they made)."""
    found = await peers.nominations(
        _campaigns(request), campaign_id, subject, actor.subject, actor.has("hr_admin")
    )
    return page.of(found, key=lambda n: n.peer)


@router.get("/{campaign_id}/assignments/mine", response_model=Page[AssignmentStatus])
async def my_assignments(
    campaign_id: str, actor: CurrentActor, page: Paged, request: Request
) -> Page[AssignmentStatus]:
    """Whom the caller rates in this campaign, and how far they are."""
    found = await rating.my_assignments(_campaigns(request), campaign_id, actor.subject)
    return page.of(found, key=lambda a: (a.subject, a.group))


@router.get("/{campaign_id}/questionnaires/{subject}", response_model=Questionnaire)
async def questionnaire(
    campaign_id: str, subject: str, actor: CurrentActor, request: Request
) -> Questionnaire:
    """The subject's questionnaire, for their raters only."""
    return await rating.questionnaire_for(_campaigns(request), campaign_id, subject, actor.subject)


@router.put("/{campaign_id}/submissions/{subject}", response_model=SubmissionReceipt)
async def submit(
    campaign_id: str, subject: str, body: SubmissionBody, actor: CurrentActor, request: Request
) -> SubmissionReceipt:
    """The caller's submission for the subject: created, revised or finalised."""
    recorded = await rating.submit(
        _campaigns(request),
        campaign_id,
        subject,
        actor.subject,
        body.answers,
        body.final,
        datetime.now(UTC),
    )
    return SubmissionReceipt(recorded=recorded)


@router.post("/{campaign_id}/reminders", response_model=RemindersSent | None)
async def remind(campaign_id: str, actor: HrAdmin, request: Request) -> RemindersSent | None:
    """Announce the raters who still owe a final submission (hr_admin); null when none do."""
    return await reminders.remind(
        _campaigns(request), campaign_id, actor.subject, datetime.now(UTC)
    )


@router.post("/{campaign_id}/close", response_model=CampaignClosed)
async def close(campaign_id: str, actor: HrAdmin, request: Request) -> CampaignClosed:
    """Stop accepting submissions (hr_admin)."""
    return await closing.close(_campaigns(request), campaign_id, actor.subject)


@router.get("/{campaign_id}/non-responders", response_model=Page[Assignment])
async def non_responders(
    campaign_id: str, actor: HrAdmin, page: Paged, request: Request
) -> Page[Assignment]:
    """Assignments without a final submission: whom to remind (hr_admin)."""
    found = await reminders.non_responders(_campaigns(request), campaign_id)
    return page.of(found, key=lambda a: (a.rater, a.subject, a.group))


@router.get("/{campaign_id}/results/me", response_model=Page[SubjectCompetencyView])
async def my_results(
    campaign_id: str, actor: CurrentActor, page: Paged, request: Request
) -> Page[SubjectCompetencyView]:
    """The caller's own results once the campaign has closed, anonymised."""
    views = await results.results_for_subject(
        _campaigns(request), campaign_id, actor.subject, actor.subject
    )
    return page.of(views, key=lambda v: v.competency)


@router.get("/{campaign_id}/results/me/export", response_model=None)
async def export_my_results(
    campaign_id: str,
    actor: CurrentActor,
    request: Request,
    format: Literal["csv", "json"] = "csv",
) -> Response:
    """The caller's own results as a file: the same anonymised view, nothing more."""
    views = await results.results_for_subject(
        _campaigns(request), campaign_id, actor.subject, actor.subject
    )
    name = f"{campaign_id}-{actor.subject}-results.{format}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "json":
        body = "[" + ",".join(v.model_dump_json() for v in views) + "]"
        return Response(body, media_type="application/json", headers=disposition)
    out = io.StringIO()
    writer = spreadsheets.writer(out)
    writer.writerow(
        ["competency", "overall", "group", "suppressed", "mean", "responses", "comments"]
    )
    for view in views:
        for group in view.groups:
            writer.writerow(
                [
                    view.competency,
                    "" if view.overall is None else round(view.overall, 2),
                    group.group,
                    group.suppressed,
                    "" if group.mean is None else round(group.mean, 2),
                    "" if group.responses is None else group.responses,
                    " | ".join(group.comments),
                ]
            )
    return Response(out.getvalue(), media_type="text/csv", headers=disposition)


class SubjectResults(BaseModel):
    subject: str
    competencies: list[SubjectCompetencyView]


@router.get("/{campaign_id}/results", response_model=Page[SubjectResults])
async def hr_results(
    campaign_id: str, actor: HrAdmin, page: Paged, request: Request, subject: str | None = None
) -> Page[SubjectResults]:
    """Each subject's results as the subject sees them, a page of subjects at a time
    (hr_admin): no rater is named, and an anonymous group below the threshold shows no mean,
    count or comment, only why it is suppressed."""
    campaigns = _campaigns(request)
    campaign = await campaigns.campaign(campaign_id)
    population = campaign.opened.population if campaign.opened else []
    if subject is not None:
        population = [subject] if subject in population else []
    # Only the page's subjects are aggregated: each page costs its own size, not the whole.
    chosen = page.of(population, key=lambda s: s)
    found = await results.results_for_hr(campaigns, campaign_id, chosen.items)
    by_subject: dict[str, list[SubjectCompetencyView]] = {s: [] for s in chosen.items}
    for result in found:
        by_subject[result.subject].append(result)
    return Page[SubjectResults](
        items=[SubjectResults(subject=s, competencies=by_subject[s]) for s in chosen.items],
        next_cursor=chosen.next_cursor,
    )


@router.get("/{campaign_id}/results/{subject}", response_model=Page[SubjectCompetencyView])
async def results_of(
    campaign_id: str, subject: str, actor: CurrentActor, page: Paged, request: Request
) -> Page[SubjectCompetencyView]:
    """A subject's results as they see them: for the subject and their manager."""
    views = await results.results_for_subject(
        _campaigns(request), campaign_id, subject, actor.subject
    )
    return page.of(views, key=lambda v: v.competency)


# Campaign errors not listed conflict with the campaign's state: 409.
STATUS: dict[type[CampaignError], int] = {
    CampaignNotFound: 404,
    NotInCampaign: 404,
    NotARater: 403,
    NotAllowed: 403,
    InvalidCampaign: 422,
    UnknownFrameworkVersion: 422,
    UnknownPopulation: 422,
    NoRoleProfile: 422,
}


def install(api: FastAPI) -> None:
    """Mount the routes and turn campaign and submission errors into 4xx answers."""
    api.include_router(router)

    @api.exception_handler(SubmissionRefused)
    async def _refused(_: Request, error: SubmissionRefused) -> JSONResponse:
        return JSONResponse(
            status_code=422, content={"detail": str(error), "problems": error.problems}
        )

    @api.exception_handler(NominationRefused)
    async def _nomination(_: Request, error: NominationRefused) -> JSONResponse:
        status = 403 if isinstance(error, NotEntitled) else 409
        return JSONResponse(status_code=status, content={"detail": str(error)})

    @api.exception_handler(CampaignError)
    async def _campaign(_: Request, error: CampaignError) -> JSONResponse:
        return JSONResponse(
            status_code=STATUS.get(type(error), 409), content={"detail": str(error)}
        )
