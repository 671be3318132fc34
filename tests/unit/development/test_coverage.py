"""Catalog coverage (docs/domain.md §5: "which gaps have matching training and which need a new
programme, before anyone buys new content"): open gaps per population and competency against
the L&D catalog, matched on competency and level."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from libs.events.schemas.lms import Course, CourseCompetency
from services.development.domain.coverage import (
    CompetencyCoverage,
    CoverageReport,
    DuplicateGap,
    UncoveredRange,
    coverage,
    covers,
    matches,
)
from services.development.domain.gaps import Gap


def course(course_id: str, *builds: tuple[str, int, int], retired: bool = False) -> Course:
    return Course(
        course_id=course_id,
        title=f"Course {course_id}",
        format="online",
        duration_hours=4,
        builds=[CourseCompetency(competency=c, from_level=f, to_level=t) for c, f, t in builds],
        retired=retired,
    )


def gap(competency: str, target: int, current: float | None) -> Gap:
    return Gap(competency=competency, nature="technical", target=target, current=current)


def row(report: CoverageReport, population: str | None, competency: str) -> CompetencyCoverage:
    found = [r for r in report.rows if (r.population, r.competency) == (population, competency)]
    assert len(found) == 1
    return found[0]


# -- matching one course entry to one gap ----------------------------------------------------


@pytest.mark.parametrize(
    ("from_level", "to_level", "current", "expected"),
    [
        (2, 3, 2.0, True),  # starts exactly where the person is
        (2, 3, 2.5, True),  # takes them above their score
        (1, 4, 2.5, True),  # a wider course overlaps too
        (1, 2, 2.0, False),  # ends where the person already is: nothing to learn
        (3, 4, 2.9, False),  # starts above the person: a prerequisite they lack
        (0, 1, 0.0, True),
    ],
)
def test_a_course_covers_a_gap_it_starts_at_or_below_and_ends_above(
    from_level: int, to_level: int, current: float, expected: bool
) -> None:
    """docs/domain.md §5: training is matched to the competency and the level of the gap."""
    built = CourseCompetency(competency="testing", from_level=from_level, to_level=to_level)
    assert covers(built, gap("testing", 4, current)) is expected


def test_another_competency_an_unobserved_gap_or_a_retired_course_never_match() -> None:
    built = CourseCompetency(competency="testing", from_level=1, to_level=4)
    assert not covers(built, gap("coding", 4, 2.0))
    assert not covers(built, gap("testing", 4, None))  # level unknown
    assert matches(course("t", ("coding", 0, 1), ("testing", 1, 4)), gap("testing", 4, 2.0))
    assert not matches(course("t", ("testing", 1, 4), retired=True), gap("testing", 4, 2.0))


# -- the report --------------------------------------------------------------------------------

CATALOG = [
    course("tst-101", ("testing", 1, 3)),
    course("tst-201", ("testing", 2, 4)),
    course("tst-old", ("testing", 0, 5), retired=True),
    course("com-101", ("communication", 0, 2), ("collaboration", 1, 2)),
]
GAPS = {
    "ann": [gap("testing", 3, 1.5), gap("communication", 3, 2.5), gap("coding", 3, 3.5)],
    "bob": [gap("testing", 4, 2.0), gap("communication", 3, 1.0)],
    "cid": [gap("testing", 4, 0.5), gap("communication", 2, None)],
    "dee": [gap("testing", 3, 2.5), gap("communication", 4, 2.0)],
}
DEPARTMENTS = {"ann": "eng", "bob": "eng", "cid": "eng", "dee": "sales"}


def test_the_whole_population_hand_computed() -> None:
    """Only open gaps count: ann exceeds coding and nobody observed cid's communication.

    testing (score, target): ann 1.5/3 (tst-101 only: tst-201 starts at 2), bob 2.0/4 (both),
    cid 0.5/4 (none: tst-101 starts at 1 and tst-old is retired), dee 2.5/3 (both).
    communication: ann 2.5/3 (none: com-101 stops at 2), bob 1.0/3 (com-101), dee 2.0/4
    (none: com-101 stops where dee already is).
    """
    report = coverage(GAPS, CATALOG)
    assert report.rows == (
        CompetencyCoverage(
            population=None,
            competency="communication",
            people=3,
            total_gap=4.5,
            mean_gap=1.5,
            covered=1,
            courses=("com-101",),
            needs_new_programme=True,
            uncovered=(
                UncoveredRange("communication", 2, 3, 1),
                UncoveredRange("communication", 2, 4, 1),
            ),
        ),
        CompetencyCoverage(
            population=None,
            competency="testing",
            people=4,
            total_gap=1.5 + 2.0 + 3.5 + 0.5,  # ann, bob, cid, dee
            mean_gap=7.5 / 4,
            covered=3,
            courses=("tst-101", "tst-201"),
            needs_new_programme=True,
            uncovered=(UncoveredRange("testing", 0, 4, 1),),
        ),
    )
    assert report.uncovered == (
        UncoveredRange("communication", 2, 3, 1),
        UncoveredRange("communication", 2, 4, 1),
        UncoveredRange("testing", 0, 4, 1),
    )


def test_per_department_and_the_uncovered_spans_summed_over_departments() -> None:
    report = coverage(GAPS, CATALOG, populations=DEPARTMENTS)
    assert [(r.population, r.competency) for r in report.rows] == [
        ("eng", "communication"),
        ("eng", "testing"),
        ("sales", "communication"),
        ("sales", "testing"),
    ]
    sales_testing = row(report, "sales", "testing")
    assert (sales_testing.people, sales_testing.covered, sales_testing.needs_new_programme) == (
        1,
        1,
        False,
    )
    assert sales_testing.courses == ("tst-101", "tst-201")  # dee's 2.5 is below both ends
    eng_testing = row(report, "eng", "testing")
    assert (eng_testing.people, eng_testing.covered, eng_testing.courses) == (
        3,
        2,
        ("tst-101", "tst-201"),
    )
    assert eng_testing.total_gap == pytest.approx(1.5 + 2.0 + 3.5)
    # ann's and dee's communication gaps both start at level 2, towards targets 3 and 4.
    assert report.uncovered == (
        UncoveredRange("communication", 2, 3, 1),
        UncoveredRange("communication", 2, 4, 1),
        UncoveredRange("testing", 0, 4, 1),
    )


def test_people_the_grouping_does_not_place_are_reported_without_a_population() -> None:
    report = coverage(GAPS, CATALOG, populations={"ann": "eng"})
    assert sorted({r.population or "-" for r in report.rows}) == ["-", "eng"]
    assert report.rows[0].population is None  # unplaced first
    assert row(report, None, "testing").people == 3


def test_a_fully_covered_competency_needs_no_new_programme() -> None:
    report = coverage({"ann": [gap("testing", 3, 2.0)], "bob": [gap("testing", 3, 1.0)]}, CATALOG)
    (only,) = report.rows
    assert (only.covered, only.needs_new_programme, only.uncovered) == (2, False, ())
    assert report.uncovered == ()


def test_the_catalog_is_upserted_by_course_id_so_a_later_retirement_withdraws_a_course() -> None:
    offered = course("tst-101", ("testing", 1, 3))
    withdrawn = course("tst-101", ("testing", 1, 3), retired=True)
    gaps_ = {"ann": [gap("testing", 3, 2.0)]}
    assert coverage(gaps_, [offered]).rows[0].covered == 1
    assert coverage(gaps_, [offered, withdrawn]).rows[0].covered == 0
    assert coverage(gaps_, [withdrawn, offered]).rows[0].covered == 1


def test_nothing_open_gives_an_empty_report() -> None:
    assert coverage({"ann": [gap("testing", 3, 3.0)], "bob": []}, CATALOG) == CoverageReport(
        rows=(), uncovered=()
    )


def test_two_open_gaps_of_one_person_on_one_competency_are_refused() -> None:
    with pytest.raises(DuplicateGap, match="ann"):
        coverage({"ann": [gap("testing", 3, 2.0), gap("testing", 4, 2.0)]}, CATALOG)


# -- the index agrees with the definition ----------------------------------------------------

LEVELS = st.integers(min_value=0, max_value=5)
BUILDS = st.tuples(st.sampled_from(["a", "b"]), LEVELS, LEVELS).filter(lambda b: b[1] < b[2])


@settings(max_examples=200, deadline=None)
@given(
    catalog=st.lists(
        st.tuples(st.lists(BUILDS, min_size=1, max_size=3), st.booleans()), max_size=6
    ),
    scores=st.lists(
        st.tuples(st.sampled_from(["a", "b"]), LEVELS, st.floats(min_value=0, max_value=5)),
        max_size=6,
    ),
)
def test_the_report_agrees_with_matching_each_gap_against_each_course(
    catalog: list[tuple[list[tuple[str, int, int]], bool]],
    scores: list[tuple[str, int, float]],
) -> None:
    courses = [
        course(f"c{i}", *builds, retired=retired) for i, (builds, retired) in enumerate(catalog)
    ]
    gaps_ = {f"p{i}": [gap(c, target, current)] for i, (c, target, current) in enumerate(scores)}
    report = coverage(gaps_, courses)
    for r in report.rows:
        open_ = [
            g
            for person in gaps_.values()
            for g in person
            if g.open and g.competency == r.competency
        ]
        matching = [{c.course_id for c in courses if matches(c, g)} for g in open_]
        assert r.people == len(open_)
        assert r.covered == sum(1 for m in matching if m)
        assert r.courses == tuple(sorted(set().union(*matching)))
        assert r.needs_new_programme == (not all(matching))
        unmatched = [g for g, m in zip(open_, matching, strict=True) if not m]
        for u in r.uncovered:
            in_span = [
                g
                for g in unmatched
                if (math.floor(g.current or 0), g.target) == (u.from_level, u.to_level)
            ]
            assert u.gaps == len(in_span) > 0
        assert sum(u.gaps for u in r.uncovered) == len(unmatched)
    assert sum(r.people for r in report.rows) == sum(1 for p in gaps_.values() for g in p if g.open)


# -- scale -------------------------------------------------------------------------------------


def test_coverage_of_ten_thousand_people_by_two_thousand_courses_counts_every_gap() -> None:
    competencies = [f"comp-{c}" for c in range(10)]
    catalog = [
        course(
            f"course-{i:04d}",
            (competencies[i % 10], i % 4, i % 4 + 1 + i % 2),
            (competencies[(i * 7) % 10], 0, 2),
        )
        for i in range(2_000)
    ]
    # Scores cycle over 0.0..4.9 in tenths against target 5: some gaps at level 4 stay
    # uncovered, since no course above reaches level 5 from 4.
    gaps_ = {
        f"emp-{p:05d}": [gap(c, 5, ((p + k) % 50) / 10) for k, c in enumerate(competencies)]
        for p in range(10_000)
    }
    departments = {person: f"dept-{int(person[4:]) % 20}" for person in gaps_}
    report = coverage(gaps_, catalog, populations=departments)
    assert len(report.rows) == 20 * 10
    assert sum(r.people for r in report.rows) == 100_000
