"""What a service holds about a person, as it answers an access request (docs/privacy.md,
Requests). Plain models: a service's application layer builds them without HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field


class PersonalDataSection(BaseModel):
    """One kind of data a service holds about the person, e.g. "ratings received".

    Items are plain JSON objects, each self-explanatory (dates, ids of campaigns, cases and
    plans, the text). Nothing in them names a rater of the person: ratings and comments
    they received are given as their results show them, grouped and anonymous. What is held
    but not given (a group too small to stay anonymous) is said in `withheld`, with why.
    """

    model_config = ConfigDict(frozen=True)

    topic: str = Field(description="what this is, e.g. 'ratings received'")
    description: str = Field("", description="what it is for and how long it is kept")
    items: list[dict[str, Any]] = Field(default_factory=list)
    withheld: list[str] = Field(
        default_factory=list, description="what is held but not given, and why"
    )


class ServiceRecords(BaseModel):
    """Everything one service holds about the person."""

    model_config = ConfigDict(frozen=True)

    service: str
    employee_id: str
    sections: list[PersonalDataSection] = Field(default_factory=list)


class PersonalDataExport(BaseModel):
    """The answer to an access request: every service's records of the person."""

    model_config = ConfigDict(frozen=True)

    employee_id: str
    generated_at: datetime
    requested_by: str
    services: list[ServiceRecords]
    missing: list[str] = Field(
        default_factory=list, description="services that did not answer, and why"
    )

    def summary(self) -> list[str]:
        """The export as lines a person reads: per service, each topic and how many items."""
        lines = [f"Personal data held about {self.employee_id} on {self.generated_at:%Y-%m-%d}"]
        for records in self.services:
            lines.append(f"{records.service}:")
            if not records.sections:
                lines.append("  nothing")
            for section in records.sections:
                lines.append(f"  {section.topic}: {len(section.items)} item(s)")
                lines += [f"    withheld: {why}" for why in section.withheld]
        lines += [f"not answered: {why}" for why in self.missing]
        return lines


class PersonalDataHolder(Protocol):
    """The port a service's application implements to answer requests about a person."""

    async def records_of(self, employee_id: str) -> list[PersonalDataSection]:
        """Everything the service holds about the person (never who rated them)."""
        ...

    async def erase(self, employee_id: str, request_ref: str, actor: str) -> dict[str, int]:
        """Erase what the service holds of the person, beyond what its sealed events lose
        with the person's keys; return how much of each kind. Idempotent: a repeat finds
        it done. Everything in one transaction."""
        ...
