"""Re-assessment (docs/domain.md §5): the next cycle measures whether gaps closed. The metric is
score movement between cycles, not completion. A course whose completers did not move on its
competency is flagged as not working.

`movements` compares two cycles' calibrated scores; `course_effectiveness` compares, per course
and competency it builds, the movement of the people who completed it with the movement of the
others who had the same gap. Not-observed scores (None) are left out everywhere: a competency
nobody observed in one of the cycles did not move and did not stay put, it is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from libs.events.schemas.assessment import competency_of
from libs.events.schemas.lms import Course
from services.development.domain.gaps import Gap

DEFAULT_MIN_MOVEMENT = 0.25
"""How far above the comparison group a course's completers must move, in scale points.

Calibrated scores are means of whole-number ratings from a handful of raters, so a new rater
or one rater seeing things differently shifts a score by a fraction of a point with no change
in the person: a quarter point is one rater in four moving one level, about the smallest
movement that is not rater noise. Measuring against the others with the same gap, rather than
against zero, takes out what moved everyone (on-the-job actions, mentoring, a more lenient
cycle), so the course is credited only with what its completers moved beyond that.
"""

# Float sums of many scores carry rounding error of the order of 1e-15; without a tolerance a
# movement exactly at the threshold could land on either side of it.
_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Movement:
    """One person's calibrated score on one competency in two successive cycles."""

    person: str
    competency: str
    before: float
    after: float
    # target - score in each cycle, when the targets were given.
    gap_before: float | None = None
    gap_after: float | None = None

    @property
    def movement(self) -> float:
        """after - before: positive is progress."""
        return self.after - self.before

    @property
    def closed(self) -> bool | None:
        """The gap was open before and is not any more; None without a target or an open gap
        before (nothing to close)."""
        if self.gap_before is None or self.gap_after is None or self.gap_before <= 0:
            return None
        return self.gap_after <= 0


def movements(
    before: Mapping[str, Mapping[str, float | None]],
    after: Mapping[str, Mapping[str, float | None]],
    targets: Mapping[str, Mapping[str, int]] | None = None,
) -> list[Movement]:
    """Per person and competency with an observed score in both cycles: the movement.

    `before` and `after` are calibrated scores per person and competency; sub-skill scores
    beside them are left out, so that a competency counts once however many sub-skills it
    has (its score is their roll-up, docs/domain.md §4). `targets` (per
    person and competency, usually the earlier cycle's role profile targets) add the gap in
    each cycle, measured against the same target so that a promotion in between does not
    read as a gap reopening. Sorted by person, then competency.
    """
    found: list[Movement] = []
    for person in sorted(before.keys() & after.keys()):
        earlier, later = before[person], after[person]
        person_targets = targets.get(person, {}) if targets is not None else {}
        for competency in sorted(earlier.keys() & later.keys()):
            if competency_of(competency) != competency:
                continue  # a sub-skill's score: its competency's rolled-up score moves for it
            score_before, score_after = earlier[competency], later[competency]
            if score_before is None or score_after is None:
                continue
            target = person_targets.get(competency)
            found.append(
                Movement(
                    person=person,
                    competency=competency,
                    before=score_before,
                    after=score_after,
                    gap_before=None if target is None else target - score_before,
                    gap_after=None if target is None else target - score_after,
                )
            )
    return found


@dataclass(frozen=True, slots=True)
class CourseEffect:
    """How the people who completed a course moved on one competency it builds, against the
    others who had an open gap on it in the earlier cycle."""

    course_id: str
    competency: str
    # Completed the course and had an open gap on the competency in the earlier cycle.
    completers: int
    # Of them, those with a movement (observed in both cycles): the mean is over these.
    completers_measured: int
    completer_mean: float | None
    # Had an open gap on the competency and did not complete the course.
    comparison: int
    comparison_measured: int
    comparison_mean: float | None
    # None when no completer has a movement: nothing to judge the course by.
    working: bool | None

    @property
    def effect(self) -> float | None:
        """The completers' mean movement above the baseline: the comparison group's mean, or
        0 when nobody in it was measured."""
        if self.completer_mean is None:
            return None
        return self.completer_mean - (self.comparison_mean or 0.0)


def course_effectiveness(
    movements: Iterable[Movement],
    open_gaps_before: Mapping[str, Iterable[Gap]],
    completions: Iterable[tuple[str, str]],
    catalog: Iterable[Course],
    min_movement: float = DEFAULT_MIN_MOVEMENT,
) -> list[CourseEffect]:
    """Per course of the catalog and competency it builds: is it working?

    - `movements`: the movements between the two cycles (`movements`);
    - `open_gaps_before`: each person's gaps in the earlier cycle; only open ones count;
    - `completions`: (person, course id) for the courses completed between the cycles; a
      course missing from `catalog` is skipped, since what it builds is unknown;
    - `catalog`: the courses, retired ones included (they may have been completed before
      they were withdrawn); a course listed twice counts as its last listing.

    A course is working on a competency when its completers' mean movement is at least
    `min_movement` above the comparison group's mean, or above 0 when no one in that group
    was measured (see DEFAULT_MIN_MOVEMENT for why). The comparison group is everyone else
    with the same open gap, whatever else they did (other courses on the competency
    included): a course must beat the cohort's other routes, not only doing nothing.
    Sorted by course id, then competency.
    """
    movement_of = {(m.person, m.competency): m.movement for m in movements}
    cohorts: dict[str, set[str]] = {}
    for person, person_gaps in open_gaps_before.items():
        for gap in person_gaps:
            if gap.open:
                cohorts.setdefault(gap.competency, set()).add(person)
    completed_by: dict[str, set[str]] = {}
    for person, course_id in completions:
        completed_by.setdefault(course_id, set()).add(person)

    # Each cohort's movement totals, once: the comparison group's are the cohort's minus the
    # completers', which keeps the cost per course to its completers.
    cohort_totals = {
        competency: _total(movement_of, people, competency)
        for competency, people in cohorts.items()
    }
    courses = {course.course_id: course for course in catalog}
    effects: list[CourseEffect] = []
    for course_id in sorted(courses):
        takers = completed_by.get(course_id, set())
        for competency in sorted({built.competency for built in courses[course_id].builds}):
            cohort = cohorts.get(competency, set())
            completers = takers & cohort
            completer_sum, completer_n = _total(movement_of, completers, competency)
            cohort_sum, cohort_n = cohort_totals.get(competency, (0.0, 0))
            comparison_n = cohort_n - completer_n
            completer_mean = completer_sum / completer_n if completer_n else None
            comparison_mean = (cohort_sum - completer_sum) / comparison_n if comparison_n else None
            working = (
                None
                if completer_mean is None
                else completer_mean - (comparison_mean or 0.0) >= min_movement - _TOLERANCE
            )
            effects.append(
                CourseEffect(
                    course_id=course_id,
                    competency=competency,
                    completers=len(completers),
                    completers_measured=completer_n,
                    completer_mean=completer_mean,
                    comparison=len(cohort) - len(completers),
                    comparison_measured=comparison_n,
                    comparison_mean=comparison_mean,
                    working=working,
                )
            )
    return effects


def _total(
    movement_of: Mapping[tuple[str, str], float], people: Iterable[str], competency: str
) -> tuple[float, int]:
    """Sum and count of the movements of `people` on `competency`, the unmeasured left out.
    fsum: exact to the last bit, so that subtracting totals loses as little as possible."""
    found = [
        movement
        for person in people
        if (movement := movement_of.get((person, competency))) is not None
    ]
    return math.fsum(found), len(found)
