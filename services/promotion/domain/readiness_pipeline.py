"""The readiness pipeline (docs/domain.md §6, Readiness pipeline): HR's count, per department
and current position, of the people of the latest calibration who are ready for the next level
of their track under the criteria in force, who wait only on what a case brings, and who are
not ready, with the criterion the not-ready miss most often.

Who is judged, and on which move and competencies, is the criteria preview's choice
(`criteria_preview.judged_move`): the people the session scored whom the org chart holds in
the position they were calibrated in, at a position with a next level and its role profile.
The others are counted apart in `left_out`, by the preview's reasons. Leavers are not in the
population at all: the report is of everyone the org chart has active in a department, as
HR's other reports are.

Each person is judged by `readiness.evaluate`, as their own readiness would be before any
case, and sorted by what the results say:

- judged from the record: the calibrated average and the competency floor (the scores), and
  time at level (whole quarters from the level start the org chart has from the HRIS, on the
  day of the report): the service knows all three without a case;
- case-only: scope evidence, endorsement and calibration confirmation, which only a case
  brings, so before one they are unmet for everyone and say nothing of the person.

`ready`: every criterion met (only where the criteria in force ask for no case-only one);
`awaiting_case`: every criterion judged from the record met, a case-only one not;
`not_ready`: a criterion judged from the record unmet. Among the not ready, each unmet
criterion judged from the record counts once per person (a competency's floor by its own
name, `competency_floor:<key>`), and the most common is named with how many miss it (ties:
the first name in order).

The people are added one at a time (`PipelineTally.add`): memory grows with the cells
(departments x positions) and the criteria they miss, never with the population, so the
people may be streamed from the database however many there are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from libs.events.schemas.framework import EffectiveRoleProfile, Framework, TrackKind
from services.promotion.domain.criteria import CriteriaSet
from services.promotion.domain.criteria_preview import (
    JUDGED_HERE,
    Position,
    Scored,
    judged_move,
)
from services.promotion.domain.readiness import CriterionKind, HrisPosition, evaluate

# What the service knows of a person without a case: the scores and the HRIS's level start.
FROM_THE_RECORD: frozenset[CriterionKind] = JUDGED_HERE | {"time_at_level"}
CASE_ONLY: frozenset[CriterionKind] = frozenset(
    {"evidence", "endorsement", "calibration_confirmation"}
)


class PipelineRefused(ValueError):
    """The criteria in force cannot judge the population (scores outside their scale)."""


@dataclass(frozen=True, slots=True)
class InDepartment:
    """One person of the calibrated population, where the org chart has them today."""

    department: str
    person: Scored
    level_since: date | None  # the org chart's level start; None: unknown


class PipelineRow(BaseModel):
    """One department and current position: the people judged for its next level."""

    model_config = ConfigDict(frozen=True)

    department: str
    family: str
    track: TrackKind
    level: str
    to_level: str
    people: int
    ready: int
    awaiting_case: int
    not_ready: int
    most_common_unmet: str | None = Field(
        description="among the not ready, the criterion judged from the record that most of "
        "them miss; null when nobody is not ready"
    )
    most_common_unmet_people: int | None = Field(description="how many of them miss it")


@dataclass(slots=True)
class _Cell:
    to_level: str
    people: int = 0
    ready: int = 0
    awaiting_case: int = 0
    not_ready: int = 0
    unmet: Counter[str] = field(default_factory=Counter)


class PipelineTally:
    """Cells built up person by person (`add`), read once everyone is in (`rows`)."""

    def __init__(self, criteria: CriteriaSet, framework: Framework, as_of: date) -> None:
        self.criteria = criteria
        self.framework = framework
        self.as_of = as_of
        self.left_out: Counter[str] = Counter()
        self._cells: dict[tuple[str, str, TrackKind, str], _Cell] = {}

    def add(self, entry: InDepartment, profiles: Mapping[Position, EffectiveRoleProfile]) -> None:
        """Judge one person; `profiles` holds the role profiles of their next level
        (`criteria_preview.targets`)."""
        move = judged_move(self.framework, entry.person, profiles)
        if isinstance(move, str):
            self.left_out[move] += 1
            return
        transition, required = move
        # Judged only when the org chart holds them where they were calibrated: `now` is it.
        family, track, level = entry.person.now or ("", "", "")
        try:
            readiness = evaluate(
                self.criteria,
                transition,
                entry.person.scores,
                required_competencies=required,
                as_of=self.as_of,
                hris_position=HrisPosition(family=family, track=track, level=level),
                level_since=entry.level_since,
            )
        except ValueError as error:
            raise PipelineRefused(str(error)) from None
        key = (entry.department, transition.family, transition.from_track, transition.from_level)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = _Cell(to_level=transition.to_level)
        cell.people += 1
        missed = [r.name for r in readiness.unmet if r.kind in FROM_THE_RECORD]
        if readiness.ready:
            cell.ready += 1
        elif not missed:
            cell.awaiting_case += 1
        else:
            cell.not_ready += 1
            cell.unmet.update(missed)

    def rows(self) -> list[PipelineRow]:
        """By department, then family, track and level."""
        rows = []
        for (department, family, track, level), cell in sorted(self._cells.items()):
            # Most missed first; among as many, the first name in order.
            top = min(cell.unmet.items(), key=lambda item: (-item[1], item[0]), default=None)
            rows.append(
                PipelineRow(
                    department=department,
                    family=family,
                    track=track,
                    level=level,
                    to_level=cell.to_level,
                    people=cell.people,
                    ready=cell.ready,
                    awaiting_case=cell.awaiting_case,
                    not_ready=cell.not_ready,
                    most_common_unmet=top[0] if top else None,
                    most_common_unmet_people=top[1] if top else None,
                )
            )
        return rows
