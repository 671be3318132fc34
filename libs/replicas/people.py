"""People as the org chart knows them (docs/domain.md §3: manager and direct reports come from the
HRIS). Services keep a copy (libs.replicas.org_chart); the HRIS owns the facts. Pure, so that
domain code may use it."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class Person(BaseModel):
    model_config = ConfigDict(frozen=True)

    employee_id: str
    name: str | None
    department: str | None
    job_family: str | None
    track: str | None
    level: str | None
    manager_id: str | None
    hired_on: date | None
    left_on: date | None
    level_since: date | None = Field(
        None,
        description="the day the current level (job family, track and level) began in the "
        "HRIS; None while no hiring or role change of the person has arrived",
    )

    @property
    def active(self) -> bool:
        """Hired (the hiring has arrived) and not gone."""
        return self.hired_on is not None and self.left_on is None
