"""Gaps at sub-skill granularity (docs/domain.md §5, Gaps): one per sub-skill, against its
competency's target, planned per sub-skill, rolled up where a report is per competency."""

from __future__ import annotations

from libs.events.schemas.framework import Anchor, SubSkill
from services.development.domain.coverage import coverage
from services.development.domain.gaps import Gap, gaps, per_competency, target_anchors
from services.development.domain.plans import PlanPolicy, PlanSubject, generate_plans
from services.framework.domain.profiles import effective_profiles
from tests.support.sample_frameworks import valid_framework, with_sub_skill

PROFILE = effective_profiles(valid_framework())["eng-l3"]  # coding 3, testing 3, ...
# As CalibrationCompleted v2 carries them: coding rolled up from its scored sub-skills,
# (2.0 + 3.5) / 2 = 2.75, beside each sub-skill's own score.
SCORES = {
    "coding": 2.75,
    "testing": 1.0,
    "collaboration": 2.5,
    "coding/debugging": None,
    "coding/review": 2.0,
    "coding/style": 3.5,
}


def test_a_competency_scored_per_sub_skill_has_a_gap_per_sub_skill_at_its_target() -> None:
    found = gaps(PROFILE, SCORES)
    assert [(g.key, g.target, g.size) for g in found] == [
        ("coding/debugging", 3, None),  # not observed: no gap claimed
        ("coding/review", 3, 1.0),
        ("coding/style", 3, -0.5),  # a strength
        ("testing", 3, 2.0),
        ("collaboration", 2, -0.5),
        ("ownership", 2, None),
        ("communication", 2, None),
    ]
    assert all(g.competency == "coding" for g in found[:3])


def test_reports_per_competency_roll_sub_skill_gaps_up() -> None:
    rolled = per_competency(gaps(PROFILE, SCORES))
    # The mean of the scored sub-skills, as calibration rolls up the competency's score.
    assert [(g.key, g.current, g.size) for g in rolled[:2]] == [
        ("coding", 2.75, 0.25),
        ("testing", 1.0, 2.0),
    ]
    unscored = [Gap("coding", "technical", 3, None, "review")]
    assert per_competency(unscored) == [Gap("coding", "technical", 3, None)]
    report = coverage({"ann": [g for g in rolled if g.open]}, [])
    assert [(r.competency, r.people, r.total_gap) for r in report.rows] == [
        ("coding", 1, 0.25),
        ("testing", 1, 2.0),
    ]


def test_plan_actions_name_the_sub_skill_gap_they_close() -> None:
    plans = generate_plans(
        "s1",
        [PlanSubject("ann", None, gaps(PROFILE, SCORES))],
        {"ann": SCORES},
        [],
        PlanPolicy(actions_per_plan=10),
    )
    actions = plans["ann"].actions
    # Open gaps by size: testing (2.0), coding/review (1.0); on-the-job round-robin.
    assert [(a.kind, a.competency) for a in actions[:3]] == [
        ("on_the_job", "testing"),
        ("on_the_job", "coding"),
        ("on_the_job", "testing"),
    ]
    assert "coding/review at level 3 (calibrated now at 2.0)" in actions[1].description
    assert [a.description for a in actions if a.kind == "course"] == [
        "Training on testing from level 1 to 3: no course in the catalog matches; needs a "
        "new programme"
    ]


def test_a_sub_skill_gap_reads_its_own_target_anchor_else_its_competencys() -> None:
    own = Anchor(track="ic", proficiency=3, text="Reviews changes for intent, not only style.")
    framework = with_sub_skill(
        valid_framework(), "coding", SubSkill(key="review", name="Reviewing", anchors=[own])
    )
    coding = framework.competency("coding")
    assert coding is not None
    common = coding.anchor("ic", 3, "eng")
    assert common is not None
    review = Gap("coding", "technical", 3, 2.0, "review")
    pairing = Gap("coding", "technical", 3, 2.0, "pairing")  # no anchors of its own
    assert target_anchors(framework, "eng", "ic", [review, pairing]) == {
        "coding/review": own.text,
        "coding/pairing": common.text,
    }


def test_mentors_are_experts_on_the_competency_of_the_sub_skill_gap() -> None:
    """An expert by the competency's rolled-up score, not by a sub-skill's score alone."""
    scores = {
        "ann": SCORES,
        "exp": {"coding": 4.5, "coding/review": 5.0},
        "sub-only": {"coding": 3.0, "coding/review": 5.0, "testing": 3.0},
    }
    plans = generate_plans(
        "s1", [PlanSubject("ann", None, gaps(PROFILE, SCORES))], scores, [], PlanPolicy()
    )
    mentoring = [a for a in plans["ann"].actions if a.kind == "mentoring"]
    assert [(a.competency, a.mentor) for a in mentoring] == [("coding", "exp"), ("testing", None)]
    assert mentoring[0].description.startswith("Mentoring on coding/review by exp")
