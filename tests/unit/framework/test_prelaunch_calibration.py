"""Calibration before launch, in the domain (docs/framework.md, Calibration before
launch): Krippendorff's ordinal alpha computed by hand, the spread where alpha has too little
to go on, the anchors flagged, and the exercise's rules for raters and ratings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from libs.events.schemas.framework import Framework, SubSkill
from services.framework.domain.prelaunch_calibration import (
    CANNOT_TELL,
    CalibrationError,
    Example,
    ExerciseClosed,
    ExerciseExists,
    ExerciseOpen,
    NotInvited,
    PrelaunchCalibration,
    Rating,
    UnknownExample,
    UnknownExercise,
    ordinal_alpha,
)
from tests.support.sample_frameworks import (
    anchors,
    assessed_per_sub_skill,
    valid_framework,
    with_data_family,
    with_family_anchor,
    with_sub_skill,
)

RATERS = ["r1", "r2", "r3"]
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def test_ordinal_alpha_of_a_small_case_computed_by_hand() -> None:
    # Three raters, three examples: [1, 1, 2], [2, 2, 2], [1, 3, 3]. Every example has m = 3
    # values, so each ordered pair of values from two raters adds 1/(m-1) = 1/2.
    #   [1, 1, 2]: (1,1) twice -> o11 = 1; (1,2) twice -> o12 = 1; (2,1) twice -> o21 = 1
    #   [2, 2, 2]: (2,2) six times -> o22 = 3
    #   [1, 3, 3]: (1,3) twice -> o13 = 1; (3,1) -> o31 = 1; (3,3) twice -> o33 = 1
    # Marginals: n1 = 1+1+1 = 3, n2 = 1+3 = 4, n3 = 1+1 = 2; n = 9 pairable values.
    # Ordinal distances, delta(c,k) = (n_c + ... + n_k - (n_c + n_k)/2)^2:
    #   delta(1,2) = (3+4 - 3.5)^2 = 12.25; delta(2,3) = (4+2 - 3)^2 = 9;
    #   delta(1,3) = (3+4+2 - 2.5)^2 = 42.25
    # Observed: sum o_ck delta = 2*(1 * 12.25) + 2*(1 * 42.25) = 109
    # Expected: sum n_c n_k delta = 2*(3*4*12.25 + 3*2*42.25 + 4*2*9) = 2*472.5 = 945
    # alpha = 1 - (n-1) * 109/945 = 1 - 872/945 = 73/945 = 0.0772...
    assert ordinal_alpha([[1, 1, 2], [2, 2, 2], [1, 3, 3]]) == pytest.approx(73 / 945)


def test_ordinal_alpha_of_the_standard_worked_example_with_gaps() -> None:
    """The method's standard worked example: 4 raters, 12 units, some values missing and
    two units with fewer than two values; its ordinal alpha is 0.815."""
    units = [
        [1, 1, 1],
        [2, 2, 3, 2],
        [3, 3, 3, 3],
        [3, 3, 3, 3],
        [2, 2, 2, 2],
        [1, 2, 3, 4],
        [4, 4, 4, 4],
        [1, 1, 2, 1],
        [2, 2, 2, 2],
        [5, 5, 5],
        [1, 1],
        [3],  # one value: pairs with nothing, left out
    ]
    assert ordinal_alpha(units) == pytest.approx(0.8154, abs=1e-4)


def test_ordinal_alpha_counts_positions_not_distances() -> None:
    """Ordinal: what separates two levels is how many values lie between them, so moving an
    unused level further away changes nothing (interval data would)."""
    near = ordinal_alpha([[1, 2], [2, 2], [1, 1]])
    far = ordinal_alpha([[1, 5], [5, 5], [1, 1]])
    assert near == far
    assert near is not None
    assert near < 1


def test_ordinal_alpha_is_undefined_without_variation_or_pairs() -> None:
    assert ordinal_alpha([[3, 3], [3, 3, 3]]) is None
    assert ordinal_alpha([[1], [4]]) is None


def example(key: str, competency: str = "collaboration", track: str | None = "ic") -> Example:
    return Example.model_validate(
        {
            "key": key,
            "competency": competency,
            "track": track,
            "text": f"what was done ({key}) in collaboration",
        }
    )


def opened(*examples: Example, raters: list[str] = RATERS) -> PrelaunchCalibration:
    exercise = PrelaunchCalibration("eng", "pre-1")
    for number, event in enumerate(exercise.open(valid_framework(), 4, list(examples), raters)):
        exercise.apply(event, number + 1)
    return exercise


def rated(exercise: PrelaunchCalibration, ratings: dict[str, list[Rating]]) -> None:
    for key, levels in ratings.items():
        for rater, level in zip(exercise.state.raters, levels, strict=False):
            (event,) = exercise.rate(rater, key, level)
            exercise.apply(event, exercise.stream_version + 1)


def test_competencies_with_few_examples_report_the_spread_and_others_alpha() -> None:
    raters = [f"r{i}" for i in range(1, 6)]
    exercise = opened(
        *(example(f"c{i}") for i in range(1, 4)),
        example("t1", "testing"),
        example("t2", "testing"),
        raters=raters,
    )
    rated(
        exercise,
        {
            "c1": [2, 2, 2, 2, 2],
            "c2": [3, 3, 3, 3, 4],
            "c3": [4, 4, 4, 4, 4],
            "t1": [1, 1, 1, 2, CANNOT_TELL],
            "t2": [5, 5, 5, 5, 5],
        },
    )
    collaboration, testing = exercise.report().competencies
    assert (collaboration.method, collaboration.pairable) == ("alpha", 15)
    assert collaboration.alpha == pytest.approx(269 / 297)  # see the service-level test
    # two examples: below MIN_EXAMPLES_FOR_ALPHA, so the widest range given (t1: 1 to 2)
    assert (testing.method, testing.alpha, testing.spread) == ("spread", None, 1)
    assert (testing.ratings, testing.cannot_tell) == (9, 1)


def test_an_anchor_is_flagged_for_far_apart_ratings_or_a_split_and_not_otherwise() -> None:
    raters = [f"r{i}" for i in range(1, 6)]
    exercise = opened(*(example(f"e{i}") for i in range(1, 5)), raters=raters)
    rated(
        exercise,
        {
            "e1": [2, 2, 2, 3, 3],  # lower median 2; 3 has 2 of 5 ratings: a split of 2 and 3
            "e2": [1, 3, 3, 3, 5],  # median 3; mean distance (2+0+0+0+2)/5 = 0.8 > 0.5
            "e3": [4, 4, 4, 4, 5],  # median 4; mean distance 0.2, 5 has 1 of 5: agreed
            "e4": [1, 1, CANNOT_TELL, CANNOT_TELL, CANNOT_TELL],  # two levels, agreed
        },
    )
    anchors = {a.level: a for a in exercise.report().anchors}
    assert sorted(anchors) == [1, 2, 3, 4]
    assert anchors[2].split_with == [3]
    assert anchors[3].split_with == [2]
    assert anchors[2].mean_deviation == pytest.approx(0.4)  # (0+0+0+1+1)/5: not too far
    assert anchors[3].examples == ["e2"]
    assert anchors[3].mean_deviation == pytest.approx(0.8)
    assert len(anchors[3].reasons) == 2  # far apart, and on the split from e1
    assert [a.level for a in exercise.report().flagged] == [2, 3]


def test_a_rating_must_be_a_level_the_anchor_scale_has() -> None:
    framework = valid_framework()
    collaboration = framework.competency("collaboration")
    assert collaboration is not None
    lean = collaboration.model_copy(
        update={"anchors": [a for a in collaboration.anchors if a.proficiency != 3]}
    )
    draft = framework.model_copy(update={"competencies": [lean, *framework.competencies[1:]]})
    exercise = PrelaunchCalibration("eng", "pre-1")
    exercise.apply(exercise.open(draft, 1, [example("e1")], RATERS)[0], 1)
    with pytest.raises(CalibrationError, match=r"level 3 has no anchor .* \[1, 2, 4, 5\]"):
        exercise.rate("r1", "e1", 3)
    with pytest.raises(CalibrationError, match="level 0 has no anchor"):
        exercise.rate("r1", "e1", 0)
    assert exercise.rate("r1", "e1", CANNOT_TELL)[0].rating == CANNOT_TELL


def test_only_invited_raters_rate_known_examples_until_the_exercise_closes() -> None:
    exercise = opened(example("e1"))
    with pytest.raises(NotInvited):
        exercise.rate("stranger", "e1", 2)
    with pytest.raises(NotInvited):
        exercise.invited("stranger")
    with pytest.raises(UnknownExample):
        exercise.rate("r1", "e9", 2)
    with pytest.raises(ExerciseOpen):
        exercise.found  # noqa: B018 -- the report is read only once closed
    for level in (2, 4):  # a revision replaces the rater's rating
        (event,) = exercise.rate("r1", "e1", level)
        exercise.apply(event, exercise.stream_version + 1)
    assert exercise.ratings_by("r1") == {"e1": 4}
    (closed,) = exercise.close(NOW)
    exercise.apply(closed, exercise.stream_version + 1)
    with pytest.raises(ExerciseClosed):
        exercise.rate("r1", "e1", 3)
    with pytest.raises(ExerciseClosed):
        exercise.close(NOW)
    assert exercise.found.competencies[0].method == "none"  # one rating pairs with nothing


def test_opening_checks_raters_examples_and_the_draft() -> None:
    draft = valid_framework()
    fresh = PrelaunchCalibration("eng", "pre-1")
    refusals: list[tuple[list[Example], list[str], str]] = [
        ([example("e1")], ["r1", "r2", "r2"], "at least 3 different raters"),
        ([example("e1"), example("e1")], RATERS, r"unique: \['e1'\]"),
        ([example("e1", "juggling")], RATERS, "no competency 'juggling'"),
        ([example("e1", track=None)], RATERS, "say which track"),
        (
            [example("e1").model_copy(update={"text": "what r2 did in the outage"})],
            RATERS,
            "names a person",
        ),
        (
            [example("e1").model_copy(update={"text": "ask ann@example.org"})],
            RATERS,
            "names a person",
        ),
        ([example("e1").model_copy(update={"level": "M9"})], RATERS, "has level 'M9'"),
    ]
    for examples, raters, message in refusals:
        with pytest.raises(CalibrationError, match=message):
            fresh.open(draft, 1, examples, raters)
    # A rater's id inside another word names no one.
    assert fresh.open(draft, 1, [example("e1")], ["al", "bo", "r3"])[0].raters[0] == "al"
    exercise = opened(example("e1"))
    with pytest.raises(ExerciseExists):
        exercise.open(draft, 1, [example("e1")], RATERS)
    with pytest.raises(UnknownExercise):
        fresh.rate("r1", "e1", 2)


def test_the_anchors_rated_against_are_the_drafts_when_the_exercise_opened() -> None:
    exercise = opened(example("e1"))
    (scale,) = exercise.state.scales
    collaboration = valid_framework().competency("collaboration")
    assert collaboration is not None
    assert scale.anchors == [a for a in collaboration.anchors if a.track == "ic"]
    one_track = Framework.model_validate(
        {
            **valid_framework().model_dump(),
            "competencies": [
                collaboration.model_copy(
                    update={"anchors": [a for a in collaboration.anchors if a.track == "manager"]}
                )
            ],
        }
    )
    placed = PrelaunchCalibration("eng", "pre-2").open(
        one_track, 1, [example("e1", track=None)], RATERS
    )
    assert placed[0].examples[0].track == "manager"  # the only anchored track, when unnamed


def test_an_example_of_a_family_is_rated_against_that_familys_wording() -> None:
    """Where a family words a competency its own way, its examples read the family's anchors
    (the common ones where it has none of its own), and each wording is a separate anchor
    in the report; the common wording never holds two anchors for one level."""
    draft = with_family_anchor(
        with_data_family(valid_framework()),
        "collaboration",
        "data",
        "ic",
        3,
        "Pairs with an analyst on a shared notebook.",
    )
    exercise = PrelaunchCalibration("eng", "pre-family")
    ours = example("e1").model_copy(update={"family": "data", "level": "D3"})
    common = example("e2")
    for event in exercise.open(draft, 1, [ours, common], RATERS):
        exercise.apply(event, exercise.stream_version + 1)
    family_scale = exercise.scale_of(exercise.example("e1"))
    common_scale = exercise.scale_of(exercise.example("e2"))
    assert (family_scale.family, common_scale.family) == ("data", None)
    assert [a.proficiency for a in common_scale.anchors] == [1, 2, 3, 4, 5]
    assert [a.family for a in common_scale.anchors] == [None] * 5
    assert [a.family for a in family_scale.anchors] == [None, None, "data", None, None]
    with pytest.raises(CalibrationError, match="no job family 'sales'"):
        PrelaunchCalibration("eng", "x").open(
            draft, 1, [example("e1").model_copy(update={"family": "sales"})], RATERS
        )
    with pytest.raises(CalibrationError, match="family 'data' has no level 'L3'"):
        PrelaunchCalibration("eng", "x").open(
            draft, 1, [example("e1").model_copy(update={"family": "data", "level": "L3"})], RATERS
        )
    rated(exercise, {"e1": [3, 3, 3], "e2": [3, 2, 3]})
    report = exercise.report()
    assert [(a.competency, a.family, a.level, a.examples) for a in report.anchors] == [
        ("collaboration", None, 3, ["e2"]),
        ("collaboration", "data", 3, ["e1"]),
    ]
    # At a level the family does not word, its example lands on the common sentence.
    rated(exercise, {"e1": [2, 2, 2]})
    landed = {(a.family, a.level): a.examples for a in exercise.report().anchors}
    assert landed == {(None, 2): ["e1"], (None, 3): ["e2"]}


def test_an_example_of_a_sub_skill_is_rated_against_its_own_anchors() -> None:
    """Where the draft assesses per sub-skill, an example may aim at a sub-skill: it is rated
    against the sub-skill's own anchors, and the report gives its agreement and anchors apart
    from its competency's."""
    credit = SubSkill(key="credit", name="Gives credit", anchors=anchors("Credit", ["ic"], [2, 3]))
    per_competency = with_sub_skill(valid_framework(), "collaboration", credit)
    draft = assessed_per_sub_skill(per_competency)
    aimed = example("s1").model_copy(update={"sub_skill": "credit"})
    exercise = PrelaunchCalibration("eng", "pre-sub-skill")
    for event in exercise.open(draft, 1, [aimed, example("e1")], RATERS):
        exercise.apply(event, exercise.stream_version + 1)
    scale = exercise.scale_of(exercise.example("s1"))
    assert (scale.sub_skill, scale.sub_skill_name) == ("credit", "Gives credit")
    assert scale.anchors == credit.anchors
    assert exercise.scale_of(exercise.example("e1")).sub_skill is None
    with pytest.raises(CalibrationError, match=r"level 4 has no anchor for collaboration/credit"):
        exercise.rate("r1", "s1", 4)
    rated(exercise, {"s1": [3, 2, CANNOT_TELL], "e1": [3, 3, 3]})
    report = exercise.report()
    assert [(c.competency, c.sub_skill, c.examples) for c in report.competencies] == [
        ("collaboration", "credit", 1),
        ("collaboration", None, 1),
    ]
    assert [(a.sub_skill, a.level, a.examples, a.split_with) for a in report.anchors] == [
        (None, 3, ["e1"], []),
        ("credit", 2, ["s1"], [3]),
        ("credit", 3, [], [2]),
    ]
    assert {(a.sub_skill, a.level) for a in report.flagged} == {("credit", 2), ("credit", 3)}
    # Per competency, no sub-skill is rated; one the draft lacks, or without two anchors of
    # its own on the track, has no scale to rate against.
    bare = assessed_per_sub_skill(valid_framework())
    for framework, aimed_at, message in (
        (per_competency, aimed, "the draft assesses per competency"),
        (draft, aimed.model_copy(update={"sub_skill": "praise"}), "has no sub-skill 'praise'"),
        (draft, aimed.model_copy(update={"track": "manager"}), "has 0 anchor\\(s\\) on the man"),
        (bare, aimed.model_copy(update={"sub_skill": "basics"}), "aim the example at the comp"),
    ):
        with pytest.raises(CalibrationError, match=message):
            PrelaunchCalibration("eng", "x").open(framework, 1, [aimed_at], RATERS)
