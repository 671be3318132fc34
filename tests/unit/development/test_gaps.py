"""Gaps (docs/domain.md §5): target proficiency minus calibrated current proficiency, per
competency of the effective role profile, deployment rules included."""

from __future__ import annotations

from libs.events.schemas.assessment import CalibrationCompleted, SubjectScores
from services.development.domain.gaps import Gap, gaps, priority, strengths, target_anchors
from services.framework.domain.profiles import effective_profiles
from tests.support.sample_frameworks import valid_framework, without_anchors

PROFILES = effective_profiles(valid_framework())
COMPLETED = CalibrationCompleted(
    session_id="s1",
    campaign_id="c1",
    framework_id="eng",
    framework_version=1,
    scores=[
        SubjectScores(
            subject="emp-m",
            position=("eng", "manager", "M1"),
            scores={
                "design": 2.5,
                "collaboration": 2.0,
                "ownership": None,
                "communication": 1.0,
                "coaching": 1.5,
            },
        ),
        SubjectScores(
            subject="emp-i",
            position=("eng", "ic", "L3"),
            scores={"coding": 3.5, "testing": 1.0, "collaboration": 2.5},
        ),
    ],
    adjustments=[],
)


def by_competency(found: list[Gap]) -> dict[str, float | None]:
    return {gap.competency: gap.size for gap in found}


def test_gaps_from_a_calibration_match_hand_computed_values() -> None:
    """Manager M1: design 3 from the role, the three core competencies at 2 (core rule),
    coaching 3 (level rule for managers from grade 3)."""
    manager, ic = COMPLETED.scores
    assert by_competency(gaps(PROFILES["eng-m1"], manager.scores)) == {
        "design": 0.5,
        "collaboration": 0.0,
        "ownership": None,  # not observed: no gap claimed
        "communication": 1.0,
        "coaching": 1.5,  # added by a deployment rule
    }
    assert by_competency(gaps(PROFILES["eng-l3"], ic.scores)) == {
        "coding": -0.5,  # exceeds the target
        "testing": 2.0,
        "collaboration": -0.5,
        "ownership": None,  # not in the scores at all: not observed either
        "communication": None,
    }


def test_only_observed_shortfalls_are_open_and_the_largest_behavioural_come_first() -> None:
    manager = COMPLETED.scores[0]
    found = gaps(PROFILES["eng-m1"], manager.scores)
    ordered = [g.competency for g in sorted(found, key=priority) if g.open]
    assert ordered == ["coaching", "communication", "design"]
    tie = [
        Gap("design", "technical", 3, 2.0),
        Gap("ownership", "behavioural", 3, 2.0),
    ]
    assert [g.competency for g in sorted(tie, key=priority)] == ["ownership", "design"]


def test_strengths_and_the_target_anchor_of_each_gap() -> None:
    """A strength is a score above the target (meeting it is not one); a gap names the
    anchor of its target level, None where the framework words none."""
    framework = without_anchors(valid_framework(), "testing", "ic", [3])
    found = [
        Gap("coding", "technical", 3, 4.5),
        Gap("testing", "technical", 3, 1.0),
        Gap("collaboration", "behavioural", 2, 2.0),
        Gap("ownership", "behavioural", 2, None),
        Gap("communication", "behavioural", 2, 4.0),
    ]
    assert [(g.competency, g.size) for g in strengths(found)] == [
        ("communication", -2.0),
        ("coding", -1.5),
    ]
    assert target_anchors(framework, "eng", "ic", found) == {
        "coding": "Coding as an individual contributor shows it at step 3.",
        "testing": None,
        "collaboration": "Collaboration as an individual contributor shows it at step 2.",
        "ownership": "Ownership as an individual contributor shows it at step 2.",
        "communication": "Communication as an individual contributor shows it at step 2.",
    }
