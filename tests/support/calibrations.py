"""`CalibrationCompleted` as the assessment service would publish it, for tests of the
services that consume it: everyone at eng IC L3 of the sample test framework."""

from __future__ import annotations

from libs.events.schemas.assessment import CalibrationCompleted, SubjectScores


def calibration(
    session: str,
    scores: dict[str, dict[str, float | None]],
    version: int = 1,
    levels: dict[str, str] | None = None,
) -> CalibrationCompleted:
    """`scores` by subject, each calibrated at eng IC L3 unless `levels` names another."""
    return CalibrationCompleted(
        session_id=session,
        campaign_id=f"campaign-{session}",
        framework_id="eng",
        framework_version=version,
        scores=[
            SubjectScores(subject=s, position=("eng", "ic", (levels or {}).get(s, "L3")), scores=c)
            for s, c in scores.items()
        ],
        adjustments=[],
    )


ANN, BEN, CAT, EXPERT = "emp-ann", "emp-ben", "emp-cat", "emp-expert"

# A first cycle's scores at L3, whose targets are coding 3, testing 3 (role) and
# collaboration, ownership, communication 2 (core): Ann, Ben and Cat have open gaps (Ann's
# ownership was not observed), the expert has none and can mentor.
FIRST: dict[str, dict[str, float | None]] = {
    ANN: {"coding": 3, "testing": 1, "collaboration": 2, "ownership": None, "communication": 1},
    BEN: {"coding": 3, "testing": 1, "collaboration": 2, "ownership": 2, "communication": 1},
    CAT: {"coding": 2, "testing": 1, "collaboration": 2, "ownership": 2, "communication": 1},
    EXPERT: {"coding": 4, "testing": 4.5, "collaboration": 4, "ownership": 3, "communication": 4},
}
