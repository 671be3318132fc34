"""Individual development plans (docs/domain.md §5): generated from open gaps with the 70/20/10
mix; 70 on-the-job actions tied to the competency, 20 mentoring by an internal expert who
scores 4 or more on the same competency (calibrated), not the person's own manager, with a
cap on mentees per expert; 10 formal training from the L&D catalog, matched to the
competency and the level of the gap."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from libs.events.schemas.development import DevelopmentPlanGenerated, TargetPlanGenerated
from libs.events.schemas.framework import Nature
from libs.events.schemas.lms import Course, CourseCompetency
from services.development.domain.gaps import Gap, priority
from services.development.domain.plans import (
    DevelopmentPlan,
    DuplicateSubject,
    PlanPolicy,
    PlanSubject,
    aimed_at,
    generate_plans,
    matching_courses,
    owner_of_plan,
    split,
)

Scores = dict[str, dict[str, float | None]]


def gap(competency: str, target: int, current: float | None, nature: Nature = "technical") -> Gap:
    return Gap(competency=competency, nature=nature, target=target, current=current)


def course(
    course_id: str,
    *builds: tuple[str, int, int],
    hours: float = 10,
    retired: bool = False,
) -> Course:
    return Course(
        course_id=course_id,
        title=f"Course {course_id}",
        format="online",
        duration_hours=hours,
        builds=[CourseCompetency(competency=c, from_level=f, to_level=t) for c, f, t in builds],
        retired=retired,
    )


def subject(employee_id: str, *gaps_: Gap, manager: str | None = None) -> PlanSubject:
    return PlanSubject(employee_id=employee_id, manager_id=manager, gaps=list(gaps_))


def kinds(plan: DevelopmentPlan) -> Counter[str]:
    return Counter(a.kind for a in plan.actions)


def mentors(plans: dict[str, DevelopmentPlan]) -> dict[str, str | None]:
    """The mentor of each person's first mentoring action."""
    return {e: p.of_kind("mentoring")[0].mentor for e, p in plans.items()}


ONE_MENTORING = PlanPolicy(actions_per_plan=5)  # 3/1/1: one mentoring action per plan


# -- the 70/20/10 mix --------------------------------------------------------------------------


def test_ten_actions_split_seven_on_the_job_two_mentoring_one_course() -> None:
    """docs/domain.md §5: the 70/20/10 mix, exactly at the default plan size."""
    assert split(10) == {"on_the_job": 7, "mentoring": 2, "course": 1}
    assert split(20) == {"on_the_job": 14, "mentoring": 4, "course": 2}


@pytest.mark.parametrize("size", range(1, 101))
def test_other_plan_sizes_stay_within_one_action_of_70_20_10(size: int) -> None:
    """docs/domain.md §5: at sizes that do not divide by ten, each kind is rounded to within one
    action of its share, and the plan still has exactly the size asked for."""
    counts = split(size)
    assert sum(counts.values()) == size
    for kind, share in (("on_the_job", 0.7), ("mentoring", 0.2), ("course", 0.1)):
        assert abs(counts[kind] - size * share) < 1, (size, counts)


def test_short_plans_keep_every_kind_they_can() -> None:
    """At equal remainders the smaller share wins: five actions keep a course (3/1/1)."""
    assert split(5) == {"on_the_job": 3, "mentoring": 1, "course": 1}
    assert split(4) == {"on_the_job": 3, "mentoring": 1, "course": 0}
    assert split(1) == {"on_the_job": 1, "mentoring": 0, "course": 0}


def test_a_plan_of_ten_holds_the_mix_with_ids_in_order() -> None:
    """docs/domain.md §5: one plan, 70/20/10, ids a1..a10 (on-the-job, mentoring, course)."""
    plans = generate_plans(
        "s1",
        [subject("ann", gap("design", 4, 2.0), gap("testing", 3, 2.5), manager="mgr")],
        {"exp": {"design": 4.5, "testing": 4.0}},
        [course("c1", ("design", 2, 4))],
    )
    plan = plans["ann"]
    assert plan.plan_id == "s1:ann"
    assert (plan.employee_id, plan.session_id) == ("ann", "s1")
    assert [a.action_id for a in plan.actions] == [f"a{i}" for i in range(1, 11)]
    assert [a.kind for a in plan.actions] == ["on_the_job"] * 7 + ["mentoring"] * 2 + ["course"]
    assert kinds(plan) == {"on_the_job": 7, "mentoring": 2, "course": 1}
    event = plan.event()
    assert (event.plan_id, event.employee_id, event.session_id) == ("s1:ann", "ann", "s1")
    assert event.actions == list(plan.actions)


@pytest.mark.parametrize("size", [1, 3, 4, 5, 7, 13])
def test_plans_of_other_sizes_hold_the_rounded_mix(size: int) -> None:
    plans = generate_plans(
        "s1",
        [subject("ann", gap("design", 4, 2.0))],
        {},
        [],
        PlanPolicy(actions_per_plan=size),
    )
    assert kinds(plans["ann"]) == {k: n for k, n in split(size).items() if n}
    assert len(plans["ann"].actions) == size


# -- which gaps are planned, in which order ----------------------------------------------------


def test_on_the_job_actions_go_round_robin_over_open_gaps_in_priority_order() -> None:
    """Largest gap first, behavioural before technical at equal size (gaps.priority)."""
    gaps_ = [
        gap("testing", 3, 2.0),  # 1.0, technical
        gap("design", 5, 2.0),  # 3.0
        gap("collaboration", 3, 2.0, "behavioural"),  # 1.0, behavioural
    ]
    plan = generate_plans("s1", [subject("ann", *gaps_)], {}, [])["ann"]
    assert [a.competency for a in plan.of_kind("on_the_job")] == [
        "design",
        "collaboration",
        "testing",
        "design",
        "collaboration",
        "testing",
        "design",
    ]
    assert sorted(gaps_, key=priority)[0].competency == "design"
    # Repeats on one gap say something new each round.
    descriptions = [a.description for a in plan.of_kind("on_the_job") if a.competency == "design"]
    assert len(set(descriptions)) == 3
    assert all("design" in d and "level 5" in d for d in descriptions)


def test_not_observed_and_exceeded_competencies_are_never_planned() -> None:
    """docs/domain.md §5: the gap is the signal; nobody observed it (no gap claimed), met or
    exceeded targets need nothing. A person with no open gap gets no plan."""
    plans = generate_plans(
        "s1",
        [
            subject(
                "ann",
                gap("design", 4, 2.0),
                gap("ownership", 3, None),
                gap("coding", 3, 3.5),
                gap("testing", 3, 3.0),
            ),
            subject("bob", gap("ownership", 3, None), gap("coding", 3, 4.0)),
            subject("cat"),
        ],
        {"exp": {"design": 5.0, "ownership": 5.0, "coding": 5.0, "testing": 5.0}},
        [course("c1", ("ownership", 0, 5), ("coding", 0, 5), ("testing", 0, 5))],
    )
    assert list(plans) == ["ann"], "bob and cat have nothing open: no plan"
    assert {a.competency for a in plans["ann"].actions} == {"design"}


def test_duplicate_people_are_refused() -> None:
    with pytest.raises(DuplicateSubject, match="'ann'"):
        generate_plans("s1", [subject("ann"), subject("ann", gap("design", 4, 2.0))], {}, [])


def test_policy_is_validated() -> None:
    with pytest.raises(ValidationError):
        PlanPolicy(actions_per_plan=0)
    with pytest.raises(ValidationError):
        PlanPolicy(expert_score=6)


# -- mentors -----------------------------------------------------------------------------------


def test_the_mentor_is_an_internal_expert_never_the_person_or_their_manager() -> None:
    """docs/domain.md §5: an internal expert scores 4 or more, calibrated, on the same competency,
    and is not the person's own manager. Ann scores 4.5 herself (target 5) and her manager
    scores 5: neither mentors her; 3.9 is no expert; 4.0 is."""
    scores: Scores = {
        "ann": {"design": 4.5},
        "mgr": {"design": 5.0},
        "near": {"design": 3.9},
        "other": {"testing": 5.0},  # an expert, but on another competency
        "exp": {"design": 4.0},
    }
    plans = generate_plans(
        "s1", [subject("ann", gap("design", 5, 4.5), manager="mgr")], scores, [], ONE_MENTORING
    )
    (action,) = plans["ann"].of_kind("mentoring")
    assert (action.competency, action.mentor) == ("design", "exp")
    assert "exp" in action.description


def test_without_an_expert_the_mentoring_action_stays_and_says_one_is_needed() -> None:
    """The mix holds: the mentoring actions are there, with no mentor, saying what is missing."""
    scores: Scores = {"ann": {"design": 4.5}, "mgr": {"design": 5.0}, "near": {"design": 3.9}}
    plan = generate_plans("s1", [subject("ann", gap("design", 5, 4.5), manager="mgr")], scores, [])[
        "ann"
    ]
    actions = plan.of_kind("mentoring")
    assert len(actions) == 2
    assert all(a.mentor is None and a.competency == "design" for a in actions)
    assert all("expert is still needed" in a.description for a in actions)


def test_mentoring_goes_to_the_highest_priority_gaps_with_an_expert() -> None:
    """No expert on the largest gap: the two mentoring actions go to the next gaps that have
    one, in priority order."""
    plan = generate_plans(
        "s1",
        [subject("ann", gap("design", 5, 1.0), gap("testing", 4, 2.0), gap("coding", 3, 2.0))],
        {"x": {"testing": 4.0, "coding": 4.0}, "y": {"testing": 4.5, "coding": 4.5}},
        [],
    )["ann"]
    assert [(a.competency, a.mentor) for a in plan.of_kind("mentoring")] == [
        ("testing", "y"),  # fewest mentees (none), then the higher score
        ("coding", "x"),  # y has one now: x has fewer
    ]


def test_with_one_gap_a_second_mentor_is_a_different_expert() -> None:
    plan = generate_plans(
        "s1",
        [subject("ann", gap("design", 5, 2.0))],
        {"x": {"design": 4.0}, "y": {"design": 4.0}},
        [],
    )["ann"]
    assert [a.mentor for a in plan.of_kind("mentoring")] == ["x", "y"], "ties: by id"


def test_two_experts_four_mentees_each_expert_takes_two() -> None:
    """Fair spread: the expert with the fewest mentees so far is picked."""
    people = [subject(f"m{i}", gap("design", 4, 2.0)) for i in range(4)]
    scores: Scores = {"x": {"design": 5.0}, "y": {"design": 4.0}}
    plans = generate_plans("s1", people, scores, [], ONE_MENTORING)
    assert Counter(mentors(plans).values()) == {"x": 2, "y": 2}


def test_the_cap_holds_and_everyone_gets_a_first_mentor_before_anyone_a_second() -> None:
    """docs/domain.md §5: a cap on mentees per expert (3 by default). Four people want two
    mentors each; two experts take six: all four get one, two of them a second, and the
    last two mentoring actions stay open."""
    people = [subject(f"m{i}", gap("design", 4, 2.0)) for i in range(4)]
    scores: Scores = {"x": {"design": 5.0}, "y": {"design": 4.0}}
    plans = generate_plans("s1", people, scores, [])
    assigned = [a.mentor for p in plans.values() for a in p.of_kind("mentoring")]
    assert Counter(assigned) == {"x": 3, "y": 3, None: 2}
    assert all(p.of_kind("mentoring")[0].mentor is not None for p in plans.values())


def test_the_cap_counts_mentee_assignments_across_competencies() -> None:
    """One expert mentoring one person on two competencies takes two of their places."""
    scores: Scores = {"x": {"design": 5.0, "testing": 5.0}}
    people = [subject("ann", gap("design", 4, 2.0), gap("testing", 4, 2.5))]
    two = generate_plans("s1", people, scores, [], PlanPolicy(mentor_cap=2))["ann"]
    assert [(a.competency, a.mentor) for a in two.of_kind("mentoring")] == [
        ("design", "x"),
        ("testing", "x"),
    ]
    one = generate_plans("s1", people, scores, [], PlanPolicy(mentor_cap=1))["ann"]
    assert [(a.competency, a.mentor) for a in one.of_kind("mentoring")] == [
        ("design", "x"),
        ("testing", None),  # the open action goes to the gap still without a mentor
    ]


def test_mentees_experts_have_already_count_against_the_cap() -> None:
    """A plan made later for one person (aimed at a target position): x has 2 of 3 mentees
    from other plans and y 3, so the first mentoring action gets x, the second nobody."""
    scores: Scores = {"x": {"design": 4.0}, "y": {"design": 5.0}}
    people = [subject("ann", gap("design", 4, 2.0))]
    plan = generate_plans("s1", people, scores, [], mentor_loads={"x": 2, "y": 3})["ann"]
    assert [a.mentor for a in plan.of_kind("mentoring")] == ["x", None]
    free = generate_plans("s1", people, scores, [])["ann"]
    assert [a.mentor for a in free.of_kind("mentoring")] == ["y", "x"], "the higher score first"


def test_a_plan_aimed_at_a_target_position_has_its_own_id_and_event() -> None:
    people = [subject("emp-ann", gap("design", 4, 2.0))]
    plan = generate_plans("s1", people, {}, [])["emp-ann"]
    at = datetime(2026, 3, 2, 9, 30, 5, 123456, tzinfo=UTC)
    aimed = aimed_at(plan, "eng-m1", at)
    assert aimed.plan_id == "s1.eng-m1.20260302t093005123456:emp-ann"
    assert owner_of_plan(aimed.plan_id) == "emp-ann"
    assert aimed.actions == plan.actions
    event = aimed.event()
    assert isinstance(event, TargetPlanGenerated)
    assert (event.target_role, event.session_id) == ("eng-m1", "s1")
    assert isinstance(plan.event(), DevelopmentPlanGenerated), "a role's own plan, as before"


def test_the_greatest_need_gets_a_scarce_expert_first() -> None:
    """People are served largest top gap first; the id does not decide."""
    people = [subject("aaa", gap("design", 4, 3.0)), subject("zzz", gap("design", 4, 1.0))]
    plans = generate_plans("s1", people, {"x": {"design": 5.0}}, [], PlanPolicy(mentor_cap=1))
    assert mentors(plans) == {"aaa": None, "zzz": "x"}


def test_ties_in_need_are_not_decided_by_the_id() -> None:
    """Equal need: who goes first follows a per-session hash, so across sessions the lowest
    id does not always win."""
    people = [subject(f"m{i:02d}", gap("design", 4, 2.0)) for i in range(20)]
    winners = set()
    for session in range(10):
        plans = generate_plans(
            f"s{session}", people, {"x": {"design": 5.0}}, [], PlanPolicy(mentor_cap=1)
        )
        (winner,) = [e for e, m in mentors(plans).items() if m == "x"]
        winners.add(winner)
    assert len(winners) > 1


def test_plans_are_deterministic_whatever_the_input_order() -> None:
    rng = random.Random(3)
    people = [subject(f"m{i:02d}", gap("design", 4, rng.choice([1.0, 2.0]))) for i in range(30)]
    scores: Scores = {f"x{i}": {"design": 4.0 + i / 10} for i in range(5)}
    first = generate_plans("s1", people, scores, [])
    rng.shuffle(people)
    assert generate_plans("s1", people, scores, []) == first


# -- courses -----------------------------------------------------------------------------------


def test_course_matching_prefers_full_then_partial_then_shorter_then_id() -> None:
    """docs/domain.md §5: training matched to the competency and the level of the gap. From 2.4 to
    4: a full match starts at 2 or below and reaches 4; a partial one starts at 2 or below
    and ends above 2.4 short of 4; one starting above 2, ending at 2 or on another
    competency, or retired, does not match."""
    catalog = [
        course("partial", ("design", 2, 3), hours=1),
        course("full-long", ("design", 0, 5), hours=40),
        course("full-b", ("design", 2, 4), hours=8),
        course("full-a", ("testing", 0, 1), ("design", 1, 4), hours=8),
        course("too-high", ("design", 3, 5), hours=1),
        course("below", ("design", 1, 2), hours=1),
        course("other", ("testing", 0, 5), hours=1),
        course("retired", ("design", 0, 5), hours=1, retired=True),
    ]
    found = matching_courses(gap("design", 4, 2.4), catalog)
    assert [c.course_id for c in found] == ["full-a", "full-b", "full-long", "partial"]


def test_nothing_matches_a_gap_that_is_not_open() -> None:
    catalog = [course("c1", ("design", 0, 5))]
    assert matching_courses(gap("design", 4, None), catalog) == []
    assert matching_courses(gap("design", 4, 4.0), catalog) == []


def test_the_last_listing_of_a_course_counts() -> None:
    """The catalog arrives as upserts: a later `retired: true` withdraws the course."""
    catalog = [course("c1", ("design", 0, 5)), course("c1", ("design", 0, 5), retired=True)]
    assert matching_courses(gap("design", 4, 2.0), catalog) == []


def test_the_course_action_takes_the_best_match_for_the_highest_priority_gap_with_one() -> None:
    plan = generate_plans(
        "s1",
        [subject("ann", gap("design", 5, 1.0), gap("testing", 4, 2.0), gap("coding", 3, 2.0))],
        {},
        [
            course("t-partial", ("testing", 2, 3), hours=1),
            course("t-full", ("testing", 1, 4), hours=20),
            course("c-full", ("coding", 2, 3), hours=1),
            course("d-retired", ("design", 0, 5), retired=True),
        ],
    )["ann"]
    (action,) = plan.of_kind("course")
    assert (action.competency, action.course_id) == ("testing", "t-full")


def test_without_a_matching_course_the_action_says_a_new_programme_is_needed() -> None:
    plan = generate_plans(
        "s1",
        [subject("ann", gap("design", 5, 1.0))],
        {},
        [course("too-high", ("design", 3, 5)), course("old", ("design", 0, 5), retired=True)],
    )["ann"]
    (action,) = plan.of_kind("course")
    assert (action.competency, action.course_id) == ("design", None)
    assert "needs a new programme" in action.description


def test_several_course_actions_cover_gaps_before_repeating_and_never_repeat_a_course() -> None:
    policy = PlanPolicy(actions_per_plan=30)  # 21/6/3
    catalog = [
        course("d1", ("design", 0, 5), hours=1),
        course("d2", ("design", 0, 5), hours=2),
        course("t1", ("testing", 0, 5), hours=1),
    ]
    plan = generate_plans(
        "s1", [subject("ann", gap("design", 5, 1.0), gap("testing", 4, 2.0))], {}, catalog, policy
    )["ann"]
    assert [(a.competency, a.course_id) for a in plan.of_kind("course")] == [
        ("design", "d1"),
        ("testing", "t1"),
        ("design", "d2"),
    ]


# -- a generated population --------------------------------------------------------------------

COMPETENCIES = [f"comp-{i}" for i in range(10)]
UNCOVERED = {"comp-8", "comp-9"}  # no course builds these


def population(
    size: int, courses: int, seed: int
) -> tuple[list[PlanSubject], Scores, list[Course], dict[str, str | None]]:
    """A seeded org: a tree of managers (up to 8 reports each), scores 0..5 on ten
    competencies (some not observed), targets 2..5 on all ten (every 25th person: a role
    with only the two competencies the catalog leaves uncovered), some courses retired."""
    rng = random.Random(seed)
    ids = [f"emp-{i:05d}" for i in range(size)]
    managers: dict[str, str | None] = {
        e: (ids[(i - 1) // 8] if i else None) for i, e in enumerate(ids)
    }
    scores: Scores = {
        e: {c: None if rng.random() < 0.05 else round(rng.uniform(0, 5), 1) for c in COMPETENCIES}
        for e in ids
    }
    subjects = [
        PlanSubject(
            employee_id=e,
            manager_id=managers[e],
            gaps=[
                gap(c, rng.randint(2, 5), scores[e][c], "behavioural" if k < 4 else "technical")
                for k, c in enumerate(COMPETENCIES)
                if i % 25 or c in UNCOVERED
            ],
        )
        for i, e in enumerate(ids)
    ]
    covered = [c for c in COMPETENCIES if c not in UNCOVERED]
    catalog = []
    for i in range(courses):
        builds = []
        for c in rng.sample(covered, rng.choice([1, 1, 2])):
            start = rng.randint(0, 4)
            builds.append((c, start, rng.randint(start + 1, 5)))
        catalog.append(
            course(f"course-{i:04d}", *builds, hours=rng.randint(1, 40), retired=rng.random() < 0.1)
        )
    return subjects, scores, catalog, managers


def test_a_thousand_people_get_plans_that_keep_every_rule() -> None:
    """docs/domain.md §5 on a generated population: every mentor scores 4 or more on the
    competency and is neither the mentee nor their manager, no expert exceeds the cap,
    every course builds the competency at the gap's level and is still offered, and every
    plan keeps 70/20/10 within one action."""
    subjects, scores, catalog, managers = population(1_000, 200, seed=7)
    policy = PlanPolicy()
    plans = generate_plans("s1", subjects, scores, catalog, policy)
    by_id = {c.course_id: c for c in catalog}
    open_gaps = {s.employee_id: {g.competency: g for g in s.gaps if g.open} for s in subjects}
    assert set(plans) == {e for e, g in open_gaps.items() if g}

    load: Counter[str] = Counter()
    for employee_id, plan in plans.items():
        assert plan.plan_id == f"s1:{employee_id}"
        assert len(plan.actions) == policy.actions_per_plan
        for kind, share in (("on_the_job", 0.7), ("mentoring", 0.2), ("course", 0.1)):
            assert abs(len(plan.of_kind(kind)) - policy.actions_per_plan * share) < 1
        for action in plan.actions:
            assert action.competency in open_gaps[employee_id], "only open gaps are planned"
            if action.mentor is not None:
                assert action.kind == "mentoring"
                assert (scores[action.mentor][action.competency] or 0) >= 4
                assert action.mentor not in (employee_id, managers[employee_id])
                load[action.mentor] += 1
            if action.course_id is not None:
                assert action.kind == "course"
                found = by_id[action.course_id]
                assert not found.retired
                this_gap = open_gaps[employee_id][action.competency]
                assert any(
                    b.competency == action.competency
                    and b.from_level <= (this_gap.current or 0) < b.to_level
                    for b in found.builds
                )
        mentoring = plan.of_kind("mentoring")
        assert len({(a.competency, a.mentor) for a in mentoring if a.mentor}) == len(
            [a for a in mentoring if a.mentor]
        ), "never the same mentor twice on one competency"
    assert load, "experts were found"
    assert max(load.values()) <= policy.mentor_cap

    course_actions = [a for p in plans.values() for a in p.of_kind("course")]
    assert any(a.course_id is not None for a in course_actions)
    for employee_id, plan in plans.items():
        # One course action per plan: the best match of the highest-priority gap with one.
        ranked = sorted(open_gaps[employee_id].values(), key=priority)
        best = next((m[0].course_id for g in ranked if (m := matching_courses(g, catalog))), None)
        assert plan.of_kind("course")[0].course_id == best
    unmatched = {e for e, p in plans.items() if p.of_kind("course")[0].course_id is None}
    assert unmatched, "the people in roles the catalog does not cover need a new programme"
    for employee_id in unmatched:
        (action,) = plans[employee_id].of_kind("course")
        assert "needs a new programme" in action.description
        assert all(not matching_courses(g, catalog) for g in open_gaps[employee_id].values())


def test_ten_thousand_people_ten_competencies_two_thousand_courses_all_get_plans() -> None:
    """At scale (how fast: `./tl bench --only development`)."""
    subjects, scores, catalog, _ = population(10_000, 2_000, seed=11)
    plans = generate_plans("s1", subjects, scores, catalog)
    assert len(plans) > 9_000
