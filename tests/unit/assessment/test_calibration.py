"""Calibration signals and adjustments (docs/domain.md §4): rater leniency/severity, inconsistent
anchors, outliers, and adjustments that always say who changed a score and why."""

from __future__ import annotations

import pytest

from services.assessment.domain.aggregation import CompetencyResult, aggregate
from services.assessment.domain.calibration import (
    Adjustment,
    AdjustmentRefused,
    calibrated_scores,
    inconsistent_anchors,
    outliers,
    rater_offsets,
)
from services.assessment.domain.ratings import RaterGroup, Rating

SUBJECTS = ("emp-a", "emp-b", "emp-c", "emp-d")
COMPETENCIES = ("coding", "collaboration")
CONSISTENT = ("peer-1", "peer-2", "peer-3")


def rating(
    subject: str, rater: str, competency: str, value: int | None, group: RaterGroup = "peer"
) -> Rating:
    return Rating(subject=subject, rater=rater, group=group, competency=competency, value=value)


def base(subject: str, competency: str) -> int:
    """What consistent raters give: varies by item so offsets are not a constant scale shift."""
    return 2 + (SUBJECTS.index(subject) + COMPETENCIES.index(competency)) % 2


def panel(*shifted: tuple[str, int]) -> list[Rating]:
    """Every subject x competency rated by the consistent raters, plus raters shifted from them."""
    raters = [(rater, 0) for rater in CONSISTENT] + list(shifted)
    return [
        rating(subject, rater, competency, base(subject, competency) + shift)
        for subject in SUBJECTS
        for competency in COMPETENCIES
        for rater, shift in raters
    ]


def result(subject: str, competency: str, overall: float | None) -> CompetencyResult:
    return CompetencyResult(subject=subject, competency=competency, groups=(), overall=overall)


# -- rater leniency and severity ---------------------------------------------------------------


def test_a_rater_one_point_above_the_others_is_lenient() -> None:
    """docs/domain.md §4: a rater whose mean deviates from peers rating the same subjects."""
    offsets = {offset.rater: offset for offset in rater_offsets(panel(("peer-kind", 1)))}
    kind = offsets["peer-kind"]
    assert kind.offset == pytest.approx(1.0)
    assert kind.compared_items == len(SUBJECTS) * len(COMPETENCIES)
    assert kind.tendency == "lenient"
    # The lenient rater pulls the others' comparison down by a third of a point: still neutral.
    assert {offsets[rater].tendency for rater in CONSISTENT} == {"neutral"}


def test_lenient_severe_and_consistent_raters_are_told_apart() -> None:
    """docs/domain.md §4: leniency and severity, with a consistent rater flagged as neither."""
    offsets = {
        offset.rater: offset
        for offset in rater_offsets(panel(("peer-kind", 1), ("peer-harsh", -1)))
    }
    assert offsets["peer-kind"].tendency == "lenient"
    assert offsets["peer-kind"].offset == pytest.approx(1.25)
    assert offsets["peer-harsh"].tendency == "severe"
    assert offsets["peer-harsh"].offset == pytest.approx(-1.25)
    for rater in CONSISTENT:
        assert offsets[rater].tendency == "neutral"
        assert offsets[rater].offset == pytest.approx(0)


def test_too_few_compared_items_leave_the_tendency_undetermined() -> None:
    """docs/domain.md §4: one or two shared items say too little about a rater."""
    ratings = [
        rating("emp-a", "peer-1", "coding", 2),
        rating("emp-a", "peer-2", "coding", 4),
        rating("emp-b", "peer-2", "coding", 4),
    ]
    offsets = {offset.rater: offset for offset in rater_offsets(ratings, min_shared=3)}
    assert offsets["peer-2"].compared_items == 1
    assert offsets["peer-2"].offset == 2
    assert offsets["peer-2"].tendency == "undetermined"
    assert rater_offsets(ratings, min_shared=1)[1].tendency == "lenient"


def test_self_ratings_and_not_observed_are_left_out_of_offsets() -> None:
    """docs/domain.md §4: raters are compared with the others rating the same subject; a subject
    rating themselves is not one of them, and "not observed" is no rating."""
    ratings = [
        *panel(),
        *(rating(subject, subject, "coding", 5, group="self") for subject in SUBJECTS),
        *(rating(subject, "peer-away", "coding", None) for subject in SUBJECTS),
    ]
    offsets = {offset.rater: offset for offset in rater_offsets(ratings)}
    assert set(offsets) == set(CONSISTENT)
    assert {offset.tendency for offset in offsets.values()} == {"neutral"}


# -- inconsistent anchors ----------------------------------------------------------------------


def test_only_high_spread_items_flag_their_competency() -> None:
    """docs/domain.md §4: high spread between raters for the same subject and competency means the
    anchor needs rewording in the next minor revision; a one-point spread does not."""
    ratings = [
        # coding: raters one point apart on every subject
        *(rating(subject, "peer-1", "coding", 3) for subject in SUBJECTS),
        *(rating(subject, "peer-2", "coding", 4) for subject in SUBJECTS),
        # collaboration: three points apart on two subjects of four
        *(rating(subject, "peer-1", "collaboration", 1) for subject in SUBJECTS),
        *(rating(subject, "peer-2", "collaboration", 4) for subject in SUBJECTS[:2]),
        *(rating(subject, "peer-2", "collaboration", 2) for subject in SUBJECTS[2:]),
        # a self-rating far from everyone is self-assessment, not anchor wording
        *(rating(subject, subject, "coding", 0, group="self") for subject in SUBJECTS),
    ]
    [anchor] = inconsistent_anchors(ratings, spread=1.5)
    assert anchor.competency == "collaboration"
    assert (anchor.flagged_items, anchor.compared_items) == (2, 4)
    assert anchor.share == 0.5


def test_a_single_rating_is_no_spread() -> None:
    """docs/domain.md §4: spread is between raters; one rater alone cannot disagree."""
    assert inconsistent_anchors([rating("emp-a", "peer-1", "coding", 0)]) == []


# -- outliers ----------------------------------------------------------------------------------


def test_a_subject_far_from_the_population_is_an_outlier() -> None:
    """docs/domain.md §4: calibration surfaces outliers."""
    results = [result(f"emp-{i}", "coding", 3.0) for i in range(9)]
    results.append(result("emp-star", "coding", 5.0))
    results.extend(result(f"emp-{i}", "testing", 2.0) for i in range(10))
    results.append(result("emp-unrated", "coding", None))

    [outlier] = outliers(results, z=2.0)
    assert (outlier.subject, outlier.competency, outlier.overall) == ("emp-star", "coding", 5.0)
    assert outlier.population_mean == pytest.approx(3.2)
    assert outlier.z_score == pytest.approx(3.0)
    assert outliers(results, z=3.5) == []


# -- adjustments and calibrated scores ---------------------------------------------------------


def adjustment(**changes: object) -> Adjustment:
    fields: dict[str, object] = {
        "subject": "emp-a",
        "competency": "coding",
        "old_value": 2.5,
        "new_value": 3.0,
        "justification": "Led the payments migration, which the raters did not see",
        "actor": "hr-hana",
    }
    return Adjustment.model_validate(fields | changes)


@pytest.mark.parametrize("justification", [None, "", "   \n"])
def test_an_adjustment_without_justification_is_refused(justification: str | None) -> None:
    """docs/domain.md §4: every adjustment records a mandatory justification."""
    with pytest.raises(AdjustmentRefused, match="justification is mandatory"):
        adjustment(justification=justification)


def test_an_adjustment_with_no_justification_field_is_refused() -> None:
    """docs/domain.md §4: leaving the justification out is no way around it."""
    with pytest.raises(AdjustmentRefused, match="justification is mandatory"):
        Adjustment(  # type: ignore[call-arg]
            subject="emp-a", competency="coding", old_value=2.5, new_value=3.0, actor="hr-hana"
        )


def test_an_adjustment_without_actor_is_refused() -> None:
    """docs/domain.md §4: every adjustment records who made it."""
    with pytest.raises(AdjustmentRefused, match="actor"):
        adjustment(actor=" ")


def test_an_adjustment_off_the_scale_is_refused() -> None:
    """docs/domain.md §2: thresholds and scores live on the framework's own scale (0..5 or 1..5)."""
    with pytest.raises(AdjustmentRefused, match=r"outside the scale 0\.\.5"):
        adjustment(new_value=5.5)
    with pytest.raises(AdjustmentRefused, match=r"outside the scale 1\.\.5"):
        adjustment(new_value=0, scale=(1, 5))
    assert adjustment(new_value=0).new_value == 0


def test_calibrated_scores_carry_the_latest_adjustment_and_who_made_it() -> None:
    """docs/domain.md §4: the calibrated score per subject and competency, with who, old and new
    value and why, as CalibrationCompleted will carry it."""
    results = aggregate(
        [
            rating("emp-a", "mgr-1", "coding", 2, group="manager"),
            rating("emp-a", "mgr-1", "testing", 4, group="manager"),
        ]
    )
    first = adjustment(old_value=2.0, new_value=3.0, actor="mgr-1")
    second = adjustment(
        old_value=3.0, new_value=2.5, actor="hr-hana", justification="Two sessions agreed on 2.5"
    )

    scores = calibrated_scores(results, [first, second])

    coding = scores[("emp-a", "coding")]
    assert coding.aggregated == pytest.approx(2)
    assert coding.calibrated == 2.5
    assert coding.adjustments == (first, second)
    assert [a.actor for a in coding.adjustments] == ["mgr-1", "hr-hana"]
    testing = scores[("emp-a", "testing")]
    assert testing.calibrated == testing.aggregated == pytest.approx(4)
    assert testing.adjustments == ()
    assert "Two sessions agreed on 2.5" in coding.model_dump_json()


def test_an_adjustment_of_an_unknown_item_is_refused() -> None:
    """docs/domain.md §4: an adjustment applies to an aggregated score; one without is not
    dropped."""
    with pytest.raises(AdjustmentRefused, match="'emp-z' on 'coding'"):
        calibrated_scores([result("emp-a", "coding", 3.0)], [adjustment(subject="emp-z")])
