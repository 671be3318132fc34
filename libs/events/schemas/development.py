"""Events the development service publishes: gaps, development plans and goals
(docs/domain.md §5)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import IntegrationEvent, registry
from libs.events.schemas.framework import Key
from libs.personal.sealing import PersonalOf

ActionKind = Literal["on_the_job", "mentoring", "course"]


class CompetencyGap(BaseModel):
    model_config = ConfigDict(frozen=True)

    competency: Key
    sub_skill: Key | None = Field(
        None,
        description="the sub-skill, when the competency was assessed per sub-skill: one gap "
        "per sub-skill, against the competency's target",
    )
    target: int
    current: float | None = Field(description="calibrated score; null: not observed")
    gap: float | None = Field(description="target - current; null when not observed")


@registry.event
class GapsIdentified(IntegrationEvent):
    """One person's gaps against their role profile after a calibration."""

    event_type = "GapsIdentified"
    context = "development"
    schema_version = 2

    employee_id: str
    session_id: str = Field(description="the calibration session the scores come from")
    framework_id: str
    framework_version: int = Field(ge=1)
    role: Key = Field(description="the role profile whose targets were used")
    gaps: list[CompetencyGap]


@registry.upcaster("GapsIdentified", 1)
def _gaps_identified_v1(payload: dict) -> dict:  # type: ignore[type-arg]
    """v2 added each gap's `sub_skill`, null by default. A v1 payload reads as it is: its
    gaps were per competency at either granularity, which a null `sub_skill` says."""
    return payload


class PlannedAction(BaseModel):
    model_config = ConfigDict(frozen=True)

    action_id: str
    kind: ActionKind
    competency: Key = Field(description="the gap this action closes")
    description: str
    mentor: str | None = None
    course_id: str | None = None


@registry.event
class DevelopmentPlanGenerated(IntegrationEvent):
    """A person's development plan, generated from their gaps with the 70/20/10 mix."""

    event_type = "DevelopmentPlanGenerated"
    context = "development"
    schema_version = 1

    plan_id: str
    employee_id: str
    session_id: str
    actions: list[PlannedAction]


@registry.event
class TargetPlanGenerated(IntegrationEvent):
    """A person's development plan aimed at a target position other than their role (the
    next level, the manager track, another family's role): generated with the 70/20/10 mix
    from their latest calibrated scores against that position's role profile."""

    event_type = "TargetPlanGenerated"
    context = "development"
    schema_version = 1

    plan_id: str
    employee_id: str
    session_id: str = Field(description="the calibration session the scores come from")
    target_role: Key = Field(description="the role profile aimed at")
    actions: list[PlannedAction]


# -- goals ----------------------------------------------------------------------------------

TargetKey = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9._-]*(/[a-z0-9][a-z0-9._-]*)?$",
        max_length=161,
        description="a competency key, or `competency/sub-skill` at sub-skill granularity",
    ),
]
# A self-estimate on the 0..5 scale the targets use: finite, or the schema would allow what
# the service then refuses.
Estimate = Annotated[float, Field(ge=0, le=5, allow_inf_nan=False)]
GoalOutcome = Literal["met", "missed", "dropped"]


class GoalTarget(BaseModel):
    """A level to reach on one competency (or sub-skill), on the framework's scale."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: TargetKey
    level: int = Field(ge=0, le=5)


class TargetResult(BaseModel):
    """Whether a calibration found a target reached: calibrated score >= target level; a
    target nobody observed is not reached."""

    model_config = ConfigDict(frozen=True)

    key: str
    level: int
    score: float | None = Field(description="the calibrated score; null: not observed")
    reached: bool


class GoalTerms(BaseModel):
    """What a goal says, as its proposal and its setting record it. The title is sealed
    under the employee's key (docs/privacy.md)."""

    goal_id: str
    employee_id: str
    title: Annotated[str, PersonalOf("employee_id")]
    due: date
    framework_id: str
    framework_version: int = Field(ge=1)
    targets: list[GoalTarget] = Field(min_length=1)


@registry.event
class GoalSet(GoalTerms, IntegrationEvent):
    """A goal in force: agreed by the employee's manager on the employee's proposal, or set
    by HR directly."""

    event_type = "GoalSet"
    context = "development"
    schema_version = 1

    how: Literal["agreed", "set_by_hr"] = Field(
        description="agreed: the manager agreed the employee's proposal; set_by_hr: HR set it"
    )


@registry.event
class GoalProgressRecorded(IntegrationEvent):
    """Progress on a goal: a check-in by the employee or their manager (a note, evidence and
    optionally a self-estimate per target), or a calibration's verdict on every target."""

    event_type = "GoalProgressRecorded"
    context = "development"
    schema_version = 1

    goal_id: str
    employee_id: str
    source: Literal["check_in", "calibration"]
    note: Annotated[str, PersonalOf("employee_id")] = Field("", description="sealed")
    evidence: Annotated[str, PersonalOf("employee_id")] = Field("", description="sealed")
    estimates: dict[TargetKey, Estimate] = Field(
        default_factory=dict, description="check-in: a self-estimate per target key"
    )
    session_id: str | None = Field(None, description="calibration: the session scored")
    results: list[TargetResult] = Field(
        default_factory=list, description="calibration: each target reached or not"
    )


@registry.event
class GoalClosed(IntegrationEvent):
    """A goal ended: met or missed, judged by the first calibration on or after its due
    date, or dropped by the employee, their manager or HR with a reason (sealed)."""

    event_type = "GoalClosed"
    context = "development"
    schema_version = 1

    goal_id: str
    employee_id: str
    outcome: GoalOutcome
    session_id: str | None = Field(None, description="met or missed: the deciding session")
    reason: Annotated[str, PersonalOf("employee_id")] = Field(
        "", description="dropped: why; sealed"
    )


# -- plans the employee owns ----------------------------------------------------------------


class OwnAction(PlannedAction):
    """An action of a plan whose text the employee or their manager wrote: it is about the
    employee, sealed under their key (docs/privacy.md)."""

    description: Annotated[str, PersonalOf("employee_id")]


class OnPlan(BaseModel):
    """What every event on an employee's plan names: the plan, and whose it is (their key
    seals its texts)."""

    plan_id: str
    employee_id: str = Field(description="whose plan it is")


class OnPlanAction(OnPlan):
    action_id: str


@registry.event
class PlanActionApproved(OnPlan, IntegrationEvent):
    """An action the employee proposed for their own plan, approved by their manager: in
    force from now on, counted in the plan's progress (the proposal itself stays in the
    development service)."""

    event_type = "PlanActionApproved"
    context = "development"
    schema_version = 1

    action: OwnAction
    comment: Annotated[str, PersonalOf("employee_id")] = Field(
        "", description="the manager's, if any; sealed"
    )


PlanActionStep = Literal["started", "done"]


@registry.event
class PlanActionProgressed(OnPlanAction, IntegrationEvent):
    """The employee marked an action of their plan in force started or done, with evidence
    (sealed; required for done)."""

    event_type = "PlanActionProgressed"
    context = "development"
    schema_version = 1

    status: PlanActionStep
    evidence: Annotated[str, PersonalOf("employee_id")] = Field("", description="sealed")


@registry.event
class PlanActionCompleted(OnPlanAction, IntegrationEvent):
    """The LMS reported the course a course action names completed by the plan's employee:
    the action is done (once: a later completion of the same course changes nothing)."""

    event_type = "PlanActionCompleted"
    context = "development"
    schema_version = 1

    course_id: str
    completed_on: date = Field(description="as the LMS's CourseCompleted says")
