"""Events an HRIS publishes about employees: TalentLedger's copy of the org chart.

The HRIS owns these facts; TalentLedger never writes them back. An integrator publishes each
event in the standard envelope on `talentledger.hris.<event_name>.v<version>`, with
`stream_id` = `employee-<employee_id>` and `stream_version` counting that employee's events
from 1, so consumers can tell a late, stale event from a new one. The event id must be
stable for the same fact (JetStream and the consumers' inboxes drop repeats by it).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field, StringConstraints

from libs.events.registry import IntegrationEvent, registry
from libs.events.schemas.framework import Key, TrackKind
from libs.personal.sealing import PersonalOf

EmployeeId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    Field(description="the HRIS's stable employee identifier"),
]
Department = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class _HrisEvent(IntegrationEvent):
    context = "hris"
    schema_version = 1

    employee_id: EmployeeId
    effective_on: date = Field(description="the day the fact takes effect in the HRIS")


@registry.event
class EmployeeHired(_HrisEvent):
    """Someone joined, in a position of the career framework, reporting to a manager."""

    event_type = "EmployeeHired"

    name: Annotated[str, PersonalOf("employee_id")] = Field(
        min_length=1, max_length=200, description="display name; sealed (docs/privacy.md)"
    )
    department: Department
    job_family: Key = Field(description="a job family key of the career framework")
    track: TrackKind
    level: str = Field(min_length=1, max_length=40, description="a level code of that track")
    manager_id: EmployeeId | None = Field(None, description="None for the top of the chart")


@registry.event
class EmployeeRoleChanged(_HrisEvent):
    """A move to another department, family, track or level (a promotion among them)."""

    event_type = "EmployeeRoleChanged"

    department: Department
    job_family: Key
    track: TrackKind
    level: str = Field(min_length=1, max_length=40)


@registry.event
class EmployeeManagerChanged(_HrisEvent):
    event_type = "EmployeeManagerChanged"

    manager_id: EmployeeId | None = Field(description="None for the top of the chart")


@registry.event
class EmployeeLeft(_HrisEvent):
    event_type = "EmployeeLeft"


@registry.event
class ProtectedAttributeRecorded(_HrisEvent):
    """A person's value for the protected attribute fairness monitoring compares groups on
    (docs/domain.md §6, Fairness). Optional: people without one count as "undisclosed".

    Only the promotion service keeps it, in a table of its own. Read by: the fairness report
    (promotion rates per group and cycle; hr_admin, auditor), the criteria preview (hr_admin:
    eligible shares per group rounded to 0.1 and the four-fifths flag, for the version in force
    only and only at moves where every group has at least the minimum group size of eligible
    and of not eligible people), both naming groups, never people; and the person's access
    request (privacy_officer), which shows their own value.
    """

    event_type = "ProtectedAttributeRecorded"

    attribute: Key = Field(description="which attribute, e.g. 'sex' or 'ethnicity'")
    value: Annotated[str | None, PersonalOf("employee_id")] = Field(
        None,
        max_length=100,
        description="the group; None: withdrawn or not disclosed; sealed (docs/privacy.md)",
    )
