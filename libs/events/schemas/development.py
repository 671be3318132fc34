"""Events the development service publishes: gaps and development plans (docs/domain.md §5)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import IntegrationEvent, registry
from libs.events.schemas.framework import Key

ActionKind = Literal["on_the_job", "mentoring", "course"]


class CompetencyGap(BaseModel):
    model_config = ConfigDict(frozen=True)

    competency: Key
    target: int
    current: float | None = Field(description="calibrated score; null: not observed")
    gap: float | None = Field(description="target - current; null when not observed")


@registry.event
class GapsIdentified(IntegrationEvent):
    """One person's gaps against their role profile after a calibration."""

    event_type = "GapsIdentified"
    context = "development"
    schema_version = 1

    employee_id: str
    session_id: str = Field(description="the calibration session the scores come from")
    framework_id: str
    framework_version: int = Field(ge=1)
    role: Key = Field(description="the role profile whose targets were used")
    gaps: list[CompetencyGap]


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
