"""Events the cycle orchestrator publishes: where each review cycle stands (docs/domain.md §3).

Integrators follow cycles through these without access to Temporal. Each cycle's stream is
`cycle-<cycle_id>`; `sequence` numbers its stage transitions from 1.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from libs.events.registry import IntegrationEvent, registry
from libs.personal.sealing import PersonalOf


class _CycleEvent(IntegrationEvent):
    context = "cycles"
    schema_version = 1

    cycle_id: str = Field(description="this cycle: the series and its number, '<series>.<n>'")
    series_id: str = Field(description="the recurring cycle it belongs to")
    sequence: int = Field(ge=1)
    stage: str
    detail: str = ""


@registry.event
class CycleRequested(IntegrationEvent):
    """HR started a recurring review cycle through the cycles API, which checked the token.

    Appended by the API, never by the workflow: the services take this, not the workflow's
    input (anyone who reaches Temporal can write that), as who runs the cycle."""

    event_type = "CycleRequested"
    context = "cycles"
    schema_version = 1

    series_id: str = Field(description="the recurring cycle: its workflow id")
    requested_by: str = Field(description="the signed-in subject who started it")
    roles: list[str] = Field(description="the roles that subject's token held")
    grant_sha256: str = Field(
        description="SHA-256 of the secret the cycle's workflow carries: a workflow started "
        "under the same id by anyone else lacks it"
    )


@registry.event
class CycleStarted(_CycleEvent):
    """A review cycle began: the first stage transition of the cycle."""

    event_type = "CycleStarted"


@registry.event
class CycleStageChanged(_CycleEvent):
    """A review cycle moved to another stage, was escalated, paused or ended."""

    event_type = "CycleStageChanged"


@registry.event
class ErasureRequested(IntegrationEvent):
    """A privacy officer asked, through the cycles API, that everything held about a person
    be erased (docs/privacy.md, Requests). Appended by the API before the erasure workflow
    starts: the services act on this record, never on the workflow's input."""

    event_type = "ErasureRequested"
    context = "cycles"
    schema_version = 1

    request_ref: str = Field(description="the request's reference; its workflow is erasure-<ref>")
    employee_id: str = Field(description="the person to erase")
    requested_by: str = Field(description="the signed-in subject who asked")
    roles: list[str] = Field(description="the roles that subject's token held")
    grant_sha256: str = Field(
        description="SHA-256 of the secret the request's workflow carries: a workflow started "
        "under the same id by anyone else lacks it"
    )


@registry.event
class PersonErased(IntegrationEvent):
    """How an erasure request ended, for integrators (HRIS, LMS) to erase their own copies:
    `erased` once every service confirmed, `refused` under a legal hold (the reason says
    which), never the person's data."""

    event_type = "PersonErased"
    context = "cycles"
    schema_version = 1

    request_ref: str
    employee_id: str
    outcome: Literal["erased", "refused"]
    # It names the holds (their ids, who placed them and when), never their reasons, which
    # stay in the promotion service's decision log; sealed all the same, since it is about
    # the person: integrators learn that a refusal happened, TalentLedger alone reads why
    # (docs/privacy.md, Legal holds).
    reason: Annotated[str, PersonalOf("employee_id")] = Field(
        "", description="why it was refused: the holds in force; sealed"
    )
    services: list[str] = Field(default_factory=list, description="the services that confirmed")


@registry.event
class AccessRequestAnswered(IntegrationEvent):
    """A privacy officer's access request about a person, answered through the cycles API
    (docs/privacy.md, Requests): the record of who read everything held about whom, and
    when, for auditors. It holds ids and service names only, none of the export."""

    event_type = "AccessRequestAnswered"
    context = "cycles"
    schema_version = 1

    employee_id: str = Field(description="the person the request was about")
    requested_by: str = Field(description="the signed-in privacy officer who asked")
    answered: list[str] = Field(description="the services whose records the export holds")
    missing: list[str] = Field(description="the services that did not answer, by name")
