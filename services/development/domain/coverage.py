"""Catalog coverage (docs/domain.md §5): which gaps have matching training in the L&D catalog and
which need a new programme, before anyone buys new content.

Only open gaps count (observed and below target): a gap nobody observed is no reason to buy
anything, and a met target needs no training. A course matches a gap when it is not retired
and one of the competencies it builds is the gap's, starting at or below the person's
calibrated level and taking them above it (`covers`). That is coverage only: which matching
course a plan then prefers is the plan's business.

Because course levels are whole numbers, whether a course entry covers a score depends only on
the score rounded down. The catalog is therefore indexed once per (competency, whole level),
and each gap costs a dictionary lookup however many courses there are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from libs.events.schemas.lms import Course, CourseCompetency
from services.development.domain.gaps import Gap


class DuplicateGap(ValueError):
    """One person has two open gaps on one competency: the input mixes gap lists.

    `gaps()` gives one gap per requirement, so one person's list never does this; counting
    both would count the person twice.
    """

    def __init__(self, person: str, competency: str) -> None:
        super().__init__(f"{person!r} has more than one open gap on {competency!r}")


def covers(built: CourseCompetency, gap: Gap) -> bool:
    """The course entry builds the gap's competency from at or below the person's calibrated
    level to above it. A gap nobody observed is covered by nothing: its level is unknown.
    Retirement is the course's, not the entry's: see `matches`."""
    current = gap.current
    return (
        current is not None
        and built.competency == gap.competency
        and built.from_level <= current < built.to_level
    )


def matches(course: Course, gap: Gap) -> bool:
    """The course is still offered and one of the competencies it builds covers the gap."""
    return not course.retired and any(covers(built, gap) for built in course.builds)


@dataclass(frozen=True, slots=True)
class UncoveredRange:
    """Open gaps on one competency and level span that no course in the catalog matches."""

    competency: str
    from_level: int
    to_level: int
    # How many open gaps in this span have no matching course.
    gaps: int


@dataclass(frozen=True, slots=True)
class CompetencyCoverage:
    """Coverage of one competency's open gaps within one population."""

    # None: the whole population (no grouping), or people the grouping does not place.
    population: str | None
    competency: str
    # People with an open gap on the competency (one gap each).
    people: int
    total_gap: float
    mean_gap: float
    # Gaps with at least one matching course.
    covered: int
    # Every course matching at least one of the gaps, sorted.
    courses: tuple[str, ...]
    # At least one gap has no matching course.
    needs_new_programme: bool
    # The spans of the gaps without a matching course, sorted by span.
    uncovered: tuple[UncoveredRange, ...]


@dataclass(frozen=True, slots=True)
class CoverageReport:
    # Sorted by population (None first), then competency.
    rows: tuple[CompetencyCoverage, ...]
    # The uncovered spans over all populations, sorted by competency and span: what a new
    # programme would have to build.
    uncovered: tuple[UncoveredRange, ...]


class _CatalogIndex:
    """Course ids per competency and whole level, for the courses still offered."""

    __slots__ = ("_by_level",)

    def __init__(self, catalog: Iterable[Course]) -> None:
        # The catalog arrives as upserts by course id: a course listed twice counts as its
        # last listing, so a later `retired: true` withdraws it.
        latest = {course.course_id: course for course in catalog}
        by_level: dict[tuple[str, int], set[str]] = {}
        for course in latest.values():
            if course.retired:
                continue
            for built in course.builds:
                # covers() holds for a score s exactly when from_level <= floor(s) < to_level.
                for level in range(built.from_level, built.to_level):
                    by_level.setdefault((built.competency, level), set()).add(course.course_id)
        self._by_level = by_level

    def courses(self, competency: str, level: int) -> set[str]:
        """Courses covering any score in [level, level + 1) on the competency."""
        return self._by_level.get((competency, level), set())


class _Cell:
    """Running totals of one (population, competency)."""

    __slots__ = ("people", "spans", "total")

    def __init__(self) -> None:
        self.people: set[str] = set()
        self.total = 0.0
        # Gaps per (current level rounded down, target).
        self.spans: dict[tuple[int, int], int] = {}


def coverage(
    open_gaps: Mapping[str, Iterable[Gap]],
    catalog: Iterable[Course],
    populations: Mapping[str, str | None] | None = None,
) -> CoverageReport:
    """The coverage report of the open gaps by the catalog, per population and competency.

    `open_gaps` are the gaps per person (from `gaps()`); gaps that are not open are skipped.
    `populations` places people in populations (a department name per person, say); None
    reports the whole population as one. Raises DuplicateGap when a person has two open
    gaps on one competency.
    """
    index = _CatalogIndex(catalog)
    cells: dict[tuple[str | None, str], _Cell] = {}
    for person, person_gaps in open_gaps.items():
        population = populations.get(person) if populations is not None else None
        for gap in person_gaps:
            current = gap.current
            if current is None or current >= gap.target:  # not open (Gap.open), kept typed
                continue
            key = (population, gap.competency)
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = _Cell()
            if person in cell.people:
                raise DuplicateGap(person, gap.competency)
            cell.people.add(person)
            cell.total += gap.target - current
            # The span a programme for this gap would build: from the calibrated level rounded
            # down (a course starting there covers the score) to the target.
            span = (math.floor(current), gap.target)
            cell.spans[span] = cell.spans.get(span, 0) + 1

    rows: list[CompetencyCoverage] = []
    uncovered_overall: dict[tuple[str, int, int], int] = {}
    for (population, competency), cell in sorted(cells.items(), key=_cell_order):
        matched: set[str] = set()
        covered = 0
        uncovered: list[UncoveredRange] = []
        for (level, target), count in sorted(cell.spans.items()):
            courses = index.courses(competency, level)
            if courses:
                matched |= courses
                covered += count
            else:
                uncovered.append(UncoveredRange(competency, level, target, count))
                overall_key = (competency, level, target)
                uncovered_overall[overall_key] = uncovered_overall.get(overall_key, 0) + count
        people = len(cell.people)
        rows.append(
            CompetencyCoverage(
                population=population,
                competency=competency,
                people=people,
                total_gap=cell.total,
                mean_gap=cell.total / people,
                covered=covered,
                courses=tuple(sorted(matched)),
                needs_new_programme=covered < people,
                uncovered=tuple(uncovered),
            )
        )
    return CoverageReport(
        rows=tuple(rows),
        uncovered=tuple(
            UncoveredRange(competency, level, target, count)
            for (competency, level, target), count in sorted(uncovered_overall.items())
        ),
    )


def _cell_order(item: tuple[tuple[str | None, str], _Cell]) -> tuple[bool, str, str]:
    (population, competency), _ = item
    return (population is not None, population or "", competency)
