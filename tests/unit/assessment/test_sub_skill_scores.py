"""Scores at sub-skill granularity (docs/domain.md §4, Roll-up): calibrated per sub-skill,
each competency asked per sub-skill rolled up from them, after every adjustment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.events.registry import registry
from libs.events.schemas.assessment import CalibrationCompleted
from services.assessment.domain.aggregation import (
    aggregate,
    aggregate_sub_skills,
    rolled_up,
    subject_view,
)
from services.assessment.domain.anonymity import AnonymityPolicy
from services.assessment.domain.calibration import Adjustment, AdjustmentRefused, items, roll_up
from services.assessment.domain.calibration_sessions import CalibrationSession, ScoreAdjusted
from services.assessment.domain.campaigns import submission_ratings

NOW = datetime(2026, 4, 1, tzinfo=UTC)
POLICY = AnonymityPolicy(minimum_responses=3)
# ann's raters: coding asked per sub-skill (testing, review), design as one item.
ANSWERS = {
    ("mgr", "manager"): [("coding/testing", 5), ("coding/review", 1), ("design", 3)],
    ("p1", "peer"): [("coding/testing", 3), ("coding/review", 3), ("design", 2)],
    ("p2", "peer"): [("coding/testing", 2), ("coding/review", None)],
    ("p3", "peer"): [("coding/testing", 4), ("coding/review", 1)],
}
RATINGS = [
    rating
    for (rater, group), given in ANSWERS.items()
    for rating in submission_ratings(
        "ann", rater, group, [(item, value, None, False) for item, value in given]
    )
]
# By hand, weights manager 0.4 and peer 0.3, a peer group shown from 3 observed ratings:
# testing: peers (3 + 2 + 4) / 3 = 3 shown, manager 5: (0.4*5 + 0.3*3) / 0.7 = 29/7.
TESTING = 29 / 7
# review: two peers observed it (3 and 1), hidden; the manager's 1 alone.
REVIEW = 1.0
# design: one peer, hidden; the manager's 3.
DESIGN = 3.0


def scored() -> list:  # type: ignore[type-arg]
    return items(aggregate(RATINGS, policy=POLICY), aggregate_sub_skills(RATINGS, policy=POLICY))


def test_a_rater_keeps_their_value_per_sub_skill_beside_their_competency_mean() -> None:
    mgr = next(r for r in RATINGS if r.rater == "mgr" and r.competency == "coding")
    assert mgr.value == 3.0
    assert mgr.sub_skills == {"testing": 5, "review": 1}
    design = next(r for r in RATINGS if r.rater == "mgr" and r.competency == "design")
    assert design.sub_skills is None


def test_sub_skills_are_aggregated_on_their_own_with_anonymity_per_sub_skill() -> None:
    results = {r.item: r for r in aggregate_sub_skills(RATINGS, policy=POLICY)}
    assert sorted(results) == ["coding/review", "coding/testing"]
    assert results["coding/testing"].overall == pytest.approx(TESTING)
    assert results["coding/review"].overall == pytest.approx(REVIEW)
    assert results["coding/review"].group("peer").responses == 2  # type: ignore[union-attr]


def test_a_session_scores_sub_skills_where_asked_and_competencies_elsewhere() -> None:
    assert [(r.subject, r.item) for r in scored()] == [
        ("ann", "coding/review"),
        ("ann", "coding/testing"),
        ("ann", "design"),
    ]


def test_competency_granularity_scores_competencies_as_before() -> None:
    results = aggregate(RATINGS, policy=POLICY)
    assert items(results, []) == results
    assert aggregate_sub_skills([r for r in RATINGS if r.competency == "design"]) == []


def test_the_competency_is_the_mean_of_its_scored_sub_skills() -> None:
    rolled = roll_up(
        [
            ("ann", "coding/testing", 4.0),
            ("ann", "coding/review", 2.5),
            ("ann", "coding/pairing", None),  # not observed: left out, never a zero
            ("ann", "design", 3.0),
            ("ann", "ops/on-call", None),  # no sub-skill scored: unscored
            ("bob", "coding/testing", 1.0),
        ]
    )
    assert rolled["ann"] == (
        {"coding": 3.25, "design": 3.0, "ops": None},
        {"coding/testing": 4.0, "coding/review": 2.5, "coding/pairing": None, "ops/on-call": None},
    )
    assert rolled["bob"] == ({"coding": 1.0}, {"coding/testing": 1.0})


def opened() -> CalibrationSession:
    session = CalibrationSession("s1")
    for event in session.open("c1", True, "eng", 2, ["ann"], (0, 5)):
        session.apply(event, session.stream_version + 1)
    return session


def test_completion_publishes_sub_skill_scores_and_the_roll_up_after_adjustments() -> None:
    session = opened()
    results = scored()
    for event in session.adjust("ann", "coding/review", 3, "seen in the audit", "hr", results, NOW):
        session.apply(event, session.stream_version + 1)
    completed = session.complete(session.rolled_up(results), {"ann": ("eng", "ic", "L3")})[0]
    assert isinstance(completed, CalibrationCompleted)
    (ann,) = completed.scores
    assert ann.sub_skills == pytest.approx({"coding/review": 3.0, "coding/testing": TESTING})
    # (29/7 + 3) / 2 = 25/7: the adjusted sub-skill moves its competency.
    assert ann.scores == pytest.approx({"coding": 25 / 7, "design": DESIGN})
    assert [(a.competency, a.old_value, a.new_value) for a in completed.adjustments] == [
        ("coding/review", REVIEW, 3.0)
    ]


def test_a_competency_asked_per_sub_skill_is_adjusted_through_its_sub_skills() -> None:
    with pytest.raises(AdjustmentRefused, match=r"adjust one of \['coding/review', 'coding/te"):
        opened().adjust("ann", "coding", 3, "why", "hr", scored(), NOW)


def adjusted_before_sub_skills_were_scored() -> CalibrationSession:
    """A session whose stream holds an adjustment of coding on its own key, as sessions
    opened before sub-skills were scored made them (old value: the competency's aggregate
    then, each rater's mean of the sub-skills)."""
    session = opened()
    legacy = Adjustment(
        subject="ann",
        competency="coding",
        old_value=2.8,
        new_value=2,
        justification="j",
        actor="hr",
    )
    session.apply(
        ScoreAdjusted(session_id="s1", adjustment=legacy, adjusted_at=NOW),
        session.stream_version + 1,
    )
    return session


def test_a_stored_adjustment_of_the_competency_sets_its_rolled_up_score() -> None:
    session = adjusted_before_sub_skills_were_scored()
    results = scored()
    scores = session.scores(results)
    assert [item for _, item in scores] == ["coding", "coding/review", "coding/testing", "design"]
    coding = scores[("ann", "coding")]
    # Aggregated: the roll-up of its sub-skills, (29/7 + 1) / 2 = 18/7; calibrated: the 2 set.
    assert (coding.aggregated, coding.calibrated) == (pytest.approx(18 / 7), 2.0)
    assert [a.new_value for a in coding.adjustments] == [2.0]
    assert scores[("ann", "coding/review")].calibrated == REVIEW
    rolled = session.rolled_up(results)
    [completed] = session.complete(rolled, {"ann": ("eng", "ic", "L3")})
    assert isinstance(completed, CalibrationCompleted)
    (ann,) = completed.scores
    assert ann.scores == pytest.approx({"coding": 2.0, "design": DESIGN})
    assert ann.sub_skills == pytest.approx({"coding/review": REVIEW, "coding/testing": TESTING})
    assert [a.competency for a in completed.adjustments] == ["coding"]


def test_a_later_sub_skill_adjustment_rolls_the_competency_up_again() -> None:
    session = adjusted_before_sub_skills_were_scored()
    results = scored()
    for event in session.adjust("ann", "coding/review", 3, "seen in the audit", "hr", results, NOW):
        session.apply(event, session.stream_version + 1)
    # (29/7 + 3) / 2 = 25/7, as without the older adjustment.
    assert session.rolled_up(results)["ann"][0] == pytest.approx(
        {"coding": 25 / 7, "design": DESIGN}
    )
    assert session.scores(results)[("ann", "coding")].calibrated == pytest.approx(25 / 7)


def test_a_new_adjustment_of_the_competency_stays_refused_beside_a_stored_one() -> None:
    with pytest.raises(AdjustmentRefused, match=r"adjust one of \['coding/review', 'coding/te"):
        adjusted_before_sub_skills_were_scored().adjust(
            "ann", "coding", 3, "why", "hr", scored(), NOW
        )


def test_a_rating_shares_its_key_strings_with_every_other_rating() -> None:
    """Keys built at run time, as read from the database: equal keys are one string."""
    item = "/".join(["coding", "review"])
    first, second = (
        submission_ratings("ann", rater, "peer", [(item, 3, None, False)])[0]
        for rater in ("p1", "p2")
    )
    assert first.competency is second.competency
    [(one, _)] = (first.sub_skills or {}).items()
    [(other, _)] = (second.sub_skills or {}).items()
    assert one == "review"
    assert one is other


def test_a_v1_event_reads_as_scores_per_competency_without_sub_skills() -> None:
    event = registry.decode(
        "CalibrationCompleted",
        1,
        {
            "session_id": "s1",
            "campaign_id": "c1",
            "framework_id": "eng",
            "framework_version": 1,
            "scores": [{"subject": "ann", "scores": {"coding": 3.0}}],
            "adjustments": [],
        },
    )
    assert isinstance(event, CalibrationCompleted)
    assert event.scores[0].sub_skills == {}


def test_the_views_roll_a_competency_up_from_its_sub_skills_so_no_rater_can_be_solved_for() -> None:
    """A peer who rated one sub-skill only: were the peer group's competency mean taken over
    each rater's own average, it sat on a different set of raters than either sub-skill score
    the subject reads, and three published figures gave away that peer's rating."""
    answers = {
        ("mgr", "manager"): [("coding/a", 3), ("coding/b", None)],
        ("p1", "peer"): [("coding/a", 2), ("coding/b", 4)],
        ("p2", "peer"): [("coding/a", 3), ("coding/b", 5)],
        ("p3", "peer"): [("coding/a", 4), ("coding/b", 3)],
        ("p4", "peer"): [("coding/a", None), ("coding/b", 1)],
    }
    ratings = [
        rating
        for (rater, group), given in answers.items()
        for rating in submission_ratings(
            "ann", rater, group, [(item, value, None, False) for item, value in given]
        )
    ]
    per_sub_skill = aggregate_sub_skills(ratings, policy=POLICY)
    [view] = subject_view(
        rolled_up(aggregate(ratings, policy=POLICY), per_sub_skill, POLICY), POLICY
    )
    peer = next(g for g in view.groups if g.group == "peer")
    # By hand: peers on a (2 + 3 + 4) / 3 = 3 from 3 raters, on b (4 + 5 + 3 + 1) / 4 = 3.25
    # from 4; the group shows their mean, 3.125, and the fewer raters, 3. (Over each peer's
    # own average it was (3 + 4 + 3.5 + 1) / 4 = 2.875, from which p4's 1 followed.)
    assert (peer.suppressed, peer.mean, peer.responses) == (False, 3.125, 3)
    manager = next(g for g in view.groups if g.group == "manager")
    assert manager.mean == 3.0  # rated a only
    # A group visible on no sub-skill stays suppressed at the competency too.
    few = [r for r in ratings if r.rater not in {"p2", "p3"}]
    [hidden] = subject_view(
        rolled_up(aggregate(few, policy=POLICY), aggregate_sub_skills(few, policy=POLICY), POLICY),
        POLICY,
    )
    assert next(g for g in hidden.groups if g.group == "peer").suppressed
