"""`CalibrationCompleted` as the assessment service would publish it, for tests of the
services that consume it: everyone at eng IC L3 of the sample test framework."""

from __future__ import annotations

from libs.events.schemas.assessment import CalibrationCompleted, SubjectScores


def calibration(
    session: str, scores: dict[str, dict[str, float | None]], version: int = 1
) -> CalibrationCompleted:
    return CalibrationCompleted(
        session_id=session,
        campaign_id=f"campaign-{session}",
        framework_id="eng",
        framework_version=version,
        scores=[
            SubjectScores(subject=s, position=("eng", "ic", "L3"), scores=c)
            for s, c in scores.items()
        ],
        adjustments=[],
    )
