"""Events the promotion service publishes about promotion cases (docs/domain.md §6).

They tell other systems (the HRIS, the cycle orchestrator, reporting) where a case stands.
The full record, with the evidence, the rationale and the scores as they were, is the
decision log, which auditors read through the promotion service; events carry no rationale.
Every case event's stream is `promotion-case-<case_id>`; an erasure request's clearance is
on `promotion-erasure-<request_ref>`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from libs.events.registry import IntegrationEvent, registry
from libs.events.schemas.framework import Key, TrackKind

Outcome = Literal["approve", "deny", "defer"]


class Move(BaseModel):
    """The transition a case is about: from a level of a job family's track to another."""

    model_config = ConfigDict(frozen=True)

    family: Key
    from_track: TrackKind
    from_level: str
    to_track: TrackKind
    to_level: str
    to_family: Key | None = Field(
        None,
        description="the target's job family, for a crossover into a family holding only a "
        "manager track (or back from it), or a lateral move (to_track the same as "
        "from_track) along the framework's lateral path into another family; absent: the "
        "same family",
        # A move within one family dumps as it did before `to_family` existed: the decision
        # log hashes these bytes, and consumers of version 1 read them unchanged.
        exclude_if=lambda family: family is None,
    )

    @property
    def target_family(self) -> str:
        return self.to_family or self.family


class _CaseEvent(IntegrationEvent):
    context = "promotion"
    schema_version = 1

    case_id: str
    employee_id: str
    cycle_id: str = Field(description="the review cycle the case belongs to")
    move: Move


@registry.event
class PromotionNominated(_CaseEvent):
    """A manager (or HR) nominated someone for a move."""

    event_type = "PromotionNominated"

    nominated_by: str
    framework_id: str


@registry.event
class PromotionEvaluated(_CaseEvent):
    """Readiness was evaluated against a criteria version and a calibration."""

    event_type = "PromotionEvaluated"

    ready: bool
    unmet: list[str] = Field(description="the names of the criteria not met")
    criteria_version: int = Field(ge=1)
    session_id: str = Field(description="the calibration session the scores come from")
    framework_id: str
    framework_version: int = Field(ge=1)


@registry.event
class PromotionDecided(_CaseEvent):
    """A decision, or the outcome of an appeal against one (`on_appeal`)."""

    event_type = "PromotionDecided"

    outcome: Outcome
    decided_by: str
    on_appeal: bool = False
    criteria_version: int = Field(ge=1)
    session_id: str
    framework_id: str
    framework_version: int = Field(ge=1)


@registry.event
class ErasureCleared(IntegrationEvent):
    """An erasure request cleared against legal holds (docs/privacy.md, Legal holds): from
    then on the services may destroy and erase under it, and no hold is placed on the
    person until it has ended. Appended with the decision log's `erasure_cleared` entry."""

    event_type = "ErasureCleared"
    context = "promotion"
    schema_version = 1

    request_ref: str
    employee_id: str
