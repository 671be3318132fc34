"""HTTP API of the development service.

Authorisation: an employee sees their own gaps and plan; a manager those of everyone below
them in the reporting line; `hr_admin` everything, including departments, catalog coverage
and course effectiveness.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.framework import TrackKind
from libs.platform.auth import CurrentActor, HrAdmin
from libs.platform.pagination import Page, Paged
from services.development.application.development import (
    Development,
    DevelopmentError,
    GroupGaps,
    NotAllowed,
    NotFound,
    PersonGaps,
)
from services.development.domain.coverage import CoverageReport
from services.development.domain.effectiveness import CourseEffect
from services.development.domain.plan_edits import EditRefused, NewAction
from services.development.domain.plans import DevelopmentPlan

router = APIRouter(tags=["development"])


def _development(request: Request) -> Development:
    return request.app.state.development


@router.get("/gaps/{employee_id}", response_model=PersonGaps)
async def gaps(employee_id: str, actor: CurrentActor, request: Request) -> PersonGaps:
    """The employee's gaps after their latest calibration."""
    return await _development(request).gaps_of(employee_id, actor.subject, actor.has("hr_admin"))


@router.get("/gaps/{employee_id}/against", response_model=PersonGaps)
async def gaps_against(
    employee_id: str,
    family: str,
    track: TrackKind,
    level: str,
    actor: CurrentActor,
    request: Request,
) -> PersonGaps:
    """The employee's latest scores against another role: the next level, the manager
    track, or a lateral move."""
    return await _development(request).gaps_against(
        employee_id, (family, track, level), actor.subject, actor.has("hr_admin")
    )


@router.get("/teams/{manager_id}/gaps", response_model=GroupGaps)
async def team_gaps(manager_id: str, actor: CurrentActor, request: Request) -> GroupGaps:
    """Gaps of everyone below the manager (the manager or hr_admin)."""
    return await _development(request).team_gaps(manager_id, actor.subject, actor.has("hr_admin"))


@router.get("/departments/{department}/gaps", response_model=GroupGaps)
async def department_gaps(department: str, actor: HrAdmin, request: Request) -> GroupGaps:
    """Gaps across a department (hr_admin)."""
    return await _development(request).department_gaps(department)


@router.get("/plans/{employee_id}", response_model=DevelopmentPlan)
async def plan(employee_id: str, actor: CurrentActor, request: Request) -> DevelopmentPlan:
    """The employee's latest development plan."""
    return await _development(request).plan_of(employee_id, actor.subject, actor.has("hr_admin"))


class Removal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="kept in the plan's history")


@router.post("/plans/{employee_id}/actions", status_code=201, response_model=DevelopmentPlan)
async def add_action(
    employee_id: str, body: NewAction, actor: CurrentActor, request: Request
) -> DevelopmentPlan:
    """Add an action to the plan (the employee's manager or hr_admin); a course action
    also requests the enrolment from the LMS."""
    return await _development(request).add_action(
        employee_id, body, actor.subject, actor.has("hr_admin")
    )


@router.post("/plans/{employee_id}/actions/{action_id}/removal", response_model=DevelopmentPlan)
async def remove_action(
    employee_id: str, action_id: str, body: Removal, actor: CurrentActor, request: Request
) -> DevelopmentPlan:
    """Remove an action, saying why (the employee's manager or hr_admin)."""
    return await _development(request).remove_action(
        employee_id, action_id, body.reason, actor.subject, actor.has("hr_admin")
    )


@router.get("/coverage", response_model=CoverageReport)
async def coverage(actor: HrAdmin, request: Request, by_department: bool = False) -> CoverageReport:
    """Which open gaps have matching training and which need a new programme (hr_admin)."""
    return await _development(request).coverage(by_department)


@router.get("/courses/effectiveness", response_model=Page[CourseEffect])
async def effectiveness(actor: HrAdmin, page: Paged, request: Request) -> Page[CourseEffect]:
    """Per course: score movement of completers against others with the same gap (hr_admin)."""
    effects = await _development(request).effectiveness()
    return page.of(effects, key=lambda e: (e.course_id, e.competency))


def install(api: FastAPI) -> None:
    api.include_router(router)

    @api.exception_handler(EditRefused)
    async def _edit_refused(_: Request, error: EditRefused) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(error)})

    @api.exception_handler(DevelopmentError)
    async def _refused(_: Request, error: DevelopmentError) -> JSONResponse:
        status = (
            404 if isinstance(error, NotFound) else 403 if isinstance(error, NotAllowed) else 422
        )
        return JSONResponse(status_code=status, content={"detail": str(error)})
