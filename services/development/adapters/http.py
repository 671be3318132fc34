"""HTTP API of the development service.

Authorisation: an employee sees their own gaps and plan, proposes actions for it and marks
them started or done; their manager approves proposals and comments; a manager sees those of
everyone below them in the reporting line; `hr_admin` everything, including departments,
catalog coverage and course effectiveness, and the reports (`/reports/...`), as JSON or as CSV for a
spreadsheet.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.development import Estimate, PlanActionStep, TargetKey
from libs.events.schemas.framework import TrackKind
from libs.platform.auth import CurrentActor, HrAdmin
from libs.platform.pagination import Page, Paged
from libs.platform.reports import Department, ReportFormat, report, report_answer
from services.development.application.development import (
    Development,
    DevelopmentError,
    GapHeatmap,
    GapsAgainst,
    GoalReport,
    GroupGaps,
    NotAllowed,
    NotFound,
    PersonGaps,
    PlanReport,
    TeamCompletion,
    TrackedPlan,
)
from services.development.application.goals import (
    GoalError,
    GoalNotAllowed,
    GoalNotFound,
    Goals,
    Population,
)
from services.development.domain.coverage import CoverageReport
from services.development.domain.effectiveness import CourseEffect
from services.development.domain.goals import (
    TEXT_LIMIT,
    Goal,
    GoalInWrongState,
    GoalRefused,
    NewGoal,
)
from services.development.domain.heatmap import HeatmapCell
from services.development.domain.lateral import NoLateralPath
from services.development.domain.plan_edits import EditRefused, NewAction
from services.development.domain.plan_ownership import ActionInWrongState, NoSuchAction
from services.development.domain.progress import GoalStates, PlanProgress

router = APIRouter(tags=["development"])


def _development(request: Request) -> Development:
    return request.app.state.development


@router.get("/gaps/{employee_id}", response_model=PersonGaps)
async def gaps(employee_id: str, actor: CurrentActor, request: Request) -> PersonGaps:
    """The employee's gaps after their latest calibration."""
    return await _development(request).gaps_of(employee_id, actor.subject, actor.has("hr_admin"))


@router.get("/gaps/{employee_id}/against", response_model=GapsAgainst)
async def gaps_against(
    employee_id: str,
    family: str,
    track: TrackKind,
    level: str,
    actor: CurrentActor,
    request: Request,
) -> GapsAgainst:
    """The employee's latest scores against another role: the next level, the manager
    track, or another family's role along the framework's lateral path into it (the path's
    competencies to acquire are the gaps, its transferable ones carry over); 422 when no
    lateral path leads there from the person's family."""
    return await _development(request).gaps_against(
        employee_id, (family, track, level), actor.subject, actor.has("hr_admin")
    )


@router.get("/teams/{manager_id}/gaps", response_model=GroupGaps)
async def team_gaps(manager_id: str, actor: CurrentActor, request: Request) -> GroupGaps:
    """Gaps of everyone below the manager (the manager or hr_admin)."""
    return await _development(request).team_gaps(manager_id, actor.subject, actor.has("hr_admin"))


@router.get("/teams/{manager_id}/plans", response_model=TeamCompletion)
async def team_plans(manager_id: str, actor: CurrentActor, request: Request) -> TeamCompletion:
    """Progress of the latest plans of everyone below the manager, per person and in all:
    done / total of the actions in force (the manager or hr_admin)."""
    return await _development(request).team_completion(
        manager_id, actor.subject, actor.has("hr_admin")
    )


@router.get("/departments/{department}/gaps", response_model=GroupGaps)
async def department_gaps(department: str, actor: HrAdmin, request: Request) -> GroupGaps:
    """Gaps across a department (hr_admin)."""
    return await _development(request).department_gaps(department)


# -- reports (hr_admin): JSON, or CSV with `format=csv` (libs/platform/reports.py) ----------


@router.get("/reports/gaps", response_model=None, responses=report_answer(GapHeatmap))
async def gap_report(
    actor: HrAdmin, request: Request, department: Department = None, format: ReportFormat = "json"
) -> Response:
    """The latest calibration's gaps by department and competency (hr_admin): per cell the
    people the target applies to, those observed, the mean gap and the share of the
    observed below target."""
    found = await _development(request).gap_heatmap(department)
    first = {"session_id": found.session_id}
    return report("gap-heatmap", format, found, found.cells, HeatmapCell, first)


@router.get("/reports/plans", response_model=None, responses=report_answer(PlanReport))
async def plan_report(
    actor: HrAdmin, request: Request, department: Department = None, format: ReportFormat = "json"
) -> Response:
    """Each person's latest plan by department and action kind (hr_admin): people, actions
    in force, and the completed ones (done as the plan tracks them, marked by the employee or
    closed by the LMS)."""
    found = await _development(request).plan_report(department)
    return report("plan-progress", format, found, found.rows, PlanProgress)


@router.get("/reports/goals", response_model=None, responses=report_answer(GoalReport))
async def goal_report(
    actor: HrAdmin, request: Request, department: Department = None, format: ReportFormat = "json"
) -> Response:
    """Goals per state by department (hr_admin)."""
    found = await _development(request).goal_report(department)
    return report("goal-states", format, found, found.rows, GoalStates)


@router.get("/plans/{employee_id}", response_model=TrackedPlan)
async def plan(employee_id: str, actor: CurrentActor, request: Request) -> TrackedPlan:
    """The employee's latest development plan: its actions, each one's state, the
    employee's proposals, and progress (done / total of the actions in force)."""
    return await _development(request).plan_of(employee_id, actor.subject, actor.has("hr_admin"))


class Removal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000, description="kept in the plan's history")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Decision(_Body):
    approved: bool
    comment: str = Field("", max_length=TEXT_LIMIT, description="why, when declining")


class Progress(_Body):
    status: PlanActionStep
    evidence: str = Field("", max_length=TEXT_LIMIT, description="what shows it; required for done")


class PlanComment(_Body):
    comment: str = Field(min_length=1, max_length=TEXT_LIMIT)


class Position(_Body):
    """A position of the framework version of the person's latest calibration."""

    family: str = Field(min_length=1, max_length=80)
    track: TrackKind
    level: str = Field(min_length=1, max_length=40)


@router.post("/plans/{employee_id}/target", status_code=201, response_model=TrackedPlan)
async def aim_plan(
    employee_id: str, body: Position, actor: CurrentActor, request: Request
) -> TrackedPlan:
    """A plan aimed at a target position besides the person's role (the next level, the
    manager track, another family's role), from their gaps against it as
    `/gaps/{employee_id}/against` finds them (along the lateral path for another family's
    role; 422 when none leads there): their plan from now on (the employee, their manager or
    hr_admin)."""
    return await _development(request).aim_plan(
        employee_id, (body.family, body.track, body.level), actor.subject, actor.has("hr_admin")
    )


@router.post("/plans/{employee_id}/actions", status_code=201, response_model=TrackedPlan)
async def add_action(
    employee_id: str, body: NewAction, actor: CurrentActor, request: Request
) -> TrackedPlan:
    """The employee proposes an action for their own plan, for their manager to approve;
    their manager or hr_admin adds one in force at once (a course action then also requests
    the enrolment from the LMS)."""
    return await _development(request).add_action(
        employee_id, body, actor.subject, actor.has("hr_admin")
    )


@router.post("/plans/{employee_id}/actions/{action_id}/removal", response_model=TrackedPlan)
async def remove_action(
    employee_id: str, action_id: str, body: Removal, actor: CurrentActor, request: Request
) -> TrackedPlan:
    """Remove an action, saying why (the employee's manager or hr_admin)."""
    return await _development(request).remove_action(
        employee_id, action_id, body.reason, actor.subject, actor.has("hr_admin")
    )


@router.post("/plans/{employee_id}/actions/{action_id}/decision", response_model=TrackedPlan)
async def decide_action(
    employee_id: str, action_id: str, body: Decision, actor: CurrentActor, request: Request
) -> TrackedPlan:
    """The employee's manager approves their proposed action, or declines it saying why."""
    return await _development(request).decide_action(
        employee_id, action_id, body.approved, body.comment, actor.subject
    )


@router.post("/plans/{employee_id}/actions/{action_id}/progress", response_model=TrackedPlan)
async def progress_action(
    employee_id: str, action_id: str, body: Progress, actor: CurrentActor, request: Request
) -> TrackedPlan:
    """The employee marks an action of their plan in force started, or done with evidence."""
    return await _development(request).progress_action(
        employee_id, action_id, body.status, body.evidence, actor.subject
    )


@router.post(
    "/plans/{employee_id}/actions/{action_id}/comments",
    status_code=201,
    response_model=TrackedPlan,
)
async def comment_action(
    employee_id: str, action_id: str, body: PlanComment, actor: CurrentActor, request: Request
) -> TrackedPlan:
    """The employee's manager comments on an action of their plan."""
    return await _development(request).comment_action(
        employee_id, action_id, body.comment, actor.subject
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


# -- goals (docs/domain.md §5, Goals) ---------------------------------------------------------


def _goals(request: Request) -> Goals:
    return request.app.state.goals


class GoalRequest(NewGoal):
    employee_id: str = Field(min_length=1, max_length=200, description="whose goal it is")


class PopulationGoal(NewGoal):
    """One goal set for each person of a population: these employees, or a department."""

    employee_ids: list[str] | None = Field(None, min_length=1, max_length=10_000)
    department: str | None = Field(None, min_length=1, max_length=200)


class GoalsSet(BaseModel):
    goals: list[Goal]


class Agreement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agreed: bool
    reason: str = Field("", max_length=TEXT_LIMIT, description="why, when rejecting")


class CheckInBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=TEXT_LIMIT)
    evidence: str = Field("", max_length=TEXT_LIMIT)
    estimates: dict[TargetKey, Estimate] = Field(
        default_factory=dict,
        max_length=50,
        description="a self-estimate per target key",
        # The key pattern reaches the schema as patternProperties: say that no other key is
        # allowed, as the service checks.
        json_schema_extra={"additionalProperties": False},
    )


class Drop(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=TEXT_LIMIT)


def _new(body: NewGoal) -> NewGoal:
    return NewGoal.model_validate(body.model_dump(include=set(NewGoal.model_fields)))


@router.post("/goals", status_code=201, response_model=Goal)
async def set_goal(body: GoalRequest, actor: CurrentActor, request: Request) -> Goal:
    """The employee proposes their own goal, for their manager to agree; HR sets one."""
    return await _goals(request).propose_or_set(
        body.employee_id, _new(body), actor.subject, actor.has("hr_admin")
    )


@router.post("/goals/population", status_code=201, response_model=GoalsSet)
async def set_population_goal(body: PopulationGoal, actor: HrAdmin, request: Request) -> GoalsSet:
    """HR sets the same goal for these employees, or everyone active in a department: one
    goal each."""
    if (body.employee_ids is None) == (body.department is None):
        raise GoalError("name either employee_ids or a department")
    population = Population(body.employee_ids, body.department)
    return GoalsSet(
        goals=await _goals(request).set_for_population(population, _new(body), actor.subject)
    )


@router.post("/goals/{goal_id}/agreement", response_model=Goal)
async def agree_goal(goal_id: str, body: Agreement, actor: CurrentActor, request: Request) -> Goal:
    """The employee's manager (or HR) agrees a proposed goal, or rejects it saying why."""
    return await _goals(request).agree(
        goal_id, body.agreed, body.reason, actor.subject, actor.has("hr_admin")
    )


@router.post("/goals/{goal_id}/check-ins", status_code=201, response_model=Goal)
async def check_in(goal_id: str, body: CheckInBody, actor: CurrentActor, request: Request) -> Goal:
    """The employee or their manager records progress on a goal in force."""
    return await _goals(request).check_in(
        goal_id, body.note, body.evidence, body.estimates, actor.subject
    )


@router.post("/goals/{goal_id}/drop", response_model=Goal)
async def drop_goal(goal_id: str, body: Drop, actor: CurrentActor, request: Request) -> Goal:
    """The employee, their manager or HR drops a goal in force, saying why."""
    return await _goals(request).drop(goal_id, body.reason, actor.subject, actor.has("hr_admin"))


@router.get("/goals/{goal_id}", response_model=Goal)
async def goal(goal_id: str, actor: CurrentActor, request: Request) -> Goal:
    """A goal with its check-ins and calibration verdicts."""
    return await _goals(request).goal(goal_id, actor.subject, actor.has("hr_admin"))


@router.get("/people/{employee_id}/goals", response_model=Page[Goal])
async def goals_of(
    employee_id: str, actor: CurrentActor, page: Paged, request: Request
) -> Page[Goal]:
    """The employee's goals by due date (the employee, anyone above them, HR)."""
    found = await _goals(request).goals_of(employee_id, actor.subject, actor.has("hr_admin"))
    return page.of(found, key=lambda g: g.goal_id)


def install(api: FastAPI) -> None:
    api.include_router(router)

    @api.exception_handler(GoalError)
    async def _goal_refused(_: Request, error: GoalError) -> JSONResponse:
        status = (
            404
            if isinstance(error, GoalNotFound)
            else 403
            if isinstance(error, GoalNotAllowed)
            else 422
        )
        return JSONResponse(status_code=status, content={"detail": str(error)})

    @api.exception_handler(GoalRefused)
    async def _goal_rule(_: Request, error: GoalRefused) -> JSONResponse:
        status = 409 if isinstance(error, GoalInWrongState) else 422
        return JSONResponse(status_code=status, content={"detail": str(error)})

    @api.exception_handler(EditRefused)
    async def _edit_refused(_: Request, error: EditRefused) -> JSONResponse:
        status = (
            404
            if isinstance(error, NoSuchAction)
            else 409
            if isinstance(error, ActionInWrongState)
            else 422
        )
        return JSONResponse(status_code=status, content={"detail": str(error)})

    @api.exception_handler(NoLateralPath)
    async def _no_lateral_path(_: Request, error: NoLateralPath) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": str(error)})

    @api.exception_handler(DevelopmentError)
    async def _refused(_: Request, error: DevelopmentError) -> JSONResponse:
        status = (
            404 if isinstance(error, NotFound) else 403 if isinstance(error, NotAllowed) else 422
        )
        return JSONResponse(status_code=status, content={"detail": str(error)})
