"""People as the org chart knows them (docs/domain.md §3: manager and direct reports come from the
HRIS). Services keep a copy (libs.replicas.org_chart); the HRIS owns the facts. Pure, so that
domain code may use it."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from libs.privacy.records import PersonalDataSection


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
        "HRIS; None while it is unknown: no hiring or role change of the person has arrived, "
        "an earlier event of theirs has not arrived yet, or the day was not kept "
        "(`level_start`)",
    )

    @property
    def active(self) -> bool:
        """Hired (the hiring has arrived) and not gone."""
        return self.hired_on is not None and self.left_on is None


class RoleFact(BaseModel):
    """One hiring or role change of a person, as the HRIS sent it: the `stream_version`-th
    event of their stream, the position it names and the day it took effect (None for a
    position held before the org chart kept those days: only a hiring's is known then)."""

    model_config = ConfigDict(frozen=True)

    stream_version: int
    effective_on: date | None
    job_family: str
    track: str
    level: str

    @property
    def position(self) -> tuple[str, str, str]:
        """What a level start counts from: a department move keeps the level it began."""
        return (self.job_family, self.track, self.level)


def level_start(facts: Sequence[RoleFact], seen: Collection[int]) -> date | None:
    """The day the position of the newest fact began (docs/domain.md §6, Readiness), or None
    when the facts at hand cannot show it.

    The run of facts in that position, walking down the stream from the newest, starts where
    the event before it is a fact in another position, or where the stream starts (the
    hiring, version 1). The walk steps over the versions `seen` that are no role fact (a
    manager change, a leaving); a version not seen stops it with None: that event may be a
    role fact in the same position, which would start the run earlier. So whatever order the
    events arrive in, the answer is the right day or None until the missing event arrives,
    never a wrong day. A run starting at a fact whose day is unknown gives None too.
    """
    if not facts:
        return None
    by_version = {f.stream_version: f for f in facts}
    start = by_version[max(by_version)]
    version = start.stream_version - 1
    while version > 0:
        fact = by_version.get(version)
        if fact is not None:
            if fact.position != start.position:
                break
            start = fact
        elif version not in seen:
            return None
        version -= 1
    return start.effective_on


def position_history_section(facts: Sequence[RoleFact]) -> PersonalDataSection:
    """The person's role facts as an access request gives them (docs/privacy.md, Requests),
    alike in every service that keeps the org chart."""
    return PersonalDataSection(
        topic="position history",
        description="each hiring and role change the HRIS sent, in the order of its events: "
        "job family, track and level and the day it took effect (unknown for a position held "
        "before those days were kept), from which the start of the current level is found; "
        "kept like the position, which erasure keeps too: no name or text",
        items=[f.model_dump(mode="json") for f in facts],
    )
