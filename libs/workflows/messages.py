"""What the review-cycle workflow and the services' activities exchange: the input and
result models of the activity contracts (`libs.workflows.contracts`) and the cycle ids.
Plain pydantic, no workflow engine: an application returns these without importing Temporal.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


def round_of(series_id: str, number: int) -> str:
    """A cycle's own id: the series (the workflow id) and its number, `<series>.<n>`. It is
    the campaign id and the cycle id promotion nominations name."""
    return f"{series_id}.{number}"


def series_of(round_id: str) -> str | None:
    """The series (workflow id) a cycle's own id belongs to; None when it is not one."""
    series, dot, number = round_id.rpartition(".")
    return series if dot and series and number.isdigit() else None


def erasure_workflow_id(request_ref: str) -> str:
    """The workflow that carries out the erasure request `request_ref`, one per request, and
    the cycles stream recording it (`ErasureRequested`, then `PersonErased`)."""
    return f"erasure-{request_ref}"


def grant_digest(grant: str) -> str:
    """What the cycles API publishes of a cycle's grant: its SHA-256, so that subscribers
    of the cycles events cannot act for the cycle."""
    return hashlib.sha256(grant.encode()).hexdigest()


class FrameworkRef(BaseModel):
    """A framework, optionally pinned to one published version (None: the latest)."""

    model_config = ConfigDict(frozen=True)

    framework_id: str = Field(min_length=1)
    version: int | None = Field(None, ge=1)


class FrameworkConfirmation(BaseModel):
    """A service holds the published framework version in its own read model."""

    model_config = ConfigDict(frozen=True)

    service: str
    framework_id: str
    version: int


class Population(BaseModel):
    """Whom a cycle assesses: these employees, or everyone active in a department and/or a
    job family, or (all None) everyone active."""

    model_config = ConfigDict(frozen=True)

    employee_ids: list[str] | None = None
    department: str | None = None
    job_family: str | None = None


class OpenCampaign(BaseModel):
    model_config = ConfigDict(frozen=True)

    campaign_id: str
    framework: FrameworkRef
    population: Population
    closes_at: datetime
    actor: str
    grant: str = Field(
        "", description="the cycle's secret from the cycles API; the services check its hash"
    )


class CampaignStarted(BaseModel):
    model_config = ConfigDict(frozen=True)

    campaign_id: str
    subjects: int
    assignments: int


class CampaignStep(BaseModel):
    """A step on a campaign (remind, close, open its calibration) by an actor."""

    model_config = ConfigDict(frozen=True)

    campaign_id: str
    actor: str
    grant: str = Field(
        "", description="the cycle's secret from the cycles API; the services check its hash"
    )


class ResponseCount(BaseModel):
    """Where a campaign's responses stand: what reminders and the progress query show."""

    model_config = ConfigDict(frozen=True)

    campaign_id: str
    assignments: int
    outstanding: int
    closed: bool


class CalibrationOpened(BaseModel):
    model_config = ConfigDict(frozen=True)

    session_id: str
    subjects: int


class SessionRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    session_id: str


class GapReview(BaseModel):
    """What a calibration left for the development service: gaps, plans, and the managers
    whose reports have open gaps (who review them)."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    people: int
    open_gaps: int
    plans: int
    managers: list[str]


class MovementRequest(BaseModel):
    model_config = ConfigDict(frozen=True)

    previous_session_id: str
    session_id: str


class GapMovement(BaseModel):
    """How scores moved between two cycles' calibrations (docs/domain.md §5, re-assessment)."""

    model_config = ConfigDict(frozen=True)

    previous_session_id: str
    session_id: str
    people: int = Field(description="people calibrated in both")
    compared: int = Field(description="(person, competency) pairs observed in both")
    improved: int
    declined: int
    mean_change: float | None


class CycleCases(BaseModel):
    model_config = ConfigDict(frozen=True)

    cycle_id: str
    actor: str
    grant: str = Field(
        "", description="the cycle's secret from the cycles API; the services check its hash"
    )


class PromotionEvaluations(BaseModel):
    model_config = ConfigDict(frozen=True)

    cycle_id: str
    cases: int = Field(description="open cases nominated in the cycle")
    evaluated: int = Field(description="evaluated by this call (a repeat finds them done)")
    ready: int


class StageChange(BaseModel):
    """One stage transition of a cycle, published so integrators can follow cycles without
    access to Temporal. `sequence` numbers the transitions of one cycle from 1: a repeated
    activity finds the stage recorded and records nothing. The activity returns the stage's
    trace as a W3C trace context (`{"traceparent": ...}`), or None when it traces nothing."""

    model_config = ConfigDict(frozen=True)

    cycle_id: str
    series_id: str
    sequence: int = Field(ge=1)
    stage: str
    detail: str = ""
    at: datetime


StageTrace = dict[str, str]


class Steering(BaseModel):
    """Who pauses, resumes, closes early or starts the next cycle: the HR user the cycles API
    authenticated. It travels encrypted like every payload, so only a holder of the payload
    keys can send one; a signal without it is ignored (docs/cycles.md, Security)."""

    model_config = ConfigDict(frozen=True)

    actor: str = Field(min_length=1)


# -- erasing a person (docs/privacy.md, Requests) --------------------------------------------

RequestRef = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    Field(description="the privacy request's reference, e.g. the ticket it was filed under"),
]


class ErasureOrder(BaseModel):
    """Erase everything a service holds about `employee_id`, under request `request_ref`.
    A service acts on it only if the cycles API recorded that a privacy officer made that
    request (`ErasureRequested`) and `grant` is the request's own."""

    model_config = ConfigDict(frozen=True)

    request_ref: RequestRef
    employee_id: str = Field(min_length=1)
    grant: str = Field(description="the request's secret from the cycles API")


class ErasureClearance(BaseModel):
    """Whether the person may be erased: refused while a legal hold is on them or one of
    their cases; the refusal is then an entry of the decision log. `reason` names each hold,
    who placed it and when, never why: the holds' reasons are the person's data and stay
    in the decision log (docs/privacy.md, Legal holds)."""

    model_config = ConfigDict(frozen=True)

    cleared: bool
    reason: str = Field("", description="why it was refused: each hold, who placed it, when")


class KeysDestroyed(BaseModel):
    model_config = ConfigDict(frozen=True)

    employee_id: str
    keys: int = Field(description="the person's keys destroyed under the request (a retry too)")


class ErasedData(BaseModel):
    """A service's confirmation that it holds nothing more of the person than the record
    of decisions keeps: what it erased, by kind (a repeat counts what it found left)."""

    model_config = ConfigDict(frozen=True)

    service: str
    erased: dict[str, int] = Field(default_factory=dict)


class ErasureOutcome(BaseModel):
    """How an erasure request ended, for the cycles service to publish as `PersonErased`;
    `order` proves the request, as for every other step."""

    model_config = ConfigDict(frozen=True)

    order: ErasureOrder
    outcome: Literal["erased", "refused"]
    reason: str = Field("", description="why it was refused: the clearance's reason")
    services: list[str] = Field(default_factory=list, description="the services that confirmed")
