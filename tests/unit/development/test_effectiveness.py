"""Re-assessment (docs/domain.md §5: "the next cycle measures whether gaps closed. The metric is
score movement between cycles, not completion. A course whose completers did not move on its
competency is flagged as not working")."""

from __future__ import annotations

from datetime import date

import pytest

from libs.events.schemas.lms import Course, CourseCompetency, CourseCompleted
from services.development.domain.effectiveness import (
    DEFAULT_MIN_MOVEMENT,
    CourseEffect,
    Movement,
    course_effectiveness,
    movements,
)
from services.development.domain.gaps import Gap


def course(course_id: str, *competencies: str) -> Course:
    return Course(
        course_id=course_id,
        title=f"Course {course_id}",
        format="workshop",
        duration_hours=8,
        builds=[CourseCompetency(competency=c, from_level=1, to_level=3) for c in competencies],
    )


def gap(competency: str, current: float | None, target: int = 4) -> Gap:
    return Gap(competency=competency, nature="technical", target=target, current=current)


def effect_of(effects: list[CourseEffect], course_id: str, competency: str) -> CourseEffect:
    (found,) = [e for e in effects if (e.course_id, e.competency) == (course_id, competency)]
    return found


# -- movements -------------------------------------------------------------------------------


def test_movements_between_two_cycles_leave_out_what_was_not_observed_in_either() -> None:
    """The metric is score movement (docs/domain.md §5); a score nobody observed in one cycle is
    unknown, not a movement to or from zero."""
    before = {
        "ann": {"testing": 2.0, "coding": None, "design": 3.0, "communication": 2.5},
        "bob": {"testing": 3.5},
        "cid": {"testing": 1.0},  # not assessed in the later cycle at all
    }
    after = {
        "bob": {"testing": 3.0},
        "ann": {"testing": 3.25, "coding": 3.0, "design": None, "communication": 2.5},
        "dee": {"testing": 2.0},  # new: nothing to compare with
    }
    found = movements(before, after)
    assert found == [
        Movement("ann", "communication", 2.5, 2.5),
        Movement("ann", "testing", 2.0, 3.25),
        Movement("bob", "testing", 3.5, 3.0),
    ]
    assert [m.movement for m in found] == [0.0, 1.25, -0.5]
    assert all(m.closed is None for m in found)  # no targets given


def test_a_competency_assessed_per_sub_skill_moves_once_on_its_rolled_up_score() -> None:
    before = {"ann": {"coding": 2.0, "coding/review": 2.0, "coding/style": 2.0}}
    after = {"ann": {"coding": 3.0, "coding/review": 3.0, "coding/style": 3.0}}
    assert movements(before, after) == [Movement("ann", "coding", 2.0, 3.0)]


def test_with_targets_movements_say_whether_the_gap_closed() -> None:
    before = {"ann": {"testing": 2.0, "coding": 2.5, "design": 3.0, "ops": 4.5}, "bob": {"x": 1.0}}
    after = {"ann": {"testing": 3.0, "coding": 3.5, "design": 3.5, "ops": 4.0}, "bob": {"x": 2.0}}
    targets = {"ann": {"testing": 3, "coding": 4, "ops": 4}}
    by_competency = {m.competency: m for m in movements(before, after, targets)}
    assert (by_competency["testing"].gap_before, by_competency["testing"].gap_after) == (1.0, 0.0)
    assert by_competency["testing"].closed is True  # reached the target
    assert (by_competency["coding"].gap_before, by_competency["coding"].gap_after) == (1.5, 0.5)
    assert by_competency["coding"].closed is False  # moved, but not there yet
    assert by_competency["design"].gap_before is None  # no target for it
    assert by_competency["design"].closed is None
    assert by_competency["ops"].closed is None  # no open gap before: nothing to close
    assert by_competency["x"].closed is None  # bob has no targets at all


# -- the acceptance scenario -------------------------------------------------------------------

PEOPLE = [f"emp-{i:02d}" for i in range(1, 9)]
COMPETENCIES = ("testing", "communication", "coding")
CATALOG = [course("crs-a", "testing"), course("crs-b", "communication"), course("crs-c", "coding")]
COMPLETED = [
    CourseCompleted(employee_id=person, course_id=course_id, completed_on=date(2025, 3, 1))
    for course_id, people in {
        "crs-a": ("emp-01", "emp-02", "emp-08"),  # emp-08 already met the testing target
        "crs-b": ("emp-03", "emp-04"),
        "crs-c": ("emp-05", "emp-06"),
    }.items()
    for person in people
]
MOVES = {"crs-a": 1.0, "crs-b": 0.0, "crs-c": 1.0}  # the scripted movement of each course


def cycle_scores() -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float | None]]]:
    """Everyone at 2.0 against target 4 on the three competencies, except emp-08 at 4.5 on
    testing and emp-07 not observed on testing in the second cycle. Completers move by their
    course's scripted movement on its competency; everything else stays put."""
    before = {p: dict.fromkeys(COMPETENCIES, 2.0) for p in PEOPLE}
    before["emp-08"]["testing"] = 4.5
    scripted: dict[tuple[str, str], float] = {}
    for event in COMPLETED:
        (built,) = next(c for c in CATALOG if c.course_id == event.course_id).builds
        scripted[(event.employee_id, built.competency)] = MOVES[event.course_id]
    after: dict[str, dict[str, float | None]] = {
        p: {c: score + scripted.get((p, c), 0.0) for c, score in scores.items()}
        for p, scores in before.items()
    }
    after["emp-07"]["testing"] = None
    return before, after


def test_course_effectiveness_flags_exactly_the_course_whose_completers_did_not_move() -> None:
    """Two cycles with scripted score changes: completers of A and C move +1, completers of B
    do not move, non-completers do not move: only B is flagged as not working."""
    before, after = cycle_scores()
    targets = {p: dict.fromkeys(COMPETENCIES, 4) for p in PEOPLE}
    open_before = {p: [gap(c, before[p][c]) for c in COMPETENCIES] for p in PEOPLE}
    effects = course_effectiveness(
        movements(before, after, targets),
        open_before,
        [(event.employee_id, event.course_id) for event in COMPLETED],
        CATALOG,
    )
    assert [(e.course_id, e.competency, e.working) for e in effects] == [
        ("crs-a", "testing", True),
        ("crs-b", "communication", False),
        ("crs-c", "coding", True),
    ]
    a = effect_of(effects, "crs-a", "testing")
    # emp-08 completed A without an open testing gap: neither completer nor comparison.
    # emp-07 had the gap but was not observed afterwards: counted, not measured.
    assert (a.completers, a.completers_measured, a.completer_mean) == (2, 2, 1.0)
    assert (a.comparison, a.comparison_measured, a.comparison_mean) == (5, 4, 0.0)
    assert a.effect == 1.0
    b = effect_of(effects, "crs-b", "communication")
    assert (b.completers, b.completer_mean, b.comparison, b.comparison_mean) == (2, 0.0, 6, 0.0)
    assert b.effect == 0.0


# -- the threshold, hand-computed ------------------------------------------------------------


def single_course(
    completer_moves: list[float | None],
    other_moves: list[float | None],
    min_movement: float = DEFAULT_MIN_MOVEMENT,
    before: float = 2.0,
) -> CourseEffect:
    """One course on testing; everyone has an open testing gap at `before`; a None move is a
    score not observed in the second cycle."""
    moves = {f"c{i}": m for i, m in enumerate(completer_moves)} | {
        f"o{i}": m for i, m in enumerate(other_moves)
    }
    before_scores = {p: {"testing": before} for p in moves}
    after_scores = {p: {"testing": None if m is None else before + m} for p, m in moves.items()}
    (effect,) = course_effectiveness(
        movements(before_scores, after_scores),
        {p: [gap("testing", before)] for p in moves},
        [(f"c{i}", "crs") for i in range(len(completer_moves))],
        [course("crs", "testing")],
        min_movement=min_movement,
    )
    return effect


@pytest.mark.parametrize(
    ("completer_moves", "expected"),
    [
        ([0.25], True),  # exactly the threshold
        ([0.5, 0.0], True),  # mean 0.25
        ([0.2], False),
        ([0.0, 0.0], False),
        ([-0.5, 1.0], True),  # the mean counts, not how many moved
        ([-0.25], False),
    ],
)
def test_without_a_comparison_group_completers_must_move_a_quarter_point(
    completer_moves: list[float | None], expected: bool
) -> None:
    effect = single_course(completer_moves, [])
    assert (effect.comparison, effect.comparison_mean) == (0, None)
    assert effect.working is expected


def test_completers_must_move_a_quarter_point_more_than_the_others_with_the_gap() -> None:
    """The others with the same gap move too (on-the-job actions, mentoring): a course is
    credited only with what its completers moved beyond them."""
    assert single_course([0.6], [0.5, 0.5]).working is False  # 0.1 above
    assert single_course([0.75], [0.25, 0.75]).working is True  # 0.25 above
    assert single_course([1.0], [1.0, 0.5, None]).working is True  # unmeasured left out
    worse = single_course([0.0], [0.5])
    assert (worse.working, worse.effect) == (False, -0.5)


def test_a_movement_at_the_threshold_is_not_lost_to_float_rounding() -> None:
    """1.8 -> 2.05 is a quarter point, though 2.05 - 1.8 falls just short of 0.25 in floats."""
    assert 2.05 - 1.8 < 0.25
    before = {"ann": {"testing": 1.8}, "bob": {"testing": 1.8}}
    after = {"ann": {"testing": 2.05}, "bob": {"testing": 1.8}}
    catalog = [course("crs", "testing")]
    moved = movements(before, after)
    against_bob = course_effectiveness(
        moved, {p: [gap("testing", 1.8)] for p in before}, [("ann", "crs")], catalog
    )
    alone = course_effectiveness(moved, {"ann": [gap("testing", 1.8)]}, [("ann", "crs")], catalog)
    assert [e.working for e in against_bob + alone] == [True, True]


def test_the_threshold_is_configurable() -> None:
    assert single_course([0.3], [0.0], min_movement=0.5).working is False
    assert single_course([0.3], [0.0], min_movement=0.1).working is True


def test_without_a_measured_completer_the_course_cannot_be_judged() -> None:
    nobody = single_course([], [0.0, 1.0])
    assert (nobody.completers, nobody.completer_mean, nobody.working) == (0, None, None)
    assert (nobody.comparison, nobody.comparison_mean) == (2, 0.5)
    unmeasured = single_course([None, None], [0.0])
    assert (unmeasured.completers, unmeasured.completers_measured) == (2, 0)
    assert (unmeasured.working, unmeasured.effect) == (None, None)


def test_each_competency_a_course_builds_is_judged_on_its_own() -> None:
    """A course building two competencies can work on one and not the other; gaps that were
    not open before (met targets, not observed) put nobody in the cohort; completions of
    courses missing from the catalog are skipped."""
    before = {"ann": {"testing": 2.0, "coding": 2.0}, "bob": {"testing": 2.0, "coding": 2.0}}
    after = {"ann": {"testing": 3.0, "coding": 2.0}, "bob": {"testing": 2.0, "coding": 2.0}}
    open_before = {
        "ann": [gap("testing", 2.0), gap("coding", 2.0)],
        "bob": [gap("testing", 2.0), gap("coding", 2.0, target=2), gap("design", None)],
    }
    effects = course_effectiveness(
        movements(before, after),
        open_before,
        [("ann", "crs-x"), ("ann", "crs-x"), ("bob", "crs-gone")],  # a repeat counts once
        [course("crs-x", "testing", "coding"), course("crs-design", "design")],
    )
    assert [(e.course_id, e.competency) for e in effects] == [
        ("crs-design", "design"),
        ("crs-x", "coding"),
        ("crs-x", "testing"),
    ]
    design = effect_of(effects, "crs-design", "design")
    assert (design.completers, design.comparison, design.working) == (0, 0, None)
    coding = effect_of(effects, "crs-x", "coding")
    assert (coding.completers, coding.comparison, coding.working) == (1, 0, False)
    testing = effect_of(effects, "crs-x", "testing")
    assert (testing.completers, testing.comparison, testing.effect, testing.working) == (
        1,
        1,
        1.0,
        True,
    )
