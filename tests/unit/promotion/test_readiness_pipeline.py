"""The readiness pipeline (docs/domain.md §6): per department and position, who of a
calibrated population is ready for the next level, who waits only on what a case brings, who
is not ready and what they miss most, with hand-computed counts.

The sample framework (tests/support/sample_frameworks.py) judges L2 -> L3 and L3 -> L4 on
coding, testing and the three core competencies; L4 is the top of the IC track. Scores are
given in that order: coding, testing, collaboration, ownership, communication. The criteria
in force are the defaults: average 3.5, floor 3, one whole quarter at level, endorsement and
calibration confirmation (no named evidence).
"""

from __future__ import annotations

from datetime import date

import pytest

from services.promotion.domain.criteria import Criteria, CriteriaSet
from services.promotion.domain.criteria_preview import (
    MOVED,
    NO_NEXT_LEVEL,
    NO_POSITION,
    NO_PROFILE,
)
from services.promotion.domain.readiness_pipeline import (
    InDepartment,
    PipelineRefused,
    PipelineRow,
    PipelineTally,
)
from tests.support.calibrated_population import FRAMEWORK, profiles, scored

AS_OF = date(2026, 3, 2)
LONG_AGO = date(2025, 1, 2)  # five whole quarters by AS_OF
LATELY = date(2026, 1, 15)  # no whole quarter yet
ALL_4 = (4.0, 4.0, 4.0, 4.0, 4.0)
WEAK = (2.5, 3.0, 3.0, 3.0, 3.0)  # average 2.9, coding below the floor
TESTING_LOW = (4.0, 2.5, 4.0, 4.0, 4.0)  # average 3.7, testing below the floor
DEFAULTS = CriteriaSet(version=1)
NO_CASE_NEEDED = CriteriaSet(
    version=2,
    default=Criteria(endorsement_required=False, calibration_confirmation_required=False),
)


def at(
    department: str,
    who: str,
    scores: tuple[float, ...],
    level: str | None = "L3",
    since: date | None = LONG_AGO,
    **where: object,
) -> InDepartment:
    """Someone calibrated at eng IC `level`, whom the org chart holds there today in
    `department` (unless `now` says where), their level begun `since`."""
    return InDepartment(department, scored(who, scores, level, **where), since)  # type: ignore[arg-type]


def tally(population: list[InDepartment], criteria: CriteriaSet = DEFAULTS) -> PipelineTally:
    counted = PipelineTally(criteria, FRAMEWORK, AS_OF)
    for entry in population:
        counted.add(entry, profiles())
    return counted


def row(
    department: str,
    level: str,
    counts: tuple[int, int, int, int],
    unmet: tuple[str, int] | None,
) -> PipelineRow:
    people, ready, awaiting, not_ready = counts
    return PipelineRow(
        department=department,
        family="eng",
        track="ic",
        level=level,
        to_level=f"L{int(level[1]) + 1}",
        people=people,
        ready=ready,
        awaiting_case=awaiting,
        not_ready=not_ready,
        most_common_unmet=unmet[0] if unmet else None,
        most_common_unmet_people=unmet[1] if unmet else None,
    )


# By hand, under the defaults (endorsement and confirmation only a case brings):
#   Platform L3: p1 all 4 since long ago          met from the record: awaiting a case
#                p2 all 4 since January           time at level (0 quarters): not ready
#                p3 all 4, level start unknown    time at level: not ready
#                p4 weak since long ago           average, floor coding: not ready
#                p5 testing 2.5 since long ago    floor testing: not ready
#     -> 5 people, 0 ready, 1 awaiting, 4 not ready; time at level missed by 2 (p2, p3),
#        every other criterion by 1.
#   Platform L2: p6 all 4 since long ago          awaiting a case
#   Insights L3: p7 weak since January            average, floor coding, time at level:
#     one each, so the first name in order, "average".
#   Left out: p8 (moved to L4 since), p9 (no position), p10 (L4: top of the track).
POPULATION = [
    at("Platform", "p1", ALL_4),
    at("Platform", "p2", ALL_4, since=LATELY),
    at("Platform", "p3", ALL_4, since=None),
    at("Platform", "p4", WEAK),
    at("Platform", "p5", TESTING_LOW),
    at("Platform", "p6", ALL_4, "L2"),
    at("Insights", "p7", WEAK, since=LATELY),
    at("Platform", "p8", ALL_4, now=("eng", "ic", "L4")),
    at("Platform", "p9", ALL_4, level=None, now=("eng", "ic", "L3")),
    at("Insights", "p10", ALL_4, "L4"),
]


def test_people_are_ready_awaiting_a_case_or_not_ready_with_what_they_miss_most() -> None:
    counted = tally(POPULATION)
    assert counted.rows() == [
        row("Insights", "L3", (1, 0, 0, 1), ("average", 1)),
        row("Platform", "L2", (1, 0, 1, 0), None),
        row("Platform", "L3", (5, 0, 1, 4), ("time_at_level", 2)),
    ]
    assert counted.left_out == {MOVED: 1, NO_POSITION: 1, NO_NEXT_LEVEL: 1}


def test_criteria_asking_nothing_of_a_case_find_people_ready() -> None:
    """With neither endorsement nor confirmation required, those who met everything judged
    from the record are ready: nothing is left for a case to show."""
    assert tally(POPULATION, NO_CASE_NEEDED).rows() == [
        row("Insights", "L3", (1, 0, 0, 1), ("average", 1)),
        row("Platform", "L2", (1, 1, 0, 0), None),
        row("Platform", "L3", (5, 1, 0, 4), ("time_at_level", 2)),
    ]


def test_named_evidence_is_awaited_from_a_case_and_time_at_level_is_not() -> None:
    """Scope evidence is case-only; no time at level asked, the recent start counts for
    nothing against anyone."""
    evidence = CriteriaSet(
        version=2,
        default=Criteria(
            quarters_at_next_level=0,
            evidence=("led a cross-team project",),
            endorsement_required=False,
            calibration_confirmation_required=False,
        ),
    )
    found = tally([at("Platform", "p1", ALL_4), at("Platform", "p2", ALL_4, since=LATELY)])
    assert found.rows() == [row("Platform", "L3", (2, 0, 1, 1), ("time_at_level", 1))]
    again = tally(
        [at("Platform", "p1", ALL_4), at("Platform", "p2", ALL_4, since=LATELY)], evidence
    )
    assert again.rows() == [row("Platform", "L3", (2, 0, 2, 0), None)]


def test_the_most_common_unmet_criterion_is_the_one_most_people_miss() -> None:
    """Each person counts once per criterion they miss, a competency's floor by its name."""
    found = tally(
        [
            at("Platform", "a", WEAK),  # average, floor coding
            at("Platform", "b", (2.0, 4.0, 4.0, 4.0, 4.0)),  # floor coding (average 3.6)
            at("Platform", "c", TESTING_LOW),  # floor testing
        ]
    )
    assert found.rows() == [row("Platform", "L3", (3, 0, 0, 3), ("competency_floor:coding", 2))]


def test_a_move_without_its_role_profile_is_left_out() -> None:
    counted = PipelineTally(DEFAULTS, FRAMEWORK, AS_OF)
    counted.add(at("Platform", "p1", ALL_4), {})
    assert (counted.rows(), counted.left_out) == ([], {NO_PROFILE: 1})


def test_scores_outside_the_criteria_scale_are_refused() -> None:
    on_one_to_five = CriteriaSet(version=2, scale="1..5")
    with pytest.raises(PipelineRefused, match="outside the scale"):
        tally([at("Platform", "p1", (0.0, 4.0, 4.0, 4.0, 4.0))], on_one_to_five)
