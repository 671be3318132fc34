"""A session's inputs tallied one group of subjects at a time (domain.calibration_inputs;
docs/domain.md §4, Calibration at scale): by hand on a small population, and against the
whole-population functions on a generated one."""

from __future__ import annotations

from datetime import UTC, datetime
from random import Random

import pytest

from services.assessment.domain.aggregation import (
    DEFAULT_WEIGHTS,
    aggregate,
    aggregate_sub_skills,
)
from services.assessment.domain.anchor_findings import anchor_findings, not_relevant_marks
from services.assessment.domain.anonymity import AnonymityPolicy
from services.assessment.domain.calibration import (
    inconsistent_anchors,
    items,
    outliers,
    rater_offsets,
)
from services.assessment.domain.calibration_inputs import PopulationTally
from services.assessment.domain.calibration_sessions import CalibrationSession, ScoreAdjusted
from services.assessment.domain.campaigns import submission_ratings
from services.assessment.domain.ratings import Rating
from tests.support.calibration_population import answers, raters

POLICY = AnonymityPolicy(minimum_responses=3)
NOW = datetime(2026, 4, 1, tzinfo=UTC)
SCALE = (0, 5)


def rated(subject: str, rater: str, group: str, value: int | None) -> list[Rating]:
    return submission_ratings(subject, rater, group, [("c", value, None, False)])  # type: ignore[arg-type]


def test_two_groups_of_one_subject_by_hand() -> None:
    """s1: manager 4, peers 2 and 3, self 5; s2: manager 3, peer p1 3. Offsets, per item,
    value minus the others' mean (self left out): s1 m 4 - 5/2 = 1.5, p1 2 - 7/2 = -1.5,
    p2 3 - 3 = 0; s2 m 0, p1 0. So m 1.5 / 2, p1 -1.5 / 2, p2 0 / 1. s1's range is 2, at
    least 1.5: one of two items flagged. Two peers are too few to show: each overall is
    the manager's rating."""
    s1 = [
        *rated("s1", "m", "manager", 4),
        *rated("s1", "p1", "peer", 2),
        *rated("s1", "p2", "peer", 3),
        *rated("s1", "s1", "self", 5),
    ]
    s2 = [*rated("s2", "m", "manager", 3), *rated("s2", "p1", "peer", 3)]
    tally = PopulationTally(DEFAULT_WEIGHTS, POLICY, {}, SCALE)
    first, second = tally.add(s1), tally.add(s2)
    assert [(i.subject, i.item) for i in [*first, *second]] == [("s1", "c"), ("s2", "c")]
    assert [i.overall for i in [*first, *second]] == pytest.approx([4.0, 3.0])
    signals = tally.signals()
    assert [(o.rater, o.compared_items) for o in signals.rater_offsets] == [
        ("m", 2),
        ("p1", 2),
        ("p2", 1),
    ]
    assert [o.offset for o in signals.rater_offsets] == pytest.approx([0.75, -0.75, 0.0])
    [anchor] = signals.inconsistent_anchors
    assert (anchor.competency, anchor.flagged_items, anchor.compared_items, anchor.share) == (
        "c",
        1,
        2,
        0.5,
    )
    assert signals.outliers == []
    assert signals.anchor_findings == []


def test_outliers_at_sub_skill_granularity_name_the_sub_skill_one_adjusts() -> None:
    """Ten subjects, their manager alone rating coding per sub-skill: review 1 for nine and 5
    for s9, testing 3 for all. On review the mean is (9 x 1 + 5) / 10 = 1.4 and the standard
    deviation sqrt((9 x 1 + 25) / 10 - 1.4^2) = 1.2, so s9 sits (5 - 1.4) / 1.2 = 3 deviations
    off; testing has none. (On the manager's mean of the two, s9's 4 against the others' 2,
    the outlier would be coding, a score the session neither shows nor adjusts.)"""
    tally = PopulationTally(DEFAULT_WEIGHTS, POLICY, {}, SCALE)
    subjects = [f"s{n}" for n in range(10)]
    scored = []
    for subject in subjects:
        review = 5 if subject == "s9" else 1
        given = [("coding/review", review, None, False), ("coding/testing", 3, None, False)]
        scored += tally.add(submission_ratings(subject, "m", "manager", given))
    [outlier] = tally.signals().outliers
    assert (outlier.subject, outlier.competency, outlier.overall) == ("s9", "coding/review", 5)
    assert (outlier.population_mean, outlier.z_score) == (pytest.approx(1.4), pytest.approx(3.0))
    session = CalibrationSession("s")
    for event in session.open("c", True, "eng", 1, subjects, SCALE):
        session.apply(event, 1)
    [adjusted] = session.adjust(
        outlier.subject, outlier.competency, 3, "Seen in the audit", "hr", scored, NOW
    )
    assert isinstance(adjusted, ScoreAdjusted)
    assert (adjusted.adjustment.old_value, adjusted.adjustment.new_value) == (5.0, 3.0)


@pytest.mark.parametrize("group_size", [1, 7, 1000])
def test_groups_of_subjects_give_what_the_whole_population_gives(group_size: int) -> None:
    """A generated population of 120 (one competency asked per sub-skill), tallied in
    groups of subjects: the same items, signals and findings as every rating at once."""
    rng = Random(7)
    size = 120
    asked = ["build", "lead", "craft/testing", "craft/review"]
    ratings = [
        rating
        for subject, rater, group in raters(size)
        for rating in submission_ratings(subject, rater, group, answers(rng, asked))
    ]
    subjects = sorted({r.subject for r in ratings})
    positions = {s: ("eng", "ic", f"L{i % 2 + 2}") for i, s in enumerate(subjects)}
    results = aggregate(ratings, DEFAULT_WEIGHTS, POLICY)
    expected = items(results, aggregate_sub_skills(ratings, DEFAULT_WEIGHTS, POLICY))

    tally = PopulationTally(DEFAULT_WEIGHTS, POLICY, positions, SCALE)
    found = []
    for start in range(0, size, group_size):
        group = set(subjects[start : start + group_size])
        found += tally.add([r for r in ratings if r.subject in group])
    signals = tally.signals()

    assert found == expected
    assert any(i.sub_skill for i in found)
    offsets = rater_offsets(ratings)
    assert [o.model_dump(exclude={"offset"}) for o in signals.rater_offsets] == [
        o.model_dump(exclude={"offset"}) for o in offsets
    ]
    # Summed in another order, a float may differ in its last bits.
    assert [o.offset for o in signals.rater_offsets] == pytest.approx(
        [o.offset for o in offsets], rel=1e-12, abs=1e-12
    )
    assert signals.inconsistent_anchors == inconsistent_anchors(ratings)
    assert signals.outliers == outliers(expected)
    assert signals.anchor_findings == anchor_findings(ratings, results, positions, SCALE)
    assert signals.not_relevant == not_relevant_marks(ratings, positions)
    assert signals.inconsistent_anchors
    assert signals.anchor_findings
    assert signals.not_relevant
