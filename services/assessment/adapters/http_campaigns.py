"""HTTP API of 360 campaigns.

Authorisation: `hr_admin` opens and closes campaigns and sees non-responders. Everyone else
acts as the token's subject, their employee id: a rater sees their own assignments and the
questionnaires of the people they rate, and submits as themself; a subject sees only their
own results, anonymised (DOMAIN.md §3, Anonymity).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from libs.events.schemas.assessment import CampaignClosed, CampaignOpened
from libs.events.schemas.framework import Key
from libs.platform.auth import Actor, CurrentActor, require_role
from services.assessment.application.campaigns import (
    AssignmentStatus,
    CampaignNotFound,
    Campaigns,
    NoRoleProfile,
    NotARater,
    NotInCampaign,
    Population,
    UnknownFrameworkVersion,
    UnknownPopulation,
)
from services.assessment.domain.aggregation import SubjectCompetencyView
from services.assessment.domain.campaigns import CampaignError, InvalidCampaign
from services.assessment.domain.questionnaires import Questionnaire
from services.assessment.domain.raters import Assignment
from services.assessment.domain.submissions import Answer, SubmissionRefused

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


def _hr_admin(actor: CurrentActor) -> Actor:
    require_role(actor, "hr_admin")
    return actor


HrAdmin = Annotated[Actor, Depends(_hr_admin)]


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

    @model_validator(mode="after")
    def _one_population(self) -> NewCampaign:
        if self.employee_ids is not None and self.department is not None:
            raise ValueError("give employee_ids or department, not both (neither: everyone)")
        return self


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
    return await _campaigns(request).open_campaign(
        body.id,
        body.framework_id,
        body.framework_version,
        Population(employee_ids=body.employee_ids, department=body.department),
        closes_at,
        actor.subject,
        datetime.now(UTC),
    )


@router.get("/{campaign_id}/assignments/mine", response_model=list[AssignmentStatus])
async def my_assignments(
    campaign_id: str, actor: CurrentActor, request: Request
) -> list[AssignmentStatus]:
    """Whom the caller rates in this campaign, and how far they are."""
    return await _campaigns(request).my_assignments(campaign_id, actor.subject)


@router.get("/{campaign_id}/questionnaires/{subject}", response_model=Questionnaire)
async def questionnaire(
    campaign_id: str, subject: str, actor: CurrentActor, request: Request
) -> Questionnaire:
    """The subject's questionnaire, for their raters only."""
    return await _campaigns(request).questionnaire_for(campaign_id, subject, actor.subject)


@router.put("/{campaign_id}/submissions/{subject}", response_model=SubmissionReceipt)
async def submit(
    campaign_id: str, subject: str, body: SubmissionBody, actor: CurrentActor, request: Request
) -> SubmissionReceipt:
    """The caller's submission for the subject: created, revised or finalised."""
    recorded = await _campaigns(request).submit(
        campaign_id, subject, actor.subject, body.answers, body.final, datetime.now(UTC)
    )
    return SubmissionReceipt(recorded=recorded)


@router.post("/{campaign_id}/close", response_model=CampaignClosed)
async def close(campaign_id: str, actor: HrAdmin, request: Request) -> CampaignClosed:
    """Stop accepting submissions (hr_admin)."""
    return await _campaigns(request).close(campaign_id, actor.subject)


@router.get("/{campaign_id}/non-responders", response_model=list[Assignment])
async def non_responders(campaign_id: str, actor: HrAdmin, request: Request) -> list[Assignment]:
    """Assignments without a final submission: whom to remind (hr_admin)."""
    return await _campaigns(request).non_responders(campaign_id)


@router.get("/{campaign_id}/results/me", response_model=list[SubjectCompetencyView])
async def my_results(
    campaign_id: str, actor: CurrentActor, request: Request
) -> list[SubjectCompetencyView]:
    """The caller's own results once the campaign has closed, anonymised."""
    return await _campaigns(request).results_for_subject(campaign_id, actor.subject)


# Campaign errors not listed conflict with the campaign's state: 409.
STATUS: dict[type[CampaignError], int] = {
    CampaignNotFound: 404,
    NotInCampaign: 404,
    NotARater: 403,
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

    @api.exception_handler(CampaignError)
    async def _campaign(_: Request, error: CampaignError) -> JSONResponse:
        return JSONResponse(
            status_code=STATUS.get(type(error), 409), content={"detail": str(error)}
        )
